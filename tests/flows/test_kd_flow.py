"""The KD flows on a real Prefect server: artifacts, caching, resumption, Dask, fail-fast params."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from qkernel.errors import ConfigError
from tests.conftest import TINY_KD


def tiny(tmp_path: Path, *extra: str) -> list[str]:
    return [*TINY_KD, f"runs_dir={tmp_path / 'runs'}", f"data.out_dir={tmp_path / 'data'}", *extra]


async def _filter(endpoint: str, body: dict) -> list[dict]:
    """POST a Prefect REST filter (this client version sends nulls its own server rejects)."""
    from prefect.client.orchestration import get_client

    async with get_client() as client:
        response = await client._client.post(endpoint, json={**body, "limit": 200})
    return response.json()


FINAL = {"COMPLETED", "FAILED", "CRASHED", "CANCELLED"}


def task_states(flow_run_id, timeout: float = 60.0) -> dict[str, list[str]]:
    """Final state names of a flow run's task runs, by task name.

    Prefect 3 records task-run states from events that the server consumes asynchronously, so a
    run can be listed before its state is: send the client's queued events, then poll until
    every task run has a final state and no new one appeared since the last look.
    """
    from prefect.events.worker import EventsWorker

    EventsWorker.drain_all()
    body = {"flow_runs": {"id": {"any_": [str(flow_run_id)]}}}
    deadline, seen = time.monotonic() + timeout, -1
    while True:
        runs = asyncio.run(_filter("/task_runs/filter", body))
        settled = runs and all(r["state"] and r["state"]["type"] in FINAL for r in runs)
        if (settled and len(runs) == seen) or time.monotonic() > deadline:
            break
        seen = len(runs) if settled else -1
        time.sleep(0.5)
    states: dict[str, list[str]] = {}
    for r in runs:
        states.setdefault(r["name"].rsplit("-", 1)[0], []).append(r["state"]["name"] if r["state"] else "no state")
    return states


def artifact_types(flow_run_id) -> set[str]:
    found = asyncio.run(_filter("/artifacts/filter", {"artifacts": {"flow_run_id": {"any_": [str(flow_run_id)]}}}))
    return {a["type"] for a in found}


def test_pipeline_writes_metrics_report_and_artifacts_then_rerun_hits_cache(tiny_flows) -> None:
    from flows.kd import kd_pipeline

    state, result = tiny_flows.kd_state, tiny_flows.kd
    run = Path(result["run_dir"])
    metrics = json.loads((run / "metrics.json").read_text())
    kinds = {(s["variant"], s["mode"], s["seed"]) for s in metrics["students"]}
    assert kinds == {(v, m, s) for v in ("quantum", "control_matched", "control_none") for m in ("baseline", "kd")
                     for s in (0, 1)}
    for s in metrics["students"]:
        assert 0.0 <= s["test_accuracy"] <= 1.0 and 0.0 <= s["test_accuracy_fixed"] <= 1.0
        assert s["epochs_run"] == 2 and 1 <= s["best_epoch"] <= 2  # the same budget for every student
        counts = s["parameters"]
        if s["variant"] == "quantum":
            assert counts["quantum"] == 16 and counts["classical"] > 0
        else:  # a classical control: no circuit; the matched one has exactly the circuit's 16 parameters
            assert counts["quantum"] == 0 and counts["middle"] == {"control_matched": 16, "control_none": 0}[s["variant"]]
    quantum = [s for s in metrics["students"] if s["variant"] == "quantum"]
    assert max(s["test_accuracy"] for s in quantum) > 0.1  # above chance on 10 classes
    assert metrics["teacher"]["test_accuracy"] > 0.1
    summary = metrics["summary"]
    assert summary["seeds"] == [0, 1] and len(summary["rows"]) == 6
    gain = summary["kd_minus_baseline"]["quantum"]["early_stopping"]
    by = {(s["mode"], s["seed"]): s["test_accuracy"] for s in quantum}
    assert gain["n"] == 2 and gain["mean"] == pytest.approx(50 * sum(by["kd", i] - by["baseline", i] for i in (0, 1)))
    assert gain["low"] <= gain["mean"] <= gain["high"]
    # flat keys for `dvc metrics show` / `dvc exp show` (DVC skips lists)
    assert metrics["kd"]["test_accuracy"] == pytest.approx(sum(by["kd", i] for i in (0, 1)) / 2, abs=1e-6)
    assert set(metrics["control_matched"]) == {"baseline", "kd"}
    assert metrics["kd_minus_baseline"]["quantum"]["early_stopping"]["mean"] == pytest.approx(gain["mean"], abs=1e-4)
    report = (run / "report.md").read_text()
    assert "published_%" in report and "78.0" in report  # the paper's 4-qubit MNIST figure beside ours
    assert "KD − baseline, quantum" in report and "control_matched" in report and "fixed budget" in report
    for plot in ("training_curves.png", "confusion_baseline_seed0.png", "confusion_kd_seed0.png"):
        assert (run / "plots" / plot).stat().st_size > 1000
    kinds = artifact_types(state.state_details.flow_run_id)
    assert {"table", "markdown", "image", "progress"} <= kinds

    again = kd_pipeline(overrides=tiny_flows.overrides, return_state=True)
    assert again.result()["students"] == result["students"]
    states = task_states(again.state_details.flow_run_id)
    trained = [s for key, ss in states.items() if key.startswith(("train_student", "train_teacher")) for s in ss]
    assert trained and all(s == "Cached" for s in trained), states


def test_a_deleted_runs_dir_is_not_served_from_the_cache(prefect_server, tmp_path: Path) -> None:
    import shutil

    from prefect import flow

    from flows.common import CODE, prepare
    from qkernel.config import load_params

    p = load_params(None, tiny(tmp_path))

    @flow
    def prepare_only():
        return prepare(p, CODE, return_state=True)

    first, again = prepare_only(), prepare_only()
    assert (first.name, again.name) == ("Completed", "Cached")
    shutil.rmtree(tmp_path / "runs")
    fresh = prepare_only()
    assert fresh.name == "Completed" and Path(fresh.result()).is_file()
    assert fresh.result() == first.result()  # the same path, written again


def test_flows_preparing_the_same_data_at_once_prepare_it_once(prefect_server, tmp_path: Path) -> None:
    """qdistill run's KD and DD flows start together: the second waits for the first's data, then reads it."""
    from concurrent.futures import ThreadPoolExecutor

    from prefect import flow

    from flows.common import CODE, prepare
    from qkernel.config import load_params

    p = load_params(None, tiny(tmp_path))

    @flow
    def prepare_only():
        return prepare(p, CODE, return_state=True)

    with ThreadPoolExecutor(2) as pool:
        states = list(pool.map(lambda _: prepare_only(), range(2)))
    assert sorted(s.name for s in states) == ["Cached", "Completed"]
    assert states[0].result() == states[1].result() and Path(states[0].result()).is_file()


def test_bad_parameters_fail_before_training(prefect_server, tmp_path: Path) -> None:
    from flows.kd import kd_pipeline

    cases = {
        "kd.temperature=0": "kd.temperature",
        "kd.alpha=1.5": "kd.alpha",
        "teacher.model=resnet": "unknown model 'resnet'",
        "student.encoder=amplitude student.n_qubits=10 student.reducer=avgpool": "needs 1024 features: avgpool",
        "student.backend=qsim": "cannot compute gradients",
    }
    for override, message in cases.items():
        with pytest.raises(ConfigError, match=message):
            kd_pipeline(overrides=tiny(tmp_path, *override.split()))
    assert not (tmp_path / "runs").exists()


KILL_SCRIPT = """
import sys
from flows.kd import kd_pipeline
kd_pipeline(overrides=sys.argv[1:])
"""


@pytest.mark.slow
def test_killed_training_resumes_from_checkpoint_to_the_same_metrics(prefect_server, tmp_path: Path) -> None:
    from flows.kd import kd_pipeline, run_dir
    from qkernel.config import load_params

    long = ["student.epochs=8", "student.patience=20", "kd.modes=[baseline]", "student.depth=1", "kd.seeds=[0]",
            "kd.controls=[]"]
    reference = kd_pipeline(overrides=tiny(tmp_path / "ref", *long))["students"][0]

    overrides = tiny(tmp_path / "killed", *long)
    ckpt = run_dir(load_params(None, overrides)) / "students" / "baseline-seed0" / "checkpoints" / "checkpoint"
    env = {**os.environ, "PREFECT_API_URL": _api_url()}
    proc = subprocess.Popen([sys.executable, "-c", KILL_SCRIPT, *overrides], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.time() + 240
    while not ckpt.exists() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.2)
    assert ckpt.exists(), "the student never wrote a checkpoint"
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    history = json.loads((ckpt.parent / "history.json").read_text())
    assert 1 <= len(history) < 8, "the run was not killed mid-way"

    resumed = kd_pipeline(overrides=overrides)["students"][0]
    assert resumed["test_accuracy"] == pytest.approx(reference["test_accuracy"])
    assert resumed["val_accuracy"] == pytest.approx(reference["val_accuracy"])
    assert [h["loss"] for h in resumed["history"]] == pytest.approx([h["loss"] for h in reference["history"]], rel=1e-5)


def _api_url() -> str:
    from prefect.settings import PREFECT_API_URL

    return PREFECT_API_URL.value()


@pytest.mark.slow
def test_ablation_on_a_local_dask_cluster(prefect_server, tmp_path: Path) -> None:
    from distributed import LocalCluster

    from flows.kd import ablation

    with LocalCluster(n_workers=1, threads_per_worker=2, processes=False, dashboard_address=None) as cluster:
        result = ablation(overrides=tiny(
            tmp_path, "ablation.qubits=[4]", "ablation.reducers=[fc,pca]", "ablation.encoders=[amplitude]",
            "ablation.modes=[baseline]", "ablation.seeds=[0]", "student.depth=1",
            f"ablation.dask_address={cluster.scheduler_address}",
            # and the dataset-distillation grid: one cheap method, LeNet only
            "ablation.dd_methods=[distribution-matching]", "ablation.images_per_class=[1]",
            "dd.methods.distribution-matching.init_pool=2", "dd.outer_steps=2", "dd.real_batch=20",
            "dd.eval.inits=2", "dd.eval.real_draws=2", "dd.eval.epochs=2", "dd.eval.full_inits=0",
            "dd.models=[{label: lenet, model: lenet, options: {}}]",
        ))
    assert result["runs"] == 2
    summary = json.loads((Path(result["run_dir"]) / "summary.json").read_text())
    assert {(r["reducer"], r["seeds"]) for r in summary["rows"]} == {("fc", 1), ("pca", 1)}
    accuracy = {r["reducer"]: r["test_accuracy_mean_%"] for r in summary["rows"]}
    assert accuracy["fc"] > 20 and 0 < accuracy["pca"] <= 100, accuracy  # chance: 10 %, after two tiny epochs
    dd_rows = json.loads((Path(result["run_dir"]) / "dd_summary.json").read_text())["rows"]
    assert [(r["method"], r["images_per_class"], r["model"]) for r in dd_rows] == [("distribution-matching", 1, "lenet")]


def test_lifecycle_hooks_fire_around_every_stage_of_a_run_and_on_error(tiny_flows, tmp_path: Path) -> None:
    from qkernel.config import load_params
    from qkernel.errors import DataFormatError
    from qkernel.methods.kd.stages import teacher_stage
    from qkernel.plugin.lifecycle import STAGES

    records = [json.loads(line) for line in tiny_flows.hooks.read_text().splitlines()]
    for stage in STAGES:  # every stage of the KD and DD flows, each begun and finished
        events = [r["event"] for r in records if r["stage"] == stage]
        assert events and events.count("before") == events.count("after"), (stage, events)
        assert "error" not in events, (stage, events)
    assert len({r["pid"] for r in records if r["stage"] == "distill"}) >= 1  # worker processes load it too

    p = load_params(None, tiny_flows.overrides)
    with pytest.raises(DataFormatError):
        teacher_stage(p, tmp_path / "missing.npz", tmp_path / "teacher")
    last = [json.loads(line) for line in tiny_flows.hooks.read_text().splitlines()][-2:]
    assert [(r["stage"], r["event"]) for r in last] == [("teacher", "before"), ("teacher", "error")]
    assert last[-1]["error"] == "DataFormatError"
