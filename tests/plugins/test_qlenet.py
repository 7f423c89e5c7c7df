"""Quantum LeNet, the DD literature's ConvNet and the two combined: size, readouts, every parameter gets gradient."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from qkernel.nn.functional import FunctionalModel
from qkernel.plugin.registry import get_registry
from tests.models import assert_every_entry_nonzero, assert_every_weight_trains, batch, build, ce


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


def test_convnet_is_the_literature_size_normalises_each_image_and_trains_every_weight_through_given_weights() -> None:
    assert build("convnet").count_params() == 308_746  # 3 × (conv 128, instance norm), linear 1152 → 10
    model = build("convnet", width=8)
    x, y = batch(6)
    norm = tf.keras.Model(model.inputs, model.get_layer("norm1").output)(x).numpy()
    np.testing.assert_allclose(norm.mean(axis=(1, 2)), 0.0, atol=1e-4)  # per image and channel: instance norm
    np.testing.assert_allclose(norm.std(axis=(1, 2)), 1.0, atol=1e-2)
    fm = assert_every_weight_trains(model, x, y)
    np.testing.assert_allclose(fm(fm.current(), x).numpy(), model(x).numpy(), atol=1e-5)
    with pytest.raises(ValueError, match=r"H, W >= 2\*\*depth \(16\)"):
        get_registry().create("model", "convnet", input_shape=(8, 8), num_classes=10, depth=4)


def test_quantum_convnet_puts_quantum_lenets_head_on_the_convnet_trunk_and_trains_every_weight() -> None:
    full = build("quantum_convnet")
    trunk = build("convnet", width=64).count_params() - (576 * 10 + 10)  # the ConvNet without its linear layer
    head = build().count_params() - build("lenet").count_params() + (120 * 84 + 84) + (84 * 10 + 10)
    assert full.count_params() == trunk + head + (576 - 120) * 64  # fc2 reads 576 trunk features, not 120
    pqc = sum(int(np.prod(v.shape)) for v in full.get_layer("pqc").trainable_variables)
    hermitian = sum(int(np.prod(v.shape)) for v in full.get_layer("hermitian").trainable_variables)
    assert (pqc, hermitian) == (54, 48)  # quantum LeNet's 102 quantum parameters
    assert_every_weight_trains(build("quantum_convnet", width=8), *batch(10))
    with pytest.raises(ValueError, match="quantum_convnet: readout must be one of"):
        build("quantum_convnet", readout="xx")


def test_parameter_counts_split_circuit_angles_and_observables_from_classical_weights() -> None:
    from qkernel.nn.layers import parameter_counts

    assert parameter_counts(build()) == {"quantum": 102, "classical": 59_267, "total": 59_369}  # 54 angles + 48
    assert parameter_counts(build(readout="hermitian-fixed"))["quantum"] == 54  # the frozen observables do not count
    assert parameter_counts(build("quantum_convnet")) == {"quantum": 102, "classical": 112_639, "total": 112_741}
    assert parameter_counts(build("lenet")) == {"quantum": 0, "classical": 61_706, "total": 61_706}


@pytest.mark.parametrize("model", ["quantum_lenet", "quantum_convnet"])
def test_the_matched_middle_is_a_classical_layer_of_exactly_the_circuits_parameter_count(model: str) -> None:
    """``middle: matched``, the parameter-matched control of a quantum DD model: the circuit and readout
    (102 trainable parameters) become one classical layer of 102; everything else is the same model."""
    from qkernel.nn.layers import parameter_counts

    quantum, control = build(model), build(model, middle="matched")
    assert parameter_counts(control) == {"quantum": 0, "classical": parameter_counts(quantum)["total"],
                                         "total": parameter_counts(quantum)["total"]}
    assert parameter_counts(control.get_layer("matched"))["total"] == 102

    def rest(m: tf.keras.Model) -> list[tuple[str, int]]:  # every layer but the middle: kind and size
        return [(type(layer).__name__, layer.count_params()) for layer in m.layers
                if layer.name not in ("matched", "pqc", "hermitian")]

    assert rest(control) == rest(quantum)
    fresh = [build(model, middle="matched", seed=s).get_layer("matched").get_weights()[0] for s in (1, 2)]
    assert not np.allclose(fresh[0], fresh[1])  # a fresh initialisation draws its projection anew
    small = {"width": 8} if model == "quantum_convnet" else {}
    assert_every_weight_trains(build(model, middle="matched", **small), *batch(10))
    with pytest.raises(ValueError, match=f"{model}: middle must be one of circuit, matched; got 'qubits'"):
        build(model, middle="qubits")
