"""`qdistill serve` against a real `prefect server start`: the deployments it registers, the Prefect
CLI's list commands on them (the 422 pin set), and a clean stop on SIGTERM even when the server has
gone; `kill -9` of `qdistill run` takes its temporary server with it."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

BIN = Path(sys.executable).parent
LISTED_FLOW = "from prefect import flow; flow(name='listed-by-the-prefect-cli')(lambda: 1)()"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _until(condition, timeout: float, what: str):
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.5)
    raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")


@pytest.fixture(scope="module")
def prefect_cli_server(tmp_path_factory) -> Iterator[dict[str, str]]:
    """`prefect server start` in its own process group; yields the environment that points at it."""
    import httpx

    home = tmp_path_factory.mktemp("prefect-home")
    port = _free_port()
    url = f"http://127.0.0.1:{port}/api"
    env = {**os.environ, "PREFECT_HOME": str(home), "PREFECT_API_URL": url, "COLUMNS": "200",
           "PREFECT_SERVER_ANALYTICS_ENABLED": "false", "PREFECT_UI_ENABLED": "false"}
    log = open(home / "server.log", "w")
    server = subprocess.Popen([str(BIN / "prefect"), "server", "start", "--host", "127.0.0.1", "--port", str(port)],
                              env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)

    def healthy() -> bool:
        try:
            return httpx.get(f"{url}/health", timeout=2).status_code == 200
        except httpx.TransportError:
            return False

    try:
        _until(lambda: healthy() or server.poll() is not None, 180, "prefect server start")
        assert server.poll() is None, (home / "server.log").read_text()
        yield {**env, "_SERVER_PID": str(server.pid)}
    finally:
        with contextlib.suppress(ProcessLookupError):  # the test may have killed it already
            os.killpg(server.pid, signal.SIGKILL)
        server.wait()
        log.close()


async def _deployment(name: str):
    from prefect.client.orchestration import get_client

    async with get_client() as client:
        try:
            return await client.read_deployment_by_name(name)
        except Exception:  # not registered yet
            return None


def _prefect(env: dict[str, str], *args: str) -> str:
    done = subprocess.run([str(BIN / "prefect"), *args], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, f"prefect {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}"
    assert "Unprocessable" not in done.stdout + done.stderr
    return done.stdout


def test_serve_registers_deployments_the_prefect_cli_lists_and_stops_when_the_server_is_gone(
        prefect_cli_server, tmp_path: Path) -> None:
    from prefect.settings import PREFECT_API_URL, temporary_settings

    env = prefect_cli_server
    log = open(tmp_path / "serve.log", "w")
    proc = subprocess.Popen([str(BIN / "qdistill"), "serve", "-S", "ablation.schedule=15 3 * * *"], env=env,
                            cwd=tmp_path, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        with temporary_settings(updates={PREFECT_API_URL: env["PREFECT_API_URL"]}):
            deployment = _until(lambda: proc.poll() is None and asyncio.run(_deployment("ablation/nightly-ablation"))
                                or proc.poll() is not None, 180, "the nightly-ablation deployment")
            assert proc.poll() is None, (tmp_path / "serve.log").read_text()
            assert [s.schedule.cron for s in deployment.schedules] == ["15 3 * * *"]
            assert asyncio.run(_deployment("kd-pipeline/kd-default")) is not None
        # One finished flow run for `prefect flow-run ls` to list (in a process of its own: this one's
        # event worker must not be left holding events for a server the test kills below).
        subprocess.run([sys.executable, "-c", LISTED_FLOW], env=env, check=True, capture_output=True, timeout=120)

        # The Prefect CLI's list commands (HTTP 422 under fastapi >= 0.151) list what serve made.
        deployments = _prefect(env, "deployment", "ls")
        assert "nightly-ablation" in deployments and "kd-default" in deployments
        assert "listed-by-the-prefect-cli" in _prefect(env, "flow-run", "ls")
        _prefect(env, "flow", "ls")
        _prefect(env, "work-pool", "ls")
        assert proc.poll() is None, "serve must keep running to execute scheduled runs"

        # The server goes away; SIGTERM still stops serve promptly, with 128 + SIGTERM, leaving nothing.
        children = psutil.Process(proc.pid).children(recursive=True)
        os.killpg(int(env["_SERVER_PID"]), signal.SIGKILL)
        time.sleep(1)
        started = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=60)
        assert code == 128 + signal.SIGTERM, (tmp_path / "serve.log").read_text()
        assert time.monotonic() - started < 20
        assert not [c for c in children if c.is_running() and c.status() != psutil.STATUS_ZOMBIE]
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        log.close()


def test_kill_9_of_run_takes_its_temporary_server_with_it(tmp_path: Path) -> None:
    """No PREFECT_API_URL: `qdistill run` starts its own server; SIGKILL of the command ends it too."""
    env = {k: v for k, v in os.environ.items() if k != "PREFECT_API_URL"}
    env.update(PREFECT_HOME=str(tmp_path / "home"), PREFECT_SERVER_ANALYTICS_ENABLED="false")
    proc = subprocess.Popen([str(BIN / "qdistill"), "run", "--skip-dd", "-S", f"runs_dir={tmp_path / 'runs'}",
                             "-S", "data.per_class=20", "-S", "student.n_qubits=4", "-S", "teacher.model=lenet5"],
                            env=env, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        def server() -> list[psutil.Process]:
            return [c for c in psutil.Process(proc.pid).children(recursive=True) if "uvicorn" in " ".join(c.cmdline())]

        servers = _until(lambda: proc.poll() is None and server(), 180, "the temporary Prefect server")
        proc.kill()  # kill -9 of the command alone, as a user would
        proc.wait()
        gone, alive = psutil.wait_procs(servers, timeout=15)
        assert not alive, f"left behind: {[p.pid for p in alive]}"
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
