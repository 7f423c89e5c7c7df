"""Dataset-distillation flow ``dd_pipeline``: prepare → distill (per model), beside it the random-real and
full-set references → evaluate → report.

Each task calls :mod:`qkernel.methods.dd.stages`; tasks exchange paths and JSON metrics. Caching is
keyed on the parameters, the upstream paths and the code version, as in :mod:`flows.kd`.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

from prefect import flow, get_run_logger, task
from prefect.futures import PrefectFuture, as_completed
from prefect.task_runners import ProcessPoolTaskRunner

from flows import artifacts
from prefect.cache_policies import TASK_SOURCE, CachePolicy

from flows.common import (CACHE, CODE, configure_worker, pool_workers, prepare, resolve_params, runs_dir_identity,
                          short_hash, transient)
from qkernel.config import Params


def dd_dir(p: Params) -> Path:
    """``runs/dd-<dataset>-<hash>``: a run's evaluations and report; hashes everything that shapes them."""
    key = short_hash(p.data.model_dump(mode="json"), p.dd.model_dump(mode="json"), p.seed, CODE)
    return Path(p.runs_dir) / f"dd-{p.data.name}-{key}"


def _distillation(p: Params, label: str) -> dict[str, Any]:
    """Everything that shapes model ``label``'s distilled set — not how sets are evaluated."""
    dd = p.dd.model_dump(mode="json", exclude={"eval", "models"})
    spec = next(m for m in p.dd.models if m.label == label).model_dump(mode="json")
    return {"data": p.data.model_dump(mode="json"), "dd": dd, "model": spec, "seed": p.seed}


def distill_dir(p: Params, label: str) -> Path:
    """``runs/dd-sets/<dataset>-<method>-<ipc>ipc-<hash>/<label>``: distilled sets are shared by every
    evaluation of them (another protocol, the cross-architecture table) instead of distilled again."""
    key = short_hash(_distillation(p, label), CODE)
    return Path(p.runs_dir) / "dd-sets" / f"{p.data.name}-{p.dd.method}-{p.dd.images_per_class}ipc-{key}" / label


def work_dir(p: Params, label: str) -> Path:
    """``runs/dd-sets/<dataset>-work/<label>``: what model ``label``'s distillations keep across step counts
    (trajectory matching's experts, keyed by their own inputs; checkpoints)."""
    return Path(p.runs_dir) / "dd-sets" / f"{p.data.name}-work" / label


def checkpoint_path(p: Params, label: str) -> Path:
    """Where model ``label``'s distillation keeps its state to resume from: keyed by what shapes the set except
    the step count, so an interrupted run resumes and a run with more steps continues this one."""
    shaping = _distillation(p, label)
    del shaping["dd"]["outer_steps"]
    return work_dir(p, label) / f"checkpoint-{p.dd.method}-{short_hash(shaping, CODE)}.npz"


def distillation_key(context: Any, inputs: dict[str, Any]) -> str:
    """Cache key of a distill task: what shapes the set, the data file and the runs directory's identity."""
    return short_hash(_distillation(inputs["params"], inputs["label"]), inputs["data_path"], inputs["code"],
                      runs_dir_identity(context, inputs))


@task(cache_policy=TASK_SOURCE + CachePolicy.from_cache_key_fn(distillation_key), persist_result=True, retries=1,
      retry_condition_fn=transient)
def distill(params: Params, label: str, data_path: str, code: str) -> dict[str, Any]:
    """Distill the training split for one model with the ``dd.method`` plugin."""
    from qkernel.methods.dd.stages import distill_stage

    log = get_run_logger()
    bar = artifacts.StepProgress(f"distill {label}", params.dd.outer_steps)
    every = max(1, params.dd.outer_steps // 10)

    starting = True

    def on_step(r: dict[str, float]) -> None:
        nonlocal starting
        if starting and r["step"] > 1:
            log.info("%s resumed after outer step %d from %s", label, r["step"] - 1, checkpoint)
        starting = False
        bar.update(r["step"], loss=r["loss"])
        if r["step"] % every == 0 or r["step"] == 1:
            log.info("%s outer step %d: %s", label, r["step"],
                     ", ".join(f"{k} {v:.4f}" for k, v in r.items() if k != "step"))

    # What a method computes from the real data alone (trajectory matching's experts, keyed by their own
    # inputs) is kept per dataset and model, so another step count or image rate reuses it.
    checkpoint = checkpoint_path(params, label)
    result = distill_stage(params, Path(data_path), label, distill_dir(params, label), on_step=on_step,
                           work_dir=work_dir(params, label), checkpoint=checkpoint)
    bar.close()
    return result


def _progress(label: str) -> Callable[[str, int, float], None]:
    """Log one line per trained model of ``label`` (what it trained on, which init, its test accuracy)."""
    log = get_run_logger()
    return lambda what, k, acc: log.info("%s on %s, init %d: test accuracy %.4f", label, what, k, acc)


@task(cache_policy=CACHE, persist_result=True, retries=1, retry_condition_fn=transient)
def references(params: Params, label: str, data_path: str, code: str) -> dict[str, Any]:
    """Model ``label`` on random real subsets and the full set: needs no distilled set, runs beside distillation."""
    from qkernel.methods.dd.stages import reference_stage

    return reference_stage(params, Path(data_path), label, on_progress=_progress(label))


@task(cache_policy=CACHE, persist_result=True, retries=1, retry_condition_fn=transient)
def evaluate(params: Params, label: str, data_path: str, distilled: dict[str, str], code: str) -> dict[str, Any]:
    """Model ``label`` from fresh initialisations on each distilled set (its references run in their own task)."""
    from qkernel.methods.dd.stages import score_sets

    return score_sets(params, Path(data_path), label, {k: Path(v) for k, v in distilled.items()},
                      on_progress=_progress(label))


@task(cache_policy=CACHE, persist_result=True)
def report(params: Params, results: list[dict[str, Any]], distilled: dict[str, str], code: str) -> str:
    """Image grids, learned-rate curves, accuracy and cost tables: files and Prefect artifacts."""
    return str(artifacts.publish_dd_report(params, results, dd_dir(params), {k: Path(v) for k, v in distilled.items()}))


def _joined(p: Params, scores: dict[str, Any], reference: dict[str, Any]) -> dict[str, Any]:
    """A model's fresh-init scores with its references: its metrics (``metrics.json``), one log line."""
    from qkernel.methods.dd.stages import with_references

    metrics = with_references(scores, reference, dd_dir(p) / scores["label"])
    get_run_logger().info("%s: random real %.4f; %s (test, mean over fresh inits)", scores["label"],
                          metrics["random_real"]["mean"],
                          ", ".join(f"{s} set {m['distilled']['mean']:.4f}" for s, m in metrics["sets"].items()))
    return metrics


#: A task the DD flow starts: its kind (``distill``, ``evaluate``, ``references``), its model's label, its future.
Started = tuple[str, str, PrefectFuture[Any]]


def keep_busy(workers: int,
              next_task: Callable[[dict[str, dict[str, Any]]], Started | None]) -> dict[str, dict[str, Any]]:
    """Run tasks with at most ``workers`` of them started at a time: whenever one ends, ``next_task`` (given the
    results so far) starts the next one, or returns ``None`` if nothing can start yet.

    A process pool given every task at once starts them in the order its submission threads reach it, which
    varies from run to run; started one per free worker, they start in the caller's order.

    Returns:
        Each task's result by kind and label. A task's error is raised as itself as soon as it ends.
    """
    results: dict[str, dict[str, Any]] = defaultdict(dict)
    running: dict[Any, Started] = {}
    while True:
        while len(running) < workers and (started := next_task(results)) is not None:
            running[started[2].task_run_id] = started
        if not running:
            return results
        finished = next(as_completed([future for *_, future in running.values()]))
        kind, label, _ = running.pop(finished.task_run_id)
        results[kind][label] = finished.result()  # .result() re-raises a task's own error (a ConfigError stays one)


@flow(name="dd-pipeline", task_runner=ProcessPoolTaskRunner(initializer=configure_worker), log_prints=True)
def dd_pipeline(
    overrides: list[str] | None = None, params_file: str | None = None, params: Params | None = None,
) -> dict[str, Any]:
    """Prepare → distill a synthetic set per ``dd.models`` entry → evaluate each → report.

    Each model's distill, reference (random real subsets, full set) and evaluate tasks run in
    worker processes, one per free worker, in this order of preference: an evaluation whose sets
    are distilled (what the run waits for), then a distillation (it frees evaluations), then
    references (nothing waits for them: they fill the workers while sets distil, and end the run
    on every worker instead of leaving one model's evaluation alone at the end). One model's work
    (tracing, small graph ops in a ``tf.while_loop``) keeps about one core busy.
    Workers: one per core, or ``PREFECT_TASKS_RUNNER_PROCESS_POOL_MAX_WORKERS``.

    Args:
        overrides: ``key.sub=value`` parameter overrides (as ``-S`` on the CLI).
        params_file: A parameter file merged over the project's ``params.yaml``.
        params: Parameters already loaded and checked (the CLI's); then the two above are unused.

    Returns:
        ``{"run_dir", "report", "models"}``.
    """
    from qkernel.methods.dd.stages import sets_for, targets

    p = resolve_params(params, params_file, overrides, dd=True)
    data_path = prepare(p, CODE)
    distilling = [spec.label for spec in p.dd.models]
    evaluating = [t.label for t in targets(p)]  # the cross-architecture evaluations need every set
    referencing = list(evaluating)

    def next_task(results: dict[str, dict[str, Any]]) -> Started | None:
        for label in evaluating:
            needed = sets_for(p, label)
            if all(s in results["distill"] for s in needed):
                evaluating.remove(label)
                sets = {s: results["distill"][s]["distilled"] for s in needed}
                return "evaluate", label, evaluate.submit(p, label, data_path, sets, CODE)
        if distilling:
            label = distilling.pop(0)
            return "distill", label, distill.submit(p, label, data_path, CODE)
        if referencing:
            label = referencing.pop(0)
            return "references", label, references.submit(p, label, data_path, CODE)
        return None

    done = keep_busy(pool_workers(), next_task)
    paths = {spec.label: done["distill"][spec.label]["distilled"] for spec in p.dd.models}
    results = [_joined(p, done["evaluate"][t.label], done["references"][t.label]) for t in targets(p)]
    report_path = report(p, results, paths, CODE)
    return {"run_dir": str(dd_dir(p)), "report": report_path, "models": results, "distilled": paths}
