"""Classical controls: exactly the circuit's trainable-parameter count, the same inputs and outputs."""

from __future__ import annotations

import numpy as np
import pytest

from qkernel.errors import InputError
from qkernel.nn.controls import ClassicalStudent, MatchedLayer, quantum_part_shape
from qkernel.nn.student import StudentDesign, build_parts, build_student
from qkernel.plugin.registry import get_registry

DESIGNS = [
    StudentDesign(n_qubits=4, depth=2),                                       # fc + amplitude, ⟨Z⟩
    StudentDesign(n_qubits=4, depth=1, reducer="avgpool", encoder="angle"),  # few classical parameters
    StudentDesign(n_qubits=3, depth=1, reducer="crop", encoder="qubit", readout="hermitian"),  # readout weights too
]


@pytest.mark.parametrize("design", DESIGNS, ids=lambda d: f"{d.reducer}-{d.encoder}-{d.readout}")
def test_the_matched_control_has_exactly_the_quantum_parts_trainable_parameters(design: StudentDesign) -> None:
    registry = get_registry()
    parts = build_parts(design, registry, (28, 28))
    quantum = build_student(parts, (28, 28), 10, seed=0).parameter_counts()
    assert quantum_part_shape(parts)[0] == quantum["quantum"]
    matched = registry.create("model", "control_matched", input_shape=(28, 28), num_classes=10, seed=0,
                              **design.__dict__)
    none = registry.create("model", "control_none", input_shape=(28, 28), num_classes=10, seed=0, **design.__dict__)
    counts, bare = matched.parameter_counts(), none.parameter_counts()
    assert counts["middle"] == quantum["quantum"] and counts["quantum"] == 0
    assert counts["total"] == quantum["total"]  # the same reducer and head around a same-size middle
    assert bare["middle"] == 0 and bare["total"] == quantum["classical"] - _head(quantum, parts) + _head_on(parts)
    x = np.random.default_rng(0).random((5, 28, 28), dtype=np.float32)
    assert matched(x).shape == none(x).shape == (5, 10)


def _head(quantum: dict, parts) -> int:
    width = quantum_part_shape(parts)[1]
    return (width + 1) * 10


def _head_on(parts) -> int:
    return (parts.encoder.n_features + 1) * 10


def test_matched_layer_outputs_lie_in_the_range_of_an_expectation_and_every_weight_gets_gradient() -> None:
    import tensorflow as tf

    layer = MatchedLayer(n_inputs=16, n_outputs=4, n_params=18, seed=3)  # 18 is not a multiple of 4
    x = tf.constant(np.random.default_rng(1).normal(size=(8, 16)) * 10, tf.float32)
    with tf.GradientTape() as tape:
        y = layer(x)
        loss = tf.reduce_sum(y**2)
    assert y.shape == (8, 4) and float(tf.reduce_max(tf.abs(y))) <= 1.0
    assert [int(np.prod(v.shape)) for v in layer.trainable_weights] == [18]
    assert np.all(tape.gradient(loss, layer.trainable_weights[0]).numpy() != 0)
    again = MatchedLayer(16, 4, 18, seed=3)
    np.testing.assert_allclose(again(x).numpy(), y.numpy(), rtol=1e-6)  # seeded: the same control every time


def test_bad_controls_are_refused() -> None:
    with pytest.raises(InputError, match="more parameters than outputs"):
        MatchedLayer(16, 4, 4)
    parts = build_parts(DESIGNS[0], get_registry(), (28, 28))
    with pytest.raises(InputError, match="middle must be"):
        ClassicalStudent(parts, (28, 28), 10, seed=0, middle="dense")
    with pytest.raises(ValueError, match="must be fitted on data first"):
        get_registry().create("model", "control_matched", input_shape=(28, 28), num_classes=10, reducer="pca",
                              n_qubits=4)
