"""Deployments: what ``qdistill serve`` registers and serves (schedules come from params.yaml)."""

from __future__ import annotations

import asyncio
import signal
from typing import Any

from prefect.runner import Runner
from rich.console import Console

from qkernel.config import Params

from flows.kd import ablation, kd_pipeline

KD_DEPLOYMENT = "kd-default"
ABLATION_DEPLOYMENT = "nightly-ablation"


def build_deployments(p: Params, overrides: list[str] | None = None) -> list[Any]:
    """The KD pipeline on demand, and the ablation sweep on the cron of ``ablation.schedule``."""
    params = {"overrides": list(overrides or [])}
    return [
        kd_pipeline.to_deployment(name=KD_DEPLOYMENT, parameters=params, tags=["qdistill", "kd"],
                                  description="Knowledge distillation with the project's params.yaml"),
        ablation.to_deployment(name=ABLATION_DEPLOYMENT, cron=p.ablation.schedule, parameters=params,
                               tags=["qdistill", "ablation"],
                               description="The KD paper's ablation sweep, on a schedule"),
    ]


class _Runner(Runner):
    """Prefect's runner, leaving SIGTERM to the command's handler (:func:`flows.server.stop_on_signals`).

    Prefect's own handler calls the asynchronous ``stop()`` without awaiting it and exits 0; the
    command's unwinds the runner as Ctrl-C does (it pauses the schedules it served) and bounds
    how long that takes.
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._command_sigterm = signal.getsignal(signal.SIGTERM)

    def handle_sigterm(self, *args: Any, **kwargs: Any) -> None:
        """Hand SIGTERM to the handler that was in place when the runner was made."""
        if callable(self._command_sigterm):
            self._command_sigterm(*args)
        else:
            super().handle_sigterm(*args, **kwargs)


def serve(p: Params, overrides: list[str] | None = None) -> None:
    """Register the deployments with the Prefect API and run them as they are scheduled (blocks)."""
    runner = _Runner()
    deployments = build_deployments(p, overrides)
    for deployment in deployments:
        runner.add_deployment(deployment)
    names = ", ".join(f"{d.flow_name}/{d.name}" for d in deployments)
    Console().print(f"serving {names} (run one with `prefect deployment run NAME`; Ctrl-C stops)", highlight=False)
    asyncio.run(runner.start())
