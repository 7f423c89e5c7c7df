"""The dd_pipeline flow on a real Prefect server: outputs, artifacts, cost table, caching."""

from __future__ import annotations

import asyncio
import json
from datetime import datetime
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import TINY_DD
from tests.flows.test_kd_flow import _filter, artifact_types, task_states

TINY = ["data.per_class=20", "data.test_per_class=10", *TINY_DD]


def test_dd_pipeline_writes_distilled_sets_report_and_artifacts_then_hits_cache(tiny_flows) -> None:
    from flows.dd import dd_pipeline

    overrides = tiny_flows.overrides
    state, result = tiny_flows.dd_state, tiny_flows.dd
    run = Path(result["run_dir"])
    metrics = json.loads((run / "metrics.json").read_text())
    by_label = {m["label"]: m for m in metrics["models"]}
    assert set(by_label) == {"lenet", "qlenet"}
    for m in by_label.values():
        assert len(m["distilled"]["values"]) == 2 and len(m["random_real"]["values"]) == 2
        assert len(m["full"]["values"]) == 1 and set(m["sets"]) == {m["label"]}
        assert all(0.0 <= v <= 1.0 for v in m["distilled"]["values"])
        assert len(m["known_init"]["values"]) == 1  # fixed-init mode also scores the init distilled for
        assert m["method"] == "performance-matching" and m["init"] == "fixed"
    assert by_label["lenet"]["quantum_cost"] is None
    cost = by_label["qlenet"]["quantum_cost"]
    assert cost["distilled"]["simulation_executions"] == 60  # 2 per class x 10 classes x 3 protocol epochs
    assert cost["full"]["simulation_executions"] == 180  # 180 training images x 1 epoch
    from qkernel.config import load_params

    lr = load_params(None, overrides).dd.eval.learning_rate
    assert by_label["qlenet"]["protocol"].startswith(f"SGD lr {lr:g} (x0.1 at half)")
    assert len(np.load(result["distilled"]["qlenet"])["learning_rates"]) == 2  # 2 steps x 1 epoch
    with_distilled = np.load(result["distilled"]["qlenet"])
    assert with_distilled["images"].shape == (20, 28, 28) and with_distilled["labels"].tolist() == sorted([*range(10)] * 2)
    report = (run / "report.md").read_text()
    assert "Quantum cost of training" in report and "91.9" in report and "94.0" in report
    assert "known_init_%" in report and "gain_vs_random" in report and "performance-matching (fixed init)" in report
    for plot in ("images_lenet.png", "images_qlenet.png", "learning_rates.png", "outer_loss.png"):
        assert (run / "plots" / plot).stat().st_size > 1000
    assert {"table", "markdown", "image", "progress"} <= artifact_types(state.state_details.flow_run_id)

    again = dd_pipeline(overrides=overrides, return_state=True)
    assert again.result()["models"] == result["models"]

    # Another protocol evaluates the same distilled sets: nothing is distilled again.
    other = dd_pipeline(overrides=[*overrides, "dd.eval.epochs=2"], return_state=True)
    assert other.result()["distilled"] == result["distilled"]
    states = task_states(other.state_details.flow_run_id)
    assert all(s == "Cached" for s in states["distill"]) and "Cached" not in states["evaluate"], states
    states = task_states(again.state_details.flow_run_id)
    work = [s for key, ss in states.items() if key.startswith(("distill", "evaluate")) for s in ss]
    assert work and all(s == "Cached" for s in work), states


def test_dd_tasks_start_one_per_free_worker_in_the_flows_order(tiny_flows) -> None:
    """Started in the flow's order, not the pool's: distillations first, each evaluation as soon as its set is
    distilled, the references (which nothing waits for) only while a set distils or once every evaluation has
    started — never more tasks at once than workers."""
    from flows.common import pool_workers

    flow_run_id = tiny_flows.dd_state.state_details.flow_run_id
    task_states(flow_run_id)  # settled
    runs = asyncio.run(_filter("/task_runs/filter", {"flow_runs": {"id": {"any_": [str(flow_run_id)]}}}))
    spans = sorted((datetime.fromisoformat(r["start_time"]), datetime.fromisoformat(r["end_time"]),
                    r["name"].rsplit("-", 1)[0]) for r in runs
                   if r["name"].startswith(("distill", "evaluate", "references")))
    kinds = [kind for *_, kind in spans]
    assert sorted(kinds) == ["distill"] * 2 + ["evaluate"] * 2 + ["references"] * 2, kinds
    workers = pool_workers()
    assert max(sum(s <= start < e for s, e, _ in spans) for start, _, _ in spans) <= workers
    assert kinds[:min(workers, 2)] == ["distill"] * min(workers, 2)
    for start, _, kind in spans:
        if kind == "references":
            assert (all(s <= start for s, _, k in spans if k == "evaluate")
                    or any(s <= start < e for s, e, k in spans if k == "distill")), spans


@pytest.mark.slow
def test_an_error_in_a_worker_process_reaches_the_caller_as_itself_and_writes_nothing(
    prefect_server, tmp_path: Path
) -> None:
    from flows.dd import dd_pipeline
    from qkernel.errors import ConfigError

    overrides = [*TINY[:-1], "dd.methods.performance-matching.lr_init=1000",
                 "dd.methods.performance-matching.outer_lr=100",
                 "dd.models=[{label: a, model: lenet, options: {}}, {label: b, model: lenet, options: {}}]",
                 f"runs_dir={tmp_path / 'runs'}", f"data.out_dir={tmp_path / 'data'}"]
    with pytest.raises(ConfigError, match="dataset distillation diverged at outer step 1"):
        dd_pipeline(overrides=overrides)
    assert not list((tmp_path / "runs").rglob("distilled.npz")) and not list((tmp_path / "runs").rglob("report.md"))
