"""Knowledge-distillation flows: ``kd_pipeline`` (one configuration) and ``ablation`` (a sweep).

Each task is a thin call into :mod:`qkernel.kd`. Tasks exchange file paths and JSON
metrics, never live models, so they can run in threads, processes or on Dask workers.
Caching is keyed on the task's inputs (the validated parameters, the paths of upstream
artifacts), the code version of ``qkernel`` + ``plugins`` and the identity of the runs
directory (a deleted one is not served from the cache); results are persisted, so a
rerun skips finished work. Training tasks checkpoint every epoch, so a retry (or a rerun
after a kill) resumes where it stopped.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import uuid
from pathlib import Path
from typing import Any

import qkernel
from prefect import flow, get_run_logger, task
from prefect.cache_policies import INPUTS, TASK_SOURCE, CachePolicy
from prefect.task_runners import ThreadPoolTaskRunner

from flows import artifacts
from qkernel.config import Params, load_params


def runs_dir_identity(context: Any, inputs: dict[str, Any]) -> str | None:
    """Cache-key part: which ``runs_dir`` this is (a random id kept in ``<runs_dir>/.cache-id``).

    Cached task results are paths under ``runs_dir``. Once it is deleted, a new one gets a
    new id, so the tasks run again instead of returning paths to files that are gone.
    """
    params = inputs.get("params")
    if not isinstance(params, dict) or not params.get("runs_dir"):
        return None
    marker = Path(params["runs_dir"]) / ".cache-id"
    if not marker.exists():
        marker.parent.mkdir(parents=True, exist_ok=True)
        tmp = marker.with_name(f".cache-id.{uuid.uuid4().hex}")
        tmp.write_text(uuid.uuid4().hex)
        try:
            os.link(tmp, marker)  # atomic; concurrent tasks agree on the first id written
        except FileExistsError:
            pass
        finally:
            tmp.unlink()
    return marker.read_text()


CACHE = INPUTS + TASK_SOURCE + CachePolicy.from_cache_key_fn(runs_dir_identity)
CODE = qkernel.code_version()


def _hash(*parts: Any) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:10]


def _params(p: dict[str, Any]) -> Params:
    return Params.model_validate(p)


def teacher_dir(p: Params) -> Path:
    """Teachers depend only on data, teacher options and seed: shared by every student using them."""
    key = _hash(p.data.model_dump(mode="json"), p.teacher.model_dump(mode="json"), p.seed, CODE)
    return Path(p.runs_dir) / "teachers" / f"{p.data.name}-{p.teacher.model}-{key}"


def run_dir(p: Params) -> Path:
    """``runs/<run-id>``: the id names the configuration and hashes everything that shapes results."""
    s = p.student
    key = _hash(p.data.model_dump(mode="json"), p.teacher.model_dump(mode="json"), s.model_dump(mode="json"),
                p.kd.model_dump(mode="json"), p.seed, CODE)
    return Path(p.runs_dir) / f"kd-{p.data.name}-{s.n_qubits}q-{s.reducer}-{s.encoder}-{key}"


def _logger() -> Any:
    return get_run_logger()


@task(cache_policy=CACHE, persist_result=True, retries=2, retry_delay_seconds=2)
def prepare(params: dict[str, Any], code: str) -> str:
    """Load the dataset through its plugin, split and normalise it, write ``<runs_dir>/data/<name>-<hash>.npz``.

    (``data.out_dir`` holds the DVC pipeline's copy; the flow keys its copies by their options.)
    """
    from qkernel.data import load_dataset, save_prepared

    p = _params(params)
    data = load_dataset(p)
    stem = f"{p.data.name}-{_hash(p.data.model_dump(mode='json'), p.seed)}"
    npz, _ = save_prepared(data, Path(p.runs_dir) / "data", stem=stem)
    _logger().info("prepared %s: %s", p.data.name, data.meta["sizes"])
    return str(npz)


@task(cache_policy=CACHE, persist_result=True, retries=1)
def train_teacher(params: dict[str, Any], data_path: str, code: str) -> dict[str, Any]:
    """Train the classical teacher (early stopping on validation) and cache its logits."""
    from qkernel import kd

    p = _params(params)
    log = _logger()
    metrics = kd.teacher_stage(p, Path(data_path), teacher_dir(p), on_epoch=lambda r: log.info(
        "teacher epoch %(epoch)d: loss %(loss).4f, val acc %(val_accuracy).4f", r))
    log.info("teacher %s: val %.4f, test %.4f", p.teacher.model, metrics["val_accuracy"], metrics["test_accuracy"])
    return metrics


@task(cache_policy=CACHE, persist_result=True)
def fit_reducer(params: dict[str, Any], data_path: str, code: str) -> str:
    """Fit the reducer on the training split only (PCA); writes its state (empty for stateless reducers)."""
    from qkernel import kd

    p = _params(params)
    return str(kd.reducer_stage(p, Path(data_path), run_dir(p) / "reducer.npz"))


@task(cache_policy=CACHE, persist_result=True, retries=1)
def train_student(
    params: dict[str, Any], mode: str, seed: int, data_path: str, teacher: dict[str, Any] | None, reducer_path: str,
    code: str,
) -> dict[str, Any]:
    """Train one quantum student (``baseline`` or ``kd``), evaluate it once on test, save everything."""
    from qkernel import kd

    p = _params(params)
    log = _logger()
    bar = artifacts.EpochProgress(f"{mode} seed {seed}", p.student.epochs)

    def on_epoch(r: dict[str, float]) -> None:
        bar.update(r)
        log.info(f"{mode}/seed{seed} epoch %(epoch)d: loss %(loss).4f, val acc %(val_accuracy).4f", r)

    out = run_dir(p) / "students" / f"{mode}-seed{seed}"
    logits = Path(teacher["logits"]) if teacher else None
    metrics = kd.student_stage(p, mode, seed, Path(data_path), logits, Path(reducer_path), out, on_epoch=on_epoch)
    bar.close()
    log.info("%s seed %d: val %.4f, test %.4f", mode, seed, metrics["val_accuracy"], metrics["test_accuracy"])
    return metrics


@task(cache_policy=CACHE, persist_result=True)
def report(params: dict[str, Any], teacher: dict[str, Any] | None, results: list[dict[str, Any]], out_dir: str,
           code: str) -> str:
    """Write ``metrics.json``, plots and ``report.md``; publish them as Prefect artifacts."""
    p = _params(params)
    return str(artifacts.publish_kd_report(p, teacher, results, Path(out_dir)))


@flow(name="kd-pipeline", task_runner=ThreadPoolTaskRunner(max_workers=2), log_prints=True)
def kd_pipeline(overrides: list[str] | None = None, params_file: str | None = None) -> dict[str, Any]:
    """Teacher → teacher logits → reducer → quantum students (baseline and KD) → report.

    Args:
        overrides: ``key.sub=value`` parameter overrides (as ``-S`` on the CLI).
        params_file: A parameter file merged over the project's ``params.yaml``.

    Returns:
        ``{"run_dir", "report", "teacher", "students"}``.
    """
    p = load_params(params_file, overrides or [])
    check(p)
    pd = p.as_dict()
    data_path = prepare(pd, CODE)
    teacher = train_teacher.submit(pd, data_path, CODE) if "kd" in p.kd.modes else None
    reducer = fit_reducer.submit(pd, data_path, CODE)
    futures = [train_student.submit(pd, mode, p.seed, data_path, teacher if mode == "kd" else None, reducer, CODE)
               for mode in p.kd.modes]
    students = [f.result() for f in futures]
    teacher_result = teacher.result() if teacher is not None else None
    out = run_dir(p)
    report_path = report(pd, teacher_result, students, str(out), CODE)
    return {"run_dir": str(out), "report": report_path, "teacher": teacher_result, "students": students}


def check(p: Params) -> None:
    """Fail fast, before any training: unknown plugins, mismatched qubits/encoder/reducer, bad teacher."""
    from qkernel import kd
    from qkernel.registry import get_registry

    kd.check_params(p, get_registry(p.plugins.paths))


def _grid(p: Params) -> list[dict[str, Any]]:
    a = p.ablation
    combos = itertools.product(a.datasets, a.qubits, a.reducers, a.encoders)
    return [{"data": {"name": d}, "student": {"n_qubits": q, "reducer": r, "encoder": e}} for d, q, r, e in combos]


def _with(pd: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    out = json.loads(json.dumps(pd))
    for section, values in patch.items():
        out[section].update(values)
    return out


def ablation_task_runner(p: Params) -> Any:
    """Dask when ``ablation.dask_address`` is set, else threads on this machine."""
    if p.ablation.dask_address:
        from prefect_dask import DaskTaskRunner

        return DaskTaskRunner(address=p.ablation.dask_address)
    return ThreadPoolTaskRunner(max_workers=p.ablation.max_workers)


@flow(name="ablation", log_prints=True)
def ablation(overrides: list[str] | None = None, params_file: str | None = None) -> dict[str, Any]:
    """Sweep datasets × qubits × reducers × encoders × modes × seeds (the KD paper's ablations).

    Independent runs are submitted together to the task runner (threads locally, or a
    Dask cluster when ``ablation.dask_address`` is set); teachers and prepared datasets are
    shared between runs through the cache.
    """
    p = load_params(params_file, overrides or [])
    runner = ablation_task_runner(p)
    return _ablation_inner.with_options(task_runner=runner)(p.as_dict())


@flow(name="ablation-runs")
def _ablation_inner(pd: dict[str, Any]) -> dict[str, Any]:
    p = _params(pd)
    configs = [_with(pd, patch) for patch in _grid(p)]
    for cfg in configs:  # fail before any training on a bad combination
        check(_params(cfg))
    data_paths = {cfg["data"]["name"]: prepare.submit(cfg, CODE) for cfg in configs}
    teachers = {name: train_teacher.submit(_with(pd, {"data": {"name": name}}), path, CODE)
                for name, path in data_paths.items()} if "kd" in p.ablation.modes else {}
    futures = []
    for cfg in configs:
        name = cfg["data"]["name"]
        reducer = fit_reducer.submit(cfg, data_paths[name], CODE)
        for mode, seed in itertools.product(p.ablation.modes, p.ablation.seeds):
            teacher = teachers[name] if mode == "kd" else None
            futures.append(train_student.submit(cfg, mode, seed, data_paths[name], teacher, reducer, CODE))
    results = [f.result() for f in futures]
    out = Path(p.runs_dir) / f"ablation-{_hash([c['student'] for c in configs], p.ablation.model_dump(mode='json'), CODE)}"
    summary = artifacts.publish_ablation(p, results, out)
    return {"run_dir": str(out), "summary": str(summary), "runs": len(results)}
