"""Quantum LeNet (the DD paper's model): size, readouts, every parameter gets gradient."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from qkernel.nn.functional import FunctionalModel
from qkernel.plugin.registry import get_registry


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


def test_every_quantum_lenet_parameter_gets_gradient_with_a_fixed_hermitian_readout() -> None:
    model = build(readout="hermitian-fixed")
    names = FunctionalModel(model).names()
    assert not any("a_real" in n for n in names)  # H is fixed, not trained
    x, y = batch(12)
    with tf.GradientTape() as tape:
        loss = ce(y, model(x))
    assert_every_entry_nonzero(tape.gradient(loss, model.trainable_variables), names)


def test_pauli_z_readout_leaves_only_the_last_rz_layer_dead() -> None:
    model = build(readout="z")
    x, y = batch(12)
    with tf.GradientTape() as tape:
        loss = ce(y, model(x))
    g = tape.gradient(loss, model.get_layer("pqc").circuit_weights).numpy().reshape(3, 6, 3)
    assert np.all(g[:, :, :2] != 0) and np.all(g[:2, :, 2] != 0)
    np.testing.assert_array_equal(g[2, :, 2], 0.0)  # the final RZ(ω) commutes with the ⟨Z⟩ readout


def test_quantum_lenet_size_and_hermitian_modes() -> None:
    counts = {r: sum(int(np.prod(v.shape)) for v in build(readout=r).trainable_variables)
              for r in ("hermitian", "hermitian-fixed", "z")}
    assert counts["hermitian"] == 59_369  # ~59k as published
    assert counts["hermitian"] - counts["hermitian-fixed"] == 48  # a_real, a_imag (6, 2, 2) frozen
    assert counts["z"] == counts["hermitian-fixed"]
    with pytest.raises(ValueError, match="readout must be one of"):
        build(readout="xx")
