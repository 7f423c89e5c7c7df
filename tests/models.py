"""Helpers of the model tests: registered models by name, random image batches, loss, gradient checks."""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from qkernel.nn.functional import FunctionalModel
from qkernel.plugin.registry import get_registry

__all__ = ["assert_every_entry_nonzero", "assert_every_weight_trains", "batch", "build", "ce"]


def build(name: str = "quantum_lenet", seed: int = 0, **options) -> tf.keras.Model:
    tf.keras.utils.set_random_seed(seed)
    return get_registry().create("model", name, input_shape=(28, 28), num_classes=10, **options)


def batch(n: int, seed: int = 0) -> tuple[tf.Tensor, tf.Tensor]:
    rng = np.random.default_rng(seed)
    return tf.constant(rng.random((n, 28, 28), dtype=np.float32)), tf.constant(np.arange(n) % 10)


def ce(y: tf.Tensor, logits: tf.Tensor) -> tf.Tensor:
    return tf.reduce_mean(tf.keras.losses.sparse_categorical_crossentropy(y, logits, from_logits=True))


def assert_every_entry_nonzero(grads: list[tf.Tensor], names: list[str]) -> None:
    for g, name in zip(grads, names):
        assert g is not None, f"{name} has no gradient"
        g = np.asarray(g)
        if "circuit_weights" in name or "alpha" in name:
            assert np.all(g != 0), f"{name}: entries {np.flatnonzero(g == 0).tolist()} get zero gradient"
        else:
            assert np.any(g != 0), f"{name} gets zero gradient"


def assert_every_weight_trains(model: tf.keras.Model, x: tf.Tensor, y: tf.Tensor) -> FunctionalModel:
    """Every weight of ``model`` gets gradient through :class:`FunctionalModel` (the path every DD method
    trains through), at the model's current weights; returns that functional model."""
    fm = FunctionalModel(model)
    weights = fm.current()
    with tf.GradientTape() as tape:
        tape.watch(weights)
        loss = ce(y, fm(weights, x, training=True))
    assert_every_entry_nonzero(tape.gradient(loss, weights), fm.names())
    return fm
