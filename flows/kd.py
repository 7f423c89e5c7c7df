"""Knowledge-distillation flows: ``kd_pipeline`` (one configuration) and ``ablation`` (a sweep).

Each task is a thin call into :mod:`qkernel.methods.kd.stages`. Tasks exchange file paths and JSON
metrics, never live models, so they can run in threads, processes or on Dask workers.
Caching is keyed on the task's inputs (the validated parameters, the paths of upstream
artifacts), the code version of ``qkernel`` + ``plugins`` and the identity of the runs
directory (a deleted one is not served from the cache); results are persisted, so a
rerun skips finished work. Training tasks checkpoint every epoch, so a retry (or a rerun
after a kill) resumes where it stopped.
"""

from __future__ import annotations

import itertools
import json
from pathlib import Path
from typing import Any

from prefect import flow, get_run_logger, task
from prefect.task_runners import ThreadPoolTaskRunner

from flows import artifacts
from flows.common import CACHE, CODE, check, prepare, resolve_params, short_hash, transient
from qkernel.config import Params


def teacher_dir(p: Params) -> Path:
    """Teachers depend only on data, teacher options and seed: shared by every student using them."""
    key = short_hash(p.data.model_dump(mode="json"), p.teacher.model_dump(mode="json"), p.seed, CODE)
    return Path(p.runs_dir) / "teachers" / f"{p.data.name}-{p.teacher.model}-{key}"


def resume_points(p: Params) -> list[str]:
    """One line per training a rerun of ``p`` will resume: a checkpoint without the finished metrics beside it."""
    lines = []
    for root in (teacher_dir(p), run_dir(p)):
        for marker in sorted(root.glob("**/checkpoints/**/checkpoint")):
            owner = next(parent for parent in marker.parents if parent.name == "checkpoints").parent
            if (owner / "metrics.json").is_file():
                continue
            history = marker.with_name("history.json")
            epochs = len(json.loads(history.read_text())) if history.is_file() else 0
            lines.append(f"resuming {owner.relative_to(p.runs_dir)} from its checkpoint after epoch {epochs} "
                         f"({marker.parent})")
    return lines


def run_dir(p: Params) -> Path:
    """``runs/<run-id>``: the id names the configuration and hashes everything that shapes results."""
    s = p.student
    key = short_hash(p.data.model_dump(mode="json"), p.teacher.model_dump(mode="json"), s.model_dump(mode="json"),
                p.kd.model_dump(mode="json"), p.seed, CODE)
    return Path(p.runs_dir) / f"kd-{p.data.name}-{s.n_qubits}q-{s.reducer}-{s.encoder}-{key}"


@task(cache_policy=CACHE, persist_result=True, retries=1, retry_condition_fn=transient)
def train_teacher(params: Params, data_path: str, code: str) -> dict[str, Any]:
    """Train the classical teacher (early stopping on validation) and cache its logits."""
    from qkernel.methods.kd import stages as kd

    log = get_run_logger()
    metrics = kd.teacher_stage(params, Path(data_path), teacher_dir(params), on_epoch=lambda r: log.info(
        "teacher epoch %(epoch)d: loss %(loss).4f, val acc %(val_accuracy).4f", r))
    log.info("teacher %s: val %.4f, test %.4f", params.teacher.model, metrics["val_accuracy"], metrics["test_accuracy"])
    return metrics


@task(cache_policy=CACHE, persist_result=True)
def fit_reducer(params: Params, data_path: str, code: str) -> str:
    """Fit the reducer on the training split only (PCA); writes its state (empty for stateless reducers)."""
    from qkernel.methods.kd import stages as kd

    return str(kd.reducer_stage(params, Path(data_path), run_dir(params) / "reducer.npz"))


@task(cache_policy=CACHE, persist_result=True, retries=1, retry_condition_fn=transient)
def train_students(
    params: Params, mode: str, variant: str, seeds: list[int], data_path: str, teacher: dict[str, Any] | None,
    reducer_path: str, code: str,
) -> list[dict[str, Any]]:
    """Train one kind of student — the quantum one or a classical control — as ``baseline`` or ``kd`` for each
    seed (one traced model reused across them); score each once on test per selection rule."""
    from qkernel.methods.kd import stages as kd

    log = get_run_logger()
    bars: dict[str, artifacts.EpochProgress] = {}

    def on_epoch(name: str, r: dict[str, float]) -> None:
        bars.setdefault(name, artifacts.EpochProgress(name, params.student.epochs)).update(r)
        log.info(f"{name} epoch %(epoch)d: loss %(loss).4f, val acc %(val_accuracy).4f", r)

    logits = Path(teacher["logits"]) if teacher else None
    results = kd.students_stage(params, mode, variant, seeds, Path(data_path), logits, Path(reducer_path),
                                run_dir(params) / "students", on_epoch=on_epoch)
    for bar in bars.values():
        bar.close()
    for m in results:
        log.info("%s: val %.4f, test %.4f (early stopping), %.4f (fixed budget)",
                 kd.student_name(variant, mode, m["seed"]), m["val_accuracy"], m["test_accuracy"],
                 m["test_accuracy_fixed"])
    return results


@task(cache_policy=CACHE, persist_result=True)
def report(params: Params, teacher: dict[str, Any] | None, results: list[dict[str, Any]], out_dir: str,
           code: str) -> str:
    """Write ``metrics.json``, plots and ``report.md``; publish them as Prefect artifacts."""
    return str(artifacts.publish_kd_report(params, teacher, results, Path(out_dir)))


@flow(name="kd-pipeline", task_runner=ThreadPoolTaskRunner(max_workers=2), log_prints=True)
def kd_pipeline(
    overrides: list[str] | None = None, params_file: str | None = None, params: Params | None = None,
) -> dict[str, Any]:
    """Teacher → teacher logits → reducer → students → report.

    Students: the quantum student and every classical control in ``kd.controls``, each in every
    mode of ``kd.modes`` and for every seed of ``kd.seeds``, all with the same budget, optimiser,
    schedule and selection rule. Baseline students are submitted first (they need no teacher).

    Args:
        overrides: ``key.sub=value`` parameter overrides (as ``-S`` on the CLI).
        params_file: A parameter file merged over the project's ``params.yaml``.
        params: Parameters already loaded and checked (the CLI's); then the two above are unused.

    Returns:
        ``{"run_dir", "report", "teacher", "students"}``.
    """
    p = resolve_params(params, params_file, overrides, kd=True)
    data_path = prepare(p, CODE)
    teacher = train_teacher.submit(p, data_path, CODE) if "kd" in p.kd.modes else None
    reducer = fit_reducer.submit(p, data_path, CODE)
    variants = ("quantum", *p.kd.controls)
    futures = [train_students.submit(p, mode, variant, list(p.kd.seeds), data_path,
                                     teacher if mode == "kd" else None, reducer, CODE)
               for mode, variant in itertools.product(p.kd.modes, variants)]
    students = [m for f in futures for m in f.result()]
    teacher_result = teacher.result() if teacher is not None else None
    out = run_dir(p)
    report_path = report(p, teacher_result, students, str(out), CODE)
    return {"run_dir": str(out), "report": report_path, "teacher": teacher_result, "students": students}


@task(cache_policy=CACHE, persist_result=True, retries=1, retry_condition_fn=transient)
def tune_task(params: Params, data_path: str, teacher: dict[str, Any], reducer_path: str, code: str) -> dict[str, Any]:
    """Optuna studies on validation: the learning rate (baseline), then T and α (KD); resumes a killed study."""
    from qkernel.methods.kd.tuning import tune_stage

    log = get_run_logger()

    def on_trial(r: dict[str, Any]) -> None:
        outcome = (f"validation {r['value']:.4f}" if r["state"] == "COMPLETE"
                   else f"pruned after {r['epochs']} epochs")
        best = "" if r["best"] is None else f" (best {r['best']:.4f})"
        log.info("tuning %s: trial %d/%d %s%s", r["study"], r["trial"], r["trials"], outcome, best)

    out = run_dir(params) / "tune"
    chosen = tune_stage(params, Path(data_path), Path(teacher["logits"]), Path(reducer_path), out, on_trial)
    log.info("tuned: learning rate %.3g, T %.3g, alpha %.3g (validation %.4f baseline, %.4f KD)",
             chosen["learning_rate"], chosen["temperature"], chosen["alpha"], chosen["baseline_val_accuracy"],
             chosen["kd_val_accuracy"])
    return chosen


@flow(name="kd-tune", log_prints=True)
def kd_tune(
    overrides: list[str] | None = None, params_file: str | None = None, params: Params | None = None,
) -> dict[str, Any]:
    """Teacher → reducer → Optuna studies of ``kd.tune`` on the validation split.

    Returns:
        The chosen ``learning_rate``, ``temperature``, ``alpha``, their validation accuracies, and
        ``params_file``: a parameter file with them (and ``kd.tuned``) for ``--params``.
    """
    p = resolve_params(params, params_file, overrides, kd=True)
    data_path = prepare(p, CODE)
    teacher = train_teacher(p, data_path, CODE)
    reducer = fit_reducer(p, data_path, CODE)
    return tune_task(p, data_path, teacher, reducer, CODE)


def _grid(p: Params) -> list[dict[str, Any]]:
    a = p.ablation
    combos = itertools.product(a.datasets, a.qubits, a.reducers, a.encoders)
    return [{"data": {"name": d}, "student": {"n_qubits": q, "reducer": r, "encoder": e}} for d, q, r, e in combos]


def _dd_grid(p: Params) -> list[dict[str, Any]]:
    """Dataset-distillation variants: datasets × methods × images per class × seeds (``dd.models`` each)."""
    a = p.ablation
    combos = itertools.product(a.datasets, a.dd_methods, a.images_per_class, a.seeds)
    return [{"data": {"name": d}, "dd": {"method": m, "images_per_class": k}, "seed": s} for d, m, k, s in combos]


def _with(p: Params, patch: dict[str, Any]) -> Params:
    """``p`` with some fields of some sections (or top-level values) replaced, validated again."""
    data = p.as_dict()
    for section, values in patch.items():
        if isinstance(values, dict):
            data[section].update(values)
        else:
            data[section] = values
    return Params.model_validate(data)


def ablation_task_runner(p: Params) -> Any:
    """Dask when ``ablation.dask_address`` is set, else threads on this machine."""
    if p.ablation.dask_address:
        from prefect_dask import DaskTaskRunner

        return DaskTaskRunner(address=p.ablation.dask_address)
    return ThreadPoolTaskRunner(max_workers=p.ablation.max_workers)


@flow(name="ablation", log_prints=True)
def ablation(
    overrides: list[str] | None = None, params_file: str | None = None, params: Params | None = None,
) -> dict[str, Any]:
    """Sweep datasets × qubits × reducers × encoders × modes × seeds (the KD paper's ablations), then the
    dataset-distillation grid (datasets × ``ablation.dd_methods`` × ``ablation.images_per_class`` × seeds).

    Independent KD runs are submitted together to the task runner (threads locally, or a
    Dask cluster when ``ablation.dask_address`` is set); teachers and prepared datasets are
    shared between runs through the cache. Each DD variant is one ``dd_pipeline`` subflow.
    """
    p = resolve_params(params, params_file, overrides)
    configs = [_with(p, patch) for patch in _grid(p)]
    dd_configs = [_with(p, patch) for patch in _dd_grid(p)]
    for cfg in configs:  # fail before any training on a bad combination
        check(cfg, kd=True)
    for cfg in dd_configs:
        check(cfg, dd=True)
    runner = ablation_task_runner(p)
    result = _ablation_inner.with_options(task_runner=runner)(p, configs)
    if dd_configs:
        from flows.dd import dd_pipeline

        dd_runs = [dd_pipeline(params=cfg) for cfg in dd_configs]
        result["dd_summary"] = str(artifacts.publish_dd_ablation(dd_runs, Path(result["run_dir"])))
    return result


@flow(name="ablation-runs")
def _ablation_inner(p: Params, configs: list[Params]) -> dict[str, Any]:
    data_paths = {cfg.data.name: prepare.submit(cfg, CODE) for cfg in configs}
    teachers = {name: train_teacher.submit(_with(p, {"data": {"name": name}}), path, CODE)
                for name, path in data_paths.items()} if "kd" in p.ablation.modes else {}
    futures = []
    for cfg in configs:
        name = cfg.data.name
        reducer = fit_reducer.submit(cfg, data_paths[name], CODE)
        for mode in p.ablation.modes:
            teacher = teachers[name] if mode == "kd" else None
            futures.append(train_students.submit(cfg, mode, "quantum", list(p.ablation.seeds), data_paths[name],
                                                 teacher, reducer, CODE))
    results = [m for f in futures for m in f.result()]
    key = short_hash([c.student.model_dump(mode="json") for c in configs], p.ablation.model_dump(mode="json"), CODE)
    summary = artifacts.publish_ablation(results, Path(p.runs_dir) / f"ablation-{key}")
    return {"run_dir": str(summary.parent), "summary": str(summary), "runs": len(results)}
