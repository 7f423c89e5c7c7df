"""Tuning ``T``, ``α`` and the learning rate on the validation split with Optuna (never on test).

Two studies, in order, each ``kd.tune.trials`` trials of Optuna's TPE sampler (seeded) with a
median pruner on the per-epoch validation accuracy:

1. ``learning-rate`` — the baseline (cross-entropy) student at each suggested rate, so the
   comparison's baseline is as strong as the search can make it;
2. ``kd`` — ``T`` and ``α`` for the KD student at the rate study 1 chose.

A trial trains ``kd.tune.epochs`` epochs per seed of ``kd.tune.seeds`` (the student's schedule
and patience, shortened) and scores the mean best validation accuracy. Studies live in
``<out>/optuna.db`` (SQLite): a rerun loads them and only runs the trials still missing, so a
killed study resumes. The chosen values are written as a parameter file (``tuned.yaml``) that
``--params`` merges over the defaults, with their provenance in ``kd.tuned``.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from qkernel.config import Params
from qkernel.data import PreparedDataset, load_prepared
from qkernel.io import atomic_write_json, atomic_write_text, read_npz
from qkernel.methods.kd.stages import train_student
from qkernel.nn.student import build_parts
from qkernel.plugin.registry import get_registry

__all__ = ["tune", "tune_stage", "tuned_overrides"]


def _trial_params(p: Params, learning_rate: float, temperature: float | None = None,
                  alpha: float | None = None) -> Params:
    t = p.kd.tune
    student = p.student.model_copy(update={"learning_rate": learning_rate, "epochs": t.epochs})
    kd = p.kd.model_copy(update={"temperature": temperature or p.kd.temperature,
                                 "alpha": p.kd.alpha if alpha is None else alpha})
    return p.model_copy(update={"student": student, "kd": kd})


def _objective(p: Params, data: PreparedDataset, logits: np.ndarray | None, reducer_state: dict[str, np.ndarray],
               mode: str, out: Path) -> Callable[[Any], float]:
    import optuna

    t = p.kd.tune

    def objective(trial: optuna.Trial) -> float:
        if mode == "baseline":
            q = _trial_params(p, trial.suggest_float("learning_rate", *t.learning_rate, log=True))
        else:
            q = _trial_params(p, p.student.learning_rate, trial.suggest_float("temperature", *t.temperature),
                              trial.suggest_float("alpha", *t.alpha))
        scores = []
        for i, seed in enumerate(t.seeds):
            def report(record: dict[str, float], first: bool = i == 0) -> None:
                if first:  # the pruner compares the first seed's curves across trials
                    trial.report(record["val_accuracy"], int(record["epoch"]))
                    if trial.should_prune():
                        raise optuna.TrialPruned()

            parts = build_parts(q.student, get_registry(q.plugins.paths), data.image_shape)
            result = train_student(q, parts, data, mode, out / f"{mode}-{trial.number}-seed{seed}",
                                   teacher_train_logits=logits, reducer_state=reducer_state, seed=seed,
                                   on_epoch=report)
            scores.append(result.metrics["val_accuracy"])
        return float(np.mean(scores))

    return objective


def _finished(study: Any) -> list[Any]:
    """The study's trials that ran to their end (completed or pruned); a trial killed mid-run stays unfinished."""
    import optuna

    states = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)
    return [tr for tr in study.trials if tr.state in states]


def _reporter(name: str, trials: int, on_trial: Callable[[dict[str, Any]], None]) -> Callable[[Any, Any], None]:
    """An Optuna callback that hands ``on_trial`` each finished trial of study ``name`` (see :func:`tune`)."""
    import optuna

    def report(study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
        finished = _finished(study)
        best = max((tr.value for tr in finished if tr.state == optuna.trial.TrialState.COMPLETE), default=None)
        # counted, not trial.number: a trial killed mid-run keeps its number without finishing
        on_trial({"study": name, "trial": len(finished), "trials": trials, "state": trial.state.name,
                  "value": trial.value, "epochs": len(trial.intermediate_values), "best": best})

    return report


def _study(name: str, p: Params, storage: str, objective: Callable[[Any], float],
           on_trial: Callable[[dict[str, Any]], None] | None = None) -> Any:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(
        study_name=name, storage=storage, direction="maximize", load_if_exists=True,
        sampler=optuna.samplers.TPESampler(seed=p.seed),
        pruner=optuna.pruners.MedianPruner(n_startup_trials=4, n_warmup_steps=max(1, p.kd.tune.epochs // 3)),
    )
    done = _finished(study)
    if len(done) < p.kd.tune.trials:
        study.optimize(objective, n_trials=p.kd.tune.trials - len(done), catch=(),
                       callbacks=None if on_trial is None else [_reporter(name, p.kd.tune.trials, on_trial)])
    return study


def _trials(study: Any) -> list[dict[str, Any]]:
    return [{"number": tr.number, "state": tr.state.name, "value": tr.value, "params": tr.params}
            for tr in study.trials]


def tune(p: Params, data: PreparedDataset, teacher_train_logits: np.ndarray, reducer_state: dict[str, np.ndarray],
         out: Path, on_trial: Callable[[dict[str, Any]], None] | None = None) -> dict[str, Any]:
    """Run (or resume) both studies; returns the chosen values, their validation scores and every trial.

    Args:
        p: Parameters (``kd.tune`` sets the studies; ``student`` everything not tuned).
        data: The prepared dataset (train for training, val for the objective; test is never read).
        teacher_train_logits: Cached teacher logits on the training split.
        reducer_state: The fitted reducer's state.
        out: Folder of the study database and the trials' checkpoints.
        on_trial: Called after each trial this call runs (not those a resumed study loads) with ``study``,
            ``trial`` (the study's finished trials, this one included) of ``trials``, ``state``
            (``COMPLETE`` or ``PRUNED``), ``value`` (its validation accuracy; when pruned, the first seed's
            at the epoch it stopped), ``epochs`` it trained (the first seed's) and the study's ``best`` so far
            (over completed trials; ``None`` before the first).
    """
    out.mkdir(parents=True, exist_ok=True)
    storage = f"sqlite:///{out / 'optuna.db'}"
    lr_study = _study("learning-rate", p, storage, _objective(p, data, None, reducer_state, "baseline", out),
                      on_trial)
    learning_rate = float(lr_study.best_params["learning_rate"])
    q = _trial_params(p, learning_rate)
    kd_study = _study("kd", q, storage, _objective(q, data, teacher_train_logits, reducer_state, "kd", out),
                      on_trial)
    return {
        "learning_rate": learning_rate, "temperature": float(kd_study.best_params["temperature"]),
        "alpha": float(kd_study.best_params["alpha"]),
        "baseline_val_accuracy": float(lr_study.best_value), "kd_val_accuracy": float(kd_study.best_value),
        "studies": {"learning-rate": _trials(lr_study), "kd": _trials(kd_study)},
    }


def tuned_overrides(p: Params, chosen: dict[str, Any]) -> dict[str, Any]:
    """The parameter file of the chosen values: ``student.learning_rate``, ``kd.temperature``, ``kd.alpha``
    and ``kd.tuned`` (what they were tuned on)."""
    t = p.kd.tune
    record = {"dataset": p.data.name, "trials": t.trials, "epochs": t.epochs, "seeds": list(t.seeds),
              "baseline_val_accuracy": round(chosen["baseline_val_accuracy"], 4),
              "kd_val_accuracy": round(chosen["kd_val_accuracy"], 4)}
    return {"student": {"learning_rate": float(f"{chosen['learning_rate']:.3g}")},
            "kd": {"temperature": float(f"{chosen['temperature']:.3g}"), "alpha": float(f"{chosen['alpha']:.3g}"),
                   "tuned": record}}


def tune_stage(p: Params, data_path: Path, teacher_logits_path: Path, reducer_path: Path, out: Path,
               on_trial: Callable[[dict[str, Any]], None] | None = None) -> dict[str, Any]:
    """Tune on files (the flow's task): writes ``study.json`` and ``tuned.yaml`` under ``out``; returns the choice
    with ``"params_file"``, the path of ``tuned.yaml``. ``on_trial``: as :func:`tune`'s."""
    data = load_prepared(Path(data_path))
    chosen = tune(p, data, read_npz(teacher_logits_path)["train"], read_npz(reducer_path), Path(out), on_trial)
    atomic_write_json(Path(out) / "study.json", chosen)
    overlay = tuned_overrides(p, chosen)
    path = atomic_write_text(Path(out) / "tuned.yaml", "# written by qdistill tune (validation split only)\n"
                             + yaml.safe_dump(overlay, sort_keys=False))
    return {**{k: v for k, v in chosen.items() if k != "studies"}, "params_file": str(path), "overrides": overlay}
