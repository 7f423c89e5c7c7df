"""Classical → quantum knowledge distillation (Hasan & Mahdy, arXiv:2311.13810): training and stages.

Stages, each a plain function the flows wrap as a task (and ``dvc.yaml`` runs through the CLI):

* :func:`train_teacher` — a classical model trained with early stopping on validation;
* :func:`teacher_logits` — the frozen teacher's logits, computed once and cached;
* :func:`train_student` — the quantum student, or a classical control (``kd.controls``), with the
  baseline (CE) or KD loss; every student trains the same budget with the same optimiser and
  schedule, and yields two models: the one early stopping selects on validation and the one
  after all epochs (the fixed budget);
* :func:`evaluate` — the test split, touched once per model, after selection on validation.

The loss is :mod:`qkernel.methods.kd.loss`. The ``*_stage`` functions work on files and call
the lifecycle hooks (:mod:`qkernel.plugin.lifecycle`).
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import tensorflow as tf

from qkernel.config import Params
from qkernel.data import PreparedDataset, check_data, load_prepared
from qkernel.errors import ConfigError, QDistillError
from qkernel.io import atomic_save_npz, atomic_write_json, read_npz, save_weights
from qkernel.methods.kd.config import TeacherParams
from qkernel.methods.kd.loss import make_loss
from qkernel.nn.student import StudentParts, build_parts, build_student
from qkernel.nn.training import FitResult, accuracy, fit, make_optimizer, predict_logits, reset_optimizer
from qkernel.plugin.lifecycle import stage
from qkernel.plugin.registry import Registry, get_registry

@dataclass
class StageResult:
    """What a training stage produced: the model, its metrics and the files written."""

    model: tf.keras.Model
    metrics: dict[str, Any]
    fit: FitResult | None = None
    files: dict[str, Path] = field(default_factory=dict)


def check_params(params: Params, registry: Registry) -> StudentParts:
    """Validate a KD configuration before any training; returns the student's parts.

    Raises:
        ConfigError: unknown dataset, teacher, control or plugin; qubit count not fitting the
            encoder or reducer; a backend that cannot train.
    """
    source = check_data(params, registry)
    try:
        registry.get("model", params.teacher.model)
    except QDistillError as exc:
        raise ConfigError(f"teacher.model: {exc}") from exc
    for control in params.kd.controls:
        try:
            registry.get("model", control)
        except QDistillError as exc:
            raise ConfigError(f"kd.controls: {exc}") from exc
    return build_parts(params.student, registry, tuple(source.image_shape))


def build_teacher(tp: TeacherParams, registry: Registry, data: PreparedDataset) -> tf.keras.Model:
    """Build the configured teacher model.

    Raises:
        ConfigError: unknown teacher (lists the registered models) or bad options.
    """
    try:
        return registry.create("model", tp.model, input_shape=data.image_shape, num_classes=data.num_classes, **tp.options)
    except QDistillError as exc:
        raise ConfigError(f"teacher: {exc}") from exc
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"teacher {tp.model!r}: {exc}") from exc


def train_teacher(
    params: Params, data: PreparedDataset, registry: Registry, out_dir: Path,
    on_epoch: Callable[[dict[str, float]], None] | None = None,
) -> StageResult:
    """Train the teacher with Adam and early stopping on validation; save weights and metrics.

    Ensemble members are trained one after another, each with its own early stopping.
    """
    tp = params.teacher
    tf.keras.utils.set_random_seed(params.seed)
    model = build_teacher(tp, registry, data)
    members = getattr(model, "members", [model])
    history: dict[str, list[dict[str, float]]] = {}
    for i, member in enumerate(members):
        result = fit(
            member, (data.x["train"], data.y["train"]), (data.x["val"], data.y["val"]),
            epochs=tp.epochs, batch_size=tp.batch_size, seed=params.seed + i, patience=tp.patience,
            optimizer=make_optimizer(tp.learning_rate, tp.schedule, tp.epochs, -(-len(data.y["train"]) // tp.batch_size)),
            checkpoint_dir=out_dir / "checkpoints" / member.name,
            on_epoch=on_epoch,
        )
        history[member.name] = result.history
    val_logits = predict_logits(model, data.x["val"])
    metrics = {
        "model": tp.model,
        "parameters": int(model.count_params()),
        "val_accuracy": float(np.mean(val_logits.argmax(1) == data.y["val"])),
        "history": history,
    }
    files = {"weights": save_weights(model, out_dir / "weights.npz")}
    files["metrics"] = atomic_write_json(out_dir / "metrics.json", metrics)
    return StageResult(model, metrics, files=files)


def teacher_logits(model: tf.keras.Model, data: PreparedDataset, out_file: Path) -> dict[str, np.ndarray]:
    """Logits of the frozen teacher on every split, cached as an npz artifact."""
    logits = {split: predict_logits(model, data.x[split]).astype(np.float32) for split in data.x}
    atomic_save_npz(out_file, logits)
    return logits


def fit_reducer(parts: StudentParts, data: PreparedDataset, out_file: Path) -> dict[str, np.ndarray]:
    """Fit the reducer on the training split only and save what it learned (empty for stateless ones)."""
    if parts.reducer.needs_fit:
        parts.reducer.fit(data.x["train"])
    state = parts.reducer.state()
    atomic_save_npz(out_file, state)
    return state


QUANTUM = "quantum"


def student_name(variant: str, mode: str, seed: int) -> str:
    """Folder of one student: ``<mode>-seed<seed>`` for the quantum student, ``<control>-<mode>-seed<seed>`` else."""
    return f"{mode}-seed{seed}" if variant == QUANTUM else f"{variant}-{mode}-seed{seed}"


def build_model(parts: StudentParts, data: PreparedDataset, variant: str, seed: int,
                reducer_state: dict[str, np.ndarray] | None, registry: Registry | None = None) -> tf.keras.Model:
    """The quantum student (``variant="quantum"``) or the control model plugin ``variant`` on the same parts.

    Raises:
        ConfigError: an unknown control, or one that cannot be built on these parts.
    """
    if variant == QUANTUM:
        return build_student(parts, data.image_shape, data.num_classes, seed, reducer_state)
    if reducer_state:
        parts.reducer.load_state(reducer_state)
    try:
        return (registry or get_registry()).create("model", variant, input_shape=data.image_shape,
                                                   num_classes=data.num_classes, parts=parts, seed=seed)
    except (QDistillError, TypeError, ValueError) as exc:
        raise ConfigError(f"kd.controls: {exc}") from exc


def train_student(
    params: Params,
    parts: StudentParts,
    data: PreparedDataset,
    mode: str,
    out_dir: Path,
    teacher_train_logits: np.ndarray | None = None,
    reducer_state: dict[str, np.ndarray] | None = None,
    seed: int | None = None,
    on_epoch: Callable[[dict[str, float]], None] | None = None,
    on_batch: Callable[[int, int], None] | None = None,
    stop_after_epoch: int | None = None,
    variant: str = QUANTUM,
    reuse: dict[str, Any] | None = None,
) -> StageResult:
    """Train a student (``baseline`` or ``kd``) for ``student.epochs``, selecting on validation.

    The returned model holds the weights early stopping selects (``student.patience``); the
    weights after the last epoch are in ``result.fit.final_weights`` (the fixed budget). A
    checkpoint is written every epoch under ``out_dir/checkpoints``; a rerun resumes there.

    ``reuse`` (a dict the caller keeps between calls of one variant and mode) holds the model,
    optimiser and loss of the previous call: the next seed copies its fresh initialisation into
    that model and zeroes the optimiser, so the traced training step (seconds for a circuit) is
    reused; the result is the same as with a new model.

    Raises:
        ConfigError: for ``kd`` without teacher logits, or logits not aligned with the training set.
    """
    seed = params.seed if seed is None else seed
    if mode == "kd":
        if teacher_train_logits is None or teacher_train_logits.shape != (len(data.y["train"]), data.num_classes):
            got = None if teacher_train_logits is None else teacher_train_logits.shape
            raise ConfigError(f"kd student needs teacher logits of shape {(len(data.y['train']), data.num_classes)}, got {got}")
    sp = params.student
    start = time.perf_counter()
    model = build_model(parts, data, variant, seed, reducer_state, get_registry(params.plugins.paths))
    steps = -(-len(data.y["train"]) // sp.batch_size)
    if reuse is None or "model" not in reuse:
        state = {"model": model, "optimizer": make_optimizer(sp.learning_rate, sp.schedule, sp.epochs, steps),
                 "loss": make_loss(mode, params.kd)}
        if reuse is not None:
            reuse.update(state)
    else:
        state = reuse
        for dst, src in zip(state["model"].weights, model.weights, strict=True):
            dst.assign(src)
        reset_optimizer(state["optimizer"])
        model = state["model"]
    result = fit(
        model, (data.x["train"], data.y["train"]), (data.x["val"], data.y["val"]),
        epochs=sp.epochs, batch_size=sp.batch_size, optimizer=state["optimizer"],
        seed=seed, loss_fn=state["loss"], extra=teacher_train_logits if mode == "kd" else None,
        patience=sp.patience, checkpoint_dir=out_dir / "checkpoints", on_epoch=on_epoch, on_batch=on_batch,
        stop_after_epoch=stop_after_epoch, train_past_stop=True,
    )
    metrics = {
        "variant": variant,
        "mode": mode,
        "seed": seed,
        "student": parts.describe() if variant == QUANTUM else f"{variant} on {parts.reducer.name}",
        "parameters": model.parameter_counts(),
        "best_epoch": result.best_epoch,
        "val_accuracy": result.best_val_accuracy,
        "stop_epoch": result.stop_epoch,
        "epochs_run": len(result.history),
        "train_seconds": round(time.perf_counter() - start, 1),
        "history": result.history,
    }
    files = {"weights": save_weights(model, out_dir / "weights.npz")}
    return StageResult(model, metrics, fit=result, files=files)


def evaluate(model: tf.keras.Model, data: PreparedDataset) -> dict[str, Any]:
    """Test accuracy and confusion matrix — the one time the test split is used."""
    pred = predict_logits(model, data.x["test"]).argmax(1)
    k = data.num_classes
    confusion = np.bincount(data.y["test"] * k + pred, minlength=k * k).reshape(k, k)
    return {"test_accuracy": float(np.mean(pred == data.y["test"])), "confusion": confusion.tolist()}


def evaluate_fixed_budget(result: StageResult, data: PreparedDataset, out_dir: Path) -> dict[str, Any]:
    """Score the fixed-budget model (the weights after every epoch, no selection) once on test.

    Writes ``weights_fixed.npz``; the model holds the selected weights again afterwards.
    """
    model, selected = result.model, [v.numpy() for v in result.model.weights]
    for v, w in zip(model.weights, result.fit.final_weights):
        v.assign(w)
    save_weights(model, out_dir / "weights_fixed.npz")
    scores = {"val_accuracy_fixed": accuracy(model, data.x["val"], data.y["val"]),
              "test_accuracy_fixed": evaluate(model, data)["test_accuracy"]}
    for v, w in zip(model.weights, selected):
        v.assign(w)
    return scores


# ---------------------------------------------------------------- stages on files
# The Prefect tasks (flows/kd.py) and the DVC stages (`qdistill stage ...`) both call these,
# so a flow run and `dvc repro` with the same params.yaml compute the same results.

EpochHook = Callable[[dict[str, float]], None] | None


@stage("teacher")
def teacher_stage(params: Params, data_path: Path, out_dir: Path, on_epoch: EpochHook = None) -> dict[str, Any]:
    """Train the teacher, cache its logits (``logits.npz``), score it once on test; writes ``metrics.json``."""
    data = load_prepared(Path(data_path))
    result = train_teacher(params, data, get_registry(params.plugins.paths), Path(out_dir), on_epoch=on_epoch)
    logits = teacher_logits(result.model, data, Path(out_dir) / "logits.npz")
    metrics = {**result.metrics, "test_accuracy": float((logits["test"].argmax(1) == data.y["test"]).mean()),
               "dir": str(out_dir), "logits": str(Path(out_dir) / "logits.npz")}
    atomic_write_json(Path(out_dir) / "metrics.json", metrics)
    return metrics


@stage("reducer")
def reducer_stage(params: Params, data_path: Path, out_file: Path) -> Path:
    """Fit the student's reducer on the training split (if it needs fitting) and save its state."""
    data = load_prepared(Path(data_path))
    parts = build_parts(params.student, get_registry(params.plugins.paths), data.image_shape)
    fit_reducer(parts, data, Path(out_file))
    return Path(out_file)


@stage("student")
def student_stage(
    params: Params, mode: str, seed: int, data_path: Path, teacher_logits_path: Path | None, reducer_path: Path,
    out_dir: Path, on_epoch: EpochHook = None, variant: str = QUANTUM, reuse: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Train one student (the quantum one or a control), evaluate its two models once each on test
    (selected on validation; after the fixed budget), write ``weights.npz``, ``weights_fixed.npz``,
    ``metrics.json`` and ``params.json`` (the parameters that rebuild it, e.g. for ``qdistill evaluate``)."""
    data = load_prepared(Path(data_path))
    registry = get_registry(params.plugins.paths)
    parts = build_parts(params.student, registry, data.image_shape)
    logits = read_npz(teacher_logits_path)["train"] if mode == "kd" and teacher_logits_path else None
    result = train_student(params, parts, data, mode, Path(out_dir), teacher_train_logits=logits,
                           reducer_state=read_npz(reducer_path), seed=seed, on_epoch=on_epoch, variant=variant,
                           reuse=reuse)
    s = params.student
    metrics = {**result.metrics, **evaluate(result.model, data), **evaluate_fixed_budget(result, data, Path(out_dir)),
               "dir": str(out_dir), "dataset": params.data.name, "n_qubits": s.n_qubits, "reducer": s.reducer,
               "encoder": s.encoder, "ansatz": s.ansatz}
    atomic_write_json(Path(out_dir) / "params.json", params.as_dict())
    atomic_write_json(Path(out_dir) / "metrics.json", metrics)
    return metrics


def students_stage(
    params: Params, mode: str, variant: str, seeds: Sequence[int], data_path: Path, teacher_logits_path: Path | None,
    reducer_path: Path, out_root: Path, on_epoch: Callable[[str, dict[str, float]], None] | None = None,
) -> list[dict[str, Any]]:
    """:func:`student_stage` for each seed of one variant and mode, in ``out_root/<student_name>``, reusing
    one traced model across the seeds; returns the metrics in seed order."""
    reuse: dict[str, Any] = {}
    out = []
    for seed in seeds:
        name = student_name(variant, mode, seed)
        hook = None if on_epoch is None else functools.partial(on_epoch, name)
        out.append(student_stage(params, mode, seed, data_path, teacher_logits_path, reducer_path,
                                 Path(out_root) / name, on_epoch=hook, variant=variant, reuse=reuse))
    return out
