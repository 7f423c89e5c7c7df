"""Classical → quantum knowledge distillation (Hasan & Mahdy, arXiv:2311.13810): training and stages.

Stages, each a plain function the flows wrap as a task (and ``dvc.yaml`` runs through the CLI):

* :func:`train_teacher` — a classical model trained with early stopping on validation;
* :func:`teacher_logits` — the frozen teacher's logits, computed once and cached;
* :func:`train_student` — the quantum student with the baseline (CE) or KD loss;
* :func:`evaluate` — the test split, touched once, after model selection on validation.

The loss is :mod:`qkernel.methods.kd.loss`. The ``*_stage`` functions work on files and call
the lifecycle hooks (:mod:`qkernel.plugin.lifecycle`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import tensorflow as tf

from qkernel.config import Params
from qkernel.data import PreparedDataset, load_prepared
from qkernel.errors import ConfigError, QDistillError
from qkernel.io import atomic_save_npz, atomic_write_json, read_npz, save_weights
from qkernel.methods.kd.config import TeacherParams
from qkernel.methods.kd.loss import make_loss
from qkernel.nn.student import StudentParts, build_parts, build_student
from qkernel.nn.training import FitResult, fit, predict_logits
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
        ConfigError: unknown dataset, teacher or plugin; qubit count not fitting the encoder
            or reducer; a backend that cannot train.
    """
    try:
        source = registry.create("dataset", params.data.name)
        registry.get("model", params.teacher.model)
    except QDistillError as exc:
        raise ConfigError(str(exc)) from exc
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
            epochs=tp.epochs, batch_size=tp.batch_size, optimizer=tf.keras.optimizers.Adam(tp.learning_rate),
            seed=params.seed + i, patience=tp.patience, checkpoint_dir=out_dir / "checkpoints" / member.name,
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
) -> StageResult:
    """Train a quantum student (``baseline`` or ``kd``) with model selection on validation.

    A checkpoint is written every epoch under ``out_dir/checkpoints``; a rerun resumes there.

    Raises:
        ConfigError: for ``kd`` without teacher logits, or logits not aligned with the training set.
    """
    seed = params.seed if seed is None else seed
    if mode == "kd":
        if teacher_train_logits is None or teacher_train_logits.shape != (len(data.y["train"]), data.num_classes):
            got = None if teacher_train_logits is None else teacher_train_logits.shape
            raise ConfigError(f"kd student needs teacher logits of shape {(len(data.y['train']), data.num_classes)}, got {got}")
    sp = params.student
    model = build_student(parts, data.image_shape, data.num_classes, seed, reducer_state)
    result = fit(
        model, (data.x["train"], data.y["train"]), (data.x["val"], data.y["val"]),
        epochs=sp.epochs, batch_size=sp.batch_size, optimizer=tf.keras.optimizers.Adam(sp.learning_rate),
        seed=seed, loss_fn=make_loss(mode, params.kd), extra=teacher_train_logits if mode == "kd" else None,
        patience=sp.patience, checkpoint_dir=out_dir / "checkpoints", on_epoch=on_epoch, on_batch=on_batch,
        stop_after_epoch=stop_after_epoch,
    )
    metrics = {
        "mode": mode,
        "seed": seed,
        "student": parts.describe(),
        "parameters": model.parameter_counts(),
        "best_epoch": result.best_epoch,
        "val_accuracy": result.best_val_accuracy,
        "epochs_run": len(result.history),
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
    out_dir: Path, on_epoch: EpochHook = None,
) -> dict[str, Any]:
    """Train one student, evaluate it once on test, write ``weights.npz``, ``metrics.json`` and
    ``params.json`` (the parameters that rebuild it, e.g. for ``qdistill evaluate``)."""
    data = load_prepared(Path(data_path))
    parts = build_parts(params.student, get_registry(params.plugins.paths), data.image_shape)
    logits = read_npz(teacher_logits_path)["train"] if mode == "kd" and teacher_logits_path else None
    result = train_student(params, parts, data, mode, Path(out_dir), teacher_train_logits=logits,
                           reducer_state=read_npz(reducer_path), seed=seed, on_epoch=on_epoch)
    s = params.student
    metrics = {**result.metrics, **evaluate(result.model, data), "dir": str(out_dir), "dataset": params.data.name,
               "n_qubits": s.n_qubits, "reducer": s.reducer, "encoder": s.encoder, "ansatz": s.ansatz}
    atomic_write_json(Path(out_dir) / "params.json", params.as_dict())
    atomic_write_json(Path(out_dir) / "metrics.json", metrics)
    return metrics
