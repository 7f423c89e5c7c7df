"""Unrolled SGD on a synthetic set, differentiable to second order (performance matching and evaluation).

``w_{t+1} = w_t − η_t ∇_w CE(f(w_t, X̃_t), ỹ_t)``: each of the ``steps`` steps of an epoch
trains on its own class-balanced slice ``X̃_t`` of the synthetic set with its own rate
``η_t`` (a scalar, or one rate per weight tensor). Models are called through
:class:`qkernel.nn.functional.FunctionalModel`, so quantum layers differentiate through the
native kernel to any order.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import tensorflow as tf

from qkernel.errors import ConfigError
from qkernel.nn.functional import FunctionalModel

__all__ = ["cross_entropy", "inner_train", "step_batches", "train_on"]


def cross_entropy(labels: tf.Tensor, logits: tf.Tensor) -> tf.Tensor:
    return tf.reduce_mean(tf.keras.losses.sparse_categorical_crossentropy(labels, logits, from_logits=True))


def step_batches(labels: np.ndarray, steps: int) -> np.ndarray:
    """Indices ``(steps, N / steps)`` of the synthetic images each inner step trains on.

    As in Wang et al., step ``t`` of every epoch uses its own class-balanced slice: the
    ``j``-th image of each class belongs to step ``j mod steps``.

    Raises:
        ConfigError: if the images per class are not a multiple of ``steps``.
    """
    classes = np.unique(labels)
    per_class = np.array([np.sum(labels == c) for c in classes])
    if np.any(per_class % steps):
        raise ConfigError(
            f"dd.images_per_class ({per_class.max()}) must be a multiple of the inner steps per epoch ({steps}): "
            "every inner step trains on its own class-balanced slice of the synthetic images"
        )
    rank = np.zeros(len(labels), dtype=np.int64)
    for c in classes:
        idx = np.flatnonzero(labels == c)
        rank[idx] = np.arange(len(idx))
    return np.stack([np.flatnonzero(rank % steps == t) for t in range(steps)])


def inner_train(
    fm: FunctionalModel, weights: Sequence[tf.Tensor], images: tf.Tensor, labels: tf.Tensor, rates: tf.Tensor,
    batches: np.ndarray | None = None,
) -> list[tf.Tensor]:
    """``len(rates)`` gradient steps on the synthetic set; differentiable in every input.

    Step ``t`` trains on ``images[batches[t % len(batches)]]`` (default: every image) with
    rate ``rates[t]``: a scalar, or — for ``rates`` of shape ``(T, n_weights)`` — one rate per
    weight tensor.
    Inside an outer ``GradientTape`` the result carries second-order gradients to ``images``
    and ``rates`` (each inner gradient is itself recorded). In a ``tf.function`` the steps
    are one ``tf.while_loop`` (its body traced once, however many steps), eagerly a Python loop.
    """
    if batches is None:
        batches = np.arange(int(images.shape[0]))[None, :]
    index = tf.constant(batches, tf.int64)
    n_batches = int(batches.shape[0])

    def step(t: tf.Tensor, ws: list[tf.Tensor]) -> list[tf.Tensor]:
        pick = tf.gather(index, tf.math.floormod(t, n_batches))
        x, y = tf.gather(images, pick), tf.gather(labels, pick)
        with tf.GradientTape() as tape:
            tape.watch(ws)
            loss = cross_entropy(y, fm(ws, x, training=True))
        grads = tape.gradient(loss, ws)
        rate = tf.gather(rates, t)  # a scalar, or one rate per weight tensor
        per_tensor = [rate[i] for i in range(len(ws))] if rates.shape.rank == 2 else [rate] * len(ws)
        return [w - r * g for w, r, g in zip(ws, per_tensor, grads)]

    weights = [tf.convert_to_tensor(w) for w in weights]
    n = int(rates.shape[0])
    if tf.executing_eagerly():
        for t in range(n):
            weights = step(tf.constant(t), weights)
        return weights
    _, weights = tf.while_loop(
        lambda t, ws: t < n,
        lambda t, ws: (t + 1, step(t, ws)),
        (tf.constant(0), weights),
        shape_invariants=(tf.TensorShape([]), [w.shape for w in weights]),
    )
    return list(weights)


def train_on(
    fm: FunctionalModel, weights: Sequence[tf.Tensor], images: np.ndarray, labels: np.ndarray, rates: np.ndarray,
    steps: int,
) -> list[tf.Tensor]:
    """Train from ``weights`` on a distilled set with its learned rates, ``steps`` slices per epoch."""
    batches = step_batches(labels, steps)
    cache = fm.__dict__.setdefault("_qdistill_inner", {})  # one traced loop per slicing
    key = (batches.shape, batches.tobytes())
    run = cache.get(key)
    if run is None:
        run = cache[key] = tf.function(lambda w, x, y, r: inner_train(fm, w, x, y, r, batches))
    return run(list(weights), tf.convert_to_tensor(images), tf.convert_to_tensor(labels), tf.convert_to_tensor(rates))
