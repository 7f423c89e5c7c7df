"""Quantum LeNet (the DD paper's model): size, readouts, every parameter gets gradient."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from qkernel.nn.functional import FunctionalModel
from tests.models import assert_every_entry_nonzero, batch, build, ce


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
