"""A small, deterministic, resumable supervised training loop.

Used for teachers, quantum students and evaluation runs alike. Why not ``model.fit``:
a killed run must resume from its last epoch to *the same* final weights, which needs the
per-epoch data order, the early-stopping state and the best weights in the checkpoint —
Keras' ``BackupAndRestore`` keeps none of these.

Determinism: epoch ``e`` visits the training set in the order
``numpy.random.default_rng([seed, e]).permutation(n)``; model selection uses the
validation split only (the test split is never seen here).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import tensorflow as tf

from qkernel.io import atomic_write_json

# Each new model (or optimizer) gets freshly traced tf.functions; TF's "retracing" warnings
# about that are expected here and only confuse users.
tf.get_logger().setLevel("ERROR")

#: loss_fn(model, x_batch, y_batch, extra_batch, training) -> scalar loss tensor
LossFn = Callable[[tf.keras.Model, tf.Tensor, tf.Tensor, Any, bool], tf.Tensor]


@dataclass
class FitResult:
    """Outcome of :func:`fit`.

    Attributes:
        history: Per-epoch records (``epoch``, ``loss``, ``val_loss``, ``val_accuracy``).
        best_epoch: Epoch (1-based) whose weights were kept.
        best_val_accuracy: Validation accuracy of the kept weights.
        stopped_early: Whether patience ran out before ``epochs``.
        resumed_from: Epoch restored from a checkpoint (0 for a fresh run).
        stop_epoch: Epochs that early stopping trained (``epochs`` when patience never ran out).
        final_weights: With ``train_past_stop``, the weights after the last of ``epochs``
            epochs (the fixed-budget model, no selection), as numpy arrays in ``model.weights`` order.
    """

    history: list[dict[str, float]] = field(default_factory=list)
    best_epoch: int = 0
    best_val_accuracy: float = -1.0
    stopped_early: bool = False
    resumed_from: int = 0
    stop_epoch: int = 0
    final_weights: list[np.ndarray] | None = None


def cross_entropy_loss(model: tf.keras.Model, x: tf.Tensor, y: tf.Tensor, extra: Any, training: bool) -> tf.Tensor:
    """Mean sparse categorical cross-entropy of the model's logits."""
    logits = model(x, training=training)
    return tf.reduce_mean(tf.keras.losses.sparse_categorical_crossentropy(y, logits, from_logits=True))


def predict_logits(model: tf.keras.Model, x: np.ndarray, batch_size: int = 512) -> np.ndarray:
    """Logits for ``x`` in batches (inference mode); the traced function is cached on the model."""
    step = getattr(model, "_qdistill_predict", None)
    if step is None:
        step = tf.function(lambda b: model(b, training=False), reduce_retracing=True)
        model._qdistill_predict = step
    outs = [step(tf.convert_to_tensor(x[i : i + batch_size])).numpy() for i in range(0, len(x), batch_size)]
    return np.concatenate(outs) if outs else np.zeros((0, model.output_shape[-1]), np.float32)


def accuracy(model: tf.keras.Model, x: np.ndarray, y: np.ndarray, batch_size: int = 512) -> float:
    """Top-1 accuracy of ``model`` on ``(x, y)``."""
    return float(np.mean(np.argmax(predict_logits(model, x, batch_size), axis=1) == y))


def _steps(model: tf.keras.Model, optimizer: tf.keras.optimizers.Optimizer, loss_fn: LossFn) -> tuple[Any, Any]:
    """The traced train-epoch and eval steps of ``model`` with ``optimizer`` and ``loss_fn``, cached on the model.

    Tracing a quantum model's step costs seconds; a caller that trains the same model
    object again (with the same optimizer, reset) reuses the traced graphs. The cache key
    holds the optimizer alive, so its ``id`` cannot be reused by another one.

    A whole epoch is one call: the batches are sliced from the epoch's order inside the graph,
    so a small model's step (a few milliseconds of work) does not wait on Python between batches.
    """
    cache = model.__dict__.setdefault("_qdistill_fit_steps", {})
    key = (id(optimizer), loss_fn)
    if key in cache:
        return cache[key][1:]

    def train_step(xb: tf.Tensor, yb: tf.Tensor, eb: Any) -> tf.Tensor:
        with tf.GradientTape() as tape:
            loss = loss_fn(model, xb, yb, eb, True)
        grads = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(zip(grads, model.trainable_variables))
        return loss

    @tf.function(reduce_retracing=True)
    def train_epoch(x: tf.Tensor, y: tf.Tensor, extra: Any, order: tf.Tensor, batch_size: tf.Tensor) -> tf.Tensor:
        """Every batch of ``order`` (consecutive slices of ``batch_size``) in turn; the per-batch losses."""
        n_batches = (tf.size(order) + batch_size - 1) // batch_size
        losses = tf.TensorArray(tf.float32, size=n_batches)
        for b in tf.range(n_batches):
            idx = order[b * batch_size:(b + 1) * batch_size]
            eb = None if extra is None else tf.gather(extra, idx)
            losses = losses.write(b, tf.cast(train_step(tf.gather(x, idx), tf.gather(y, idx), eb), tf.float32))
        return losses.stack()

    @tf.function(reduce_retracing=True)
    def eval_step(xb: tf.Tensor, yb: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        logits = model(xb, training=False)
        loss = tf.keras.losses.sparse_categorical_crossentropy(yb, logits, from_logits=True)
        hits = tf.cast(tf.equal(tf.argmax(logits, axis=1, output_type=yb.dtype), yb), tf.float32)
        return tf.reduce_sum(loss), tf.reduce_sum(hits)

    cache[key] = (optimizer, train_epoch, eval_step)
    return train_epoch, eval_step


#: Learning-rate schedules of :func:`make_optimizer`.
SCHEDULES = ("constant", "cosine")


def make_optimizer(
    learning_rate: float, schedule: str = "constant", epochs: int = 1, steps_per_epoch: int = 1
) -> tf.keras.optimizers.Optimizer:
    """Adam at ``learning_rate``, constant or decayed to 0 along a cosine over ``epochs × steps_per_epoch`` steps.

    Raises:
        ValueError: for a schedule not in :data:`SCHEDULES`.
    """
    if schedule not in SCHEDULES:
        raise ValueError(f"unknown learning-rate schedule {schedule!r}; expected one of {', '.join(SCHEDULES)}")
    if schedule == "cosine":
        learning_rate = tf.keras.optimizers.schedules.CosineDecay(learning_rate, max(1, epochs * steps_per_epoch))
    return tf.keras.optimizers.Adam(learning_rate)


def reset_optimizer(optimizer: tf.keras.optimizers.Optimizer) -> None:
    """Zero a built optimizer's state (step count, moments): it then behaves as a new one."""
    for v in optimizer.variables:
        v.assign(tf.zeros_like(v))


def fit(
    model: tf.keras.Model,
    train: tuple[np.ndarray, np.ndarray],
    val: tuple[np.ndarray, np.ndarray],
    *,
    epochs: int,
    batch_size: int,
    optimizer: tf.keras.optimizers.Optimizer,
    seed: int,
    loss_fn: LossFn = cross_entropy_loss,
    extra: np.ndarray | None = None,
    patience: int | None = None,
    checkpoint_dir: str | Path | None = None,
    on_epoch: Callable[[dict[str, float]], None] | None = None,
    on_batch: Callable[[int, int], None] | None = None,
    stop_after_epoch: int | None = None,
    train_past_stop: bool = False,
) -> FitResult:
    """Train ``model`` with early stopping on validation accuracy; keep the best weights.

    With ``train_past_stop`` one run gives both models of an equal-budget comparison: training
    goes on to ``epochs`` after patience runs out, the selection is frozen at that point (the
    same weights early stopping would keep, as the data order does not depend on it), and the
    weights after the last epoch are returned as ``final_weights`` (the fixed-budget model).

    Args:
        model: A built Keras model returning logits.
        train: ``(x, y)`` training arrays.
        val: ``(x, y)`` validation arrays (model selection only).
        epochs: Maximum number of epochs.
        batch_size: Mini-batch size.
        optimizer: The optimizer (its state is checkpointed).
        seed: Seed of the per-epoch data order.
        loss_fn: ``loss_fn(model, x, y, extra, training)``; default cross-entropy.
        extra: Per-sample array aligned with ``train`` passed to ``loss_fn`` (e.g. cached
            teacher logits for knowledge distillation).
        patience: Stop after this many epochs without a better validation accuracy.
        checkpoint_dir: If given, a checkpoint is written after every epoch and a run that
            finds one resumes from it.
        on_epoch: Called with each epoch's record (progress, logging).
        on_batch: Called as ``on_batch(batches_done, n_batches)`` after each epoch's batches (progress bars).
        stop_after_epoch: Return after this epoch as if killed (tests of resumption).
        train_past_stop: Train all ``epochs`` and also return the final weights (see above).

    Returns:
        The :class:`FitResult`; ``model`` holds the best weights.
    """
    x_train, y_train = train
    n = len(x_train)
    n_batches = max(1, -(-n // batch_size))
    x_t, y_t = tf.convert_to_tensor(x_train), tf.convert_to_tensor(y_train)
    extra_t = None if extra is None else tf.convert_to_tensor(extra)
    batch_t = tf.constant(batch_size, tf.int32)

    train_epoch, eval_step = _steps(model, optimizer, loss_fn)

    def evaluate(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
        total_loss, total_hits = 0.0, 0.0
        for i in range(0, len(x), 512):
            l, h = eval_step(tf.convert_to_tensor(x[i : i + 512]), tf.convert_to_tensor(y[i : i + 512]))
            total_loss, total_hits = total_loss + float(l), total_hits + float(h)
        return total_loss / max(len(x), 1), total_hits / max(len(x), 1)

    # Build optimizer slots before any restore so the checkpoint maps onto them.
    optimizer.build(model.trainable_variables)
    best_weights = [tf.Variable(v, trainable=False) for v in model.weights]
    state = {"epoch": tf.Variable(0, dtype=tf.int64), "wait": tf.Variable(0, dtype=tf.int64),
             "best_acc": tf.Variable(-1.0, dtype=tf.float64), "best_epoch": tf.Variable(0, dtype=tf.int64)}
    ckpt = tf.train.Checkpoint(model=model, optimizer=optimizer, best=best_weights, **state)
    manager = None
    result = FitResult()
    if checkpoint_dir is not None:
        checkpoint_dir = Path(checkpoint_dir)
        manager = tf.train.CheckpointManager(ckpt, str(checkpoint_dir), max_to_keep=1)
        if manager.latest_checkpoint:
            ckpt.restore(manager.latest_checkpoint).assert_existing_objects_matched()
            result.resumed_from = int(state["epoch"].numpy())
            history_file = checkpoint_dir / "history.json"
            history = json.loads(history_file.read_text()) if history_file.is_file() else []
            if len(history) < result.resumed_from:
                raise RuntimeError(f"{history_file} has {len(history)} epochs, the checkpoint {result.resumed_from}")
            result.history = history[: result.resumed_from]

    for epoch in range(int(state["epoch"].numpy()) + 1, epochs + 1):
        selecting = patience is None or int(state["wait"].numpy()) < patience
        if not selecting and not train_past_stop:
            result.stopped_early = True
            break
        order = np.random.default_rng([seed, epoch]).permutation(n)
        losses = train_epoch(x_t, y_t, extra_t, tf.constant(order, tf.int32), batch_t).numpy()
        if on_batch is not None:
            on_batch(n_batches, n_batches)
        val_loss, val_acc = evaluate(*val)
        record = {"epoch": epoch, "loss": float(np.mean(losses)), "val_loss": val_loss, "val_accuracy": val_acc}
        result.history.append(record)
        if not selecting:
            pass  # early stopping has chosen; training goes on for the fixed-budget model only
        elif val_acc > float(state["best_acc"].numpy()):
            state["best_acc"].assign(val_acc)
            state["best_epoch"].assign(epoch)
            state["wait"].assign(0)
            for dst, src in zip(best_weights, model.weights):
                dst.assign(src)
        else:
            state["wait"].assign_add(1)
        state["epoch"].assign(epoch)
        if manager is not None:
            # History first: a kill between the two writes then leaves a history at least as
            # long as the checkpoint's epoch, and resumption truncates it to that epoch.
            atomic_write_json(checkpoint_dir / "history.json", result.history)
            manager.save(checkpoint_number=epoch)
        if on_epoch is not None:
            on_epoch(record)
        if stop_after_epoch is not None and epoch >= stop_after_epoch:
            return result

    if train_past_stop:
        result.final_weights = [v.numpy() for v in model.weights]
    for dst, src in zip(model.weights, best_weights):
        dst.assign(src)
    result.best_epoch = int(state["best_epoch"].numpy())
    result.best_val_accuracy = float(state["best_acc"].numpy())
    ran_out = patience is not None and int(state["wait"].numpy()) >= patience
    result.stop_epoch = min(result.best_epoch + patience, epochs) if ran_out else int(state["epoch"].numpy())
    result.stopped_early = result.stop_epoch < epochs
    return result
