"""Deployments: what ``qdistill serve`` registers and serves (schedules come from params.yaml)."""

from __future__ import annotations

from typing import Any

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


def serve(p: Params, overrides: list[str] | None = None) -> None:
    """Register the deployments with the Prefect API and run them as they are scheduled (blocks)."""
    from prefect import serve as prefect_serve

    prefect_serve(*build_deployments(p, overrides), print_starting_message=True)
