"""`qdistill serve` registers scheduled deployments with a real local Prefect server."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path


async def _deployment(name: str):
    from prefect.client.orchestration import get_client

    async with get_client() as client:
        try:
            return await client.read_deployment_by_name(name)
        except Exception:  # not registered yet
            return None


def test_serve_registers_the_nightly_ablation(prefect_server, tmp_path: Path) -> None:
    from prefect.settings import PREFECT_API_URL

    env = {**os.environ, "PREFECT_API_URL": PREFECT_API_URL.value()}
    cli = Path(sys.executable).parent / "qdistill"
    log = open(tmp_path / "serve.log", "w")
    proc = subprocess.Popen([str(cli), "serve", "-S", "ablation.schedule=15 3 * * *"], env=env, cwd=tmp_path,
                            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline, deployment = time.time() + 180, None
        while deployment is None and time.time() < deadline and proc.poll() is None:
            time.sleep(1)
            deployment = asyncio.run(_deployment("ablation/nightly-ablation"))
        assert deployment is not None, (tmp_path / "serve.log").read_text()
        crons = [s.schedule.cron for s in deployment.schedules]
        assert crons == ["15 3 * * *"]
        assert asyncio.run(_deployment("kd-pipeline/kd-default")) is not None
        assert proc.poll() is None, "serve must keep running to execute scheduled runs"
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)
        log.close()
