"""Built-in encoders: contract conformance (every registered encoder) and exact behaviour."""

from __future__ import annotations

import qkernel  # noqa: F401  (sets TF_USE_LEGACY_KERAS before TensorFlow loads)

import cirq
import numpy as np
import pluggy
import pytest
import tensorflow as tf

import plugins.encoders
from plugins.encoders import AmplitudeEncoder, AngleEncoder, QubitEncoder
from qkernel.plugin import hookspecs
from qkernel.plugin.contracts import Encoder
from qkernel.errors import ConfigError, InputError

SIM = cirq.Simulator(dtype=np.complex128)


def _registered() -> list[type]:
    manager = pluggy.PluginManager(hookspecs.PROJECT)
    manager.add_hookspecs(hookspecs)
    manager.register(plugins.encoders)
    return [factory for result in manager.hook.register_encoders() for factory in result]


ENCODERS = _registered()


def _final_state(encoder: Encoder, features: np.ndarray) -> np.ndarray:
    qubits = cirq.LineQubit.range(encoder.n_qubits)
    circuit = encoder.circuit(qubits)
    values = encoder.symbol_values(tf.constant(features, tf.float64)).numpy()
    out = []
    for row in values:
        resolver = cirq.ParamResolver(dict(zip(encoder.symbols(), row.tolist())))
        out.append(SIM.simulate(circuit, resolver, qubit_order=qubits).final_state_vector)
    return np.array(out)


def _bloch(states: np.ndarray, n: int) -> np.ndarray:
    """(B, n, 3) single-qubit ⟨X⟩, ⟨Y⟩, ⟨Z⟩."""
    paulis = [np.array([[0, 1], [1, 0]]), np.array([[0, -1j], [1j, 0]]), np.diag([1, -1])]
    out = np.zeros((len(states), n, 3))
    for b, psi in enumerate(states):
        for i in range(n):
            t = np.moveaxis(psi.reshape([2] * n), i, 0).reshape(2, -1)
            rho = t @ t.conj().T
            out[b, i] = [np.trace(rho @ p).real for p in paulis]
    return out


def test_registered_names() -> None:
    assert [f.name for f in ENCODERS] == ["amplitude", "angle", "qubit"]


@pytest.mark.parametrize("factory", ENCODERS, ids=lambda f: f.name)
@pytest.mark.parametrize("n_qubits", [1, 3])
def test_conformance(factory: type, n_qubits: int) -> None:
    encoder = factory(n_qubits=n_qubits)
    assert isinstance(encoder, Encoder)
    assert factory.__doc__ and factory.__doc__.strip().splitlines()[0].endswith(".")
    symbols = encoder.symbols()
    assert len(set(symbols)) == len(symbols)
    assert all(not str(s).startswith("w_") for s in symbols)  # ansatz weights use w_
    circuit = encoder.circuit(cirq.LineQubit.range(n_qubits))
    assert cirq.parameter_symbols(circuit) == set(symbols)
    assert circuit.all_qubits() == set(cirq.LineQubit.range(n_qubits))
    x = np.random.default_rng(0).uniform(0.1, 1.0, size=(4, encoder.n_features)).astype(np.float32)
    values = encoder.symbol_values(tf.constant(x))
    assert values.dtype == tf.float32 and tuple(values.shape) == (4, len(symbols))
    assert encoder.symbol_values(tf.constant(x, tf.float64)).dtype == tf.float64
    with pytest.raises(InputError, match=rf"{factory.name} encoder.*\(batch, {encoder.n_features}\).*width {encoder.n_features + 1}"):
        encoder.symbol_values(tf.zeros([2, encoder.n_features + 1]))
    with pytest.raises(InputError, match=r"received shape \(3,\)"):
        encoder.symbol_values(tf.zeros([3]))
    bad = x.copy()
    bad[2, 0] = np.nan
    with pytest.raises(InputError, match=rf"{factory.name} encoder.*finite.*rows 2"):
        encoder.symbol_values(bad)


@pytest.mark.parametrize("factory", ENCODERS, ids=lambda f: f.name)
def test_bad_construction(factory: type) -> None:
    with pytest.raises(ConfigError, match=rf"{factory.name} encoder: n_qubits must be an integer >= 1; got 0"):
        factory(n_qubits=0)
    with pytest.raises(ConfigError, match=r"unknown option\(s\) colour"):
        factory(n_qubits=2, colour="red")


@pytest.mark.parametrize("n", [1, 2, 4])
def test_amplitude_state_and_circuit(n: int) -> None:
    encoder = AmplitudeEncoder(n)
    x = np.random.default_rng(n).normal(size=(3, 2**n))
    x[1, : 2 ** (n - 1)] = 0.0
    state = encoder.state(tf.constant(x, tf.float32))
    assert state.dtype == tf.float32
    expected = x / np.linalg.norm(x, axis=1, keepdims=True)
    np.testing.assert_allclose(state.numpy(), expected, atol=1e-6)
    prepared = _final_state(encoder, x)
    np.testing.assert_allclose(prepared.imag, 0, atol=1e-12)
    assert np.min(np.abs(np.sum(prepared.conj() * expected, axis=1)) ** 2) >= 0.999999
    assert encoder.resources().two_qubit_gates == 2**n - 2


def test_amplitude_encodes_all_zero_rows_as_the_uniform_state_by_policy() -> None:
    encoder = AmplitudeEncoder(2)
    x = np.ones((3, 4), np.float32) * np.array([[1], [0], [2]], np.float32)
    x[0, 0] = 3.0
    state = encoder.state(x).numpy()
    np.testing.assert_allclose(state[1], 0.5)  # |++>: every amplitude 1/2
    np.testing.assert_allclose(state[2], 0.5)
    np.testing.assert_allclose(np.linalg.norm(state, axis=1), 1.0, rtol=1e-6)
    np.testing.assert_allclose(_final_state(encoder, x)[1].real, 0.5, atol=1e-6)  # the template agrees
    features = tf.constant(x)
    with tf.GradientTape() as tape:
        tape.watch(features)
        total = tf.reduce_sum(encoder.state(features) * tf.constant([1.0, -1.0, 2.0, 0.5]))
    grad = tape.gradient(total, features).numpy()
    assert np.all(np.isfinite(grad)) and np.all(grad[1] == 0) and np.any(grad[0] != 0)
    with pytest.raises(ConfigError, match="zero_rows must be 'uniform' or 'error'; got 'skip'"):
        AmplitudeEncoder(2, zero_rows="skip")


def test_amplitude_rejects_zero_rows_when_asked_and_nonfinite_rows() -> None:
    encoder = AmplitudeEncoder(2, zero_rows="error")
    x = np.ones((5, 4), np.float32)
    x[[1, 3]] = 0.0
    for method in (encoder.state, encoder.symbol_values):
        with pytest.raises(InputError, match=r"amplitude encoder: rows 1, 3 are all zero.*nonzero L2 norm"):
            method(x)
    x[[1, 3]] = 1.0
    x[4, 2] = np.inf
    with pytest.raises(InputError, match=r"amplitude encoder: features must be finite; rows 4"):
        encoder.state(x)
    graph = tf.function(encoder.symbol_values)
    with pytest.raises(tf.errors.InvalidArgumentError, match="nonzero L2 norm"):
        graph(tf.zeros([2, 4]))
    assert AmplitudeEncoder(2, validate=False, zero_rows="error").state(tf.zeros([1, 4])).numpy().tolist() == [
        [0, 0, 0, 0]]


def test_dynamic_width_checked_when_graph_runs() -> None:
    encoder = AngleEncoder(3)
    fn = tf.function(encoder.symbol_values, input_signature=[tf.TensorSpec(None, tf.float32)])
    np.testing.assert_allclose(fn(tf.ones([2, 3])).numpy(), np.ones((2, 3)))
    with pytest.raises((tf.errors.InvalidArgumentError, ValueError)):
        fn(tf.ones([2, 5]))


def test_amplitude_gradients_finite_and_exact() -> None:
    encoder = AmplitudeEncoder(3)
    x = np.random.default_rng(5).normal(size=(2, 8))
    x[1, 4:] = 0.0  # a zero block
    xt = tf.Variable(x)
    direction = np.random.default_rng(6).normal(size=(2, 8))
    with tf.GradientTape(persistent=True) as tape:
        state_loss = tf.reduce_sum(encoder.state(xt) * direction)
        angle_loss = tf.reduce_sum(tf.cos(encoder.symbol_values(xt)))
    for loss in (state_loss, angle_loss):
        grad = tape.gradient(loss, xt).numpy()
        assert np.all(np.isfinite(grad)) and np.abs(grad).max() > 0
    # d(x/|x|) = (I - u u^T)/|x|: the exact Jacobian, so no epsilon was added.
    grad = tape.gradient(state_loss, xt).numpy()
    for b in range(2):
        u = x[b] / np.linalg.norm(x[b])
        np.testing.assert_allclose(
            grad[b], (direction[b] - u * (u @ direction[b])) / np.linalg.norm(x[b]), atol=1e-12
        )


@pytest.mark.parametrize("axis", ["x", "y", "z"])
def test_angle_encoder_bloch_vectors(axis: str) -> None:
    encoder = AngleEncoder(3, axis=axis, scale=2.0)
    assert encoder.n_features == 3 and encoder.state(tf.zeros([1, 3])) is None
    x = np.random.default_rng(1).uniform(0, np.pi / 2, size=(4, 3))
    bloch = _bloch(_final_state(encoder, x), 3)
    a = 2.0 * x
    expected = {
        "x": np.stack([0 * a, -np.sin(a), np.cos(a)], -1),
        "y": np.stack([np.sin(a), 0 * a, np.cos(a)], -1),
        "z": np.stack([np.cos(a), np.sin(a), 0 * a], -1),  # RZ(a)|+>
    }[axis]
    np.testing.assert_allclose(bloch, expected, atol=1e-12)
    if axis == "z":
        assert sum(op.gate == cirq.H for op in encoder.circuit(cirq.LineQubit.range(3)).all_operations()) == 3
    with pytest.raises(ConfigError, match="axis must be 'x', 'y' or 'z'; got 'w'"):
        AngleEncoder(2, axis="w")


def test_qubit_encoder_definition() -> None:
    encoder = QubitEncoder(2)
    assert encoder.n_features == 4 and encoder.state(tf.zeros([1, 4])) is None
    x = np.random.default_rng(2).uniform(0, np.pi, size=(3, 4))
    bloch = _bloch(_final_state(encoder, x), 2)
    theta, phi = x[:, 0::2], x[:, 1::2]  # qubit i: polar x_{2i}, azimuth x_{2i+1}
    expected = np.stack([np.sin(theta) * np.cos(phi), np.sin(theta) * np.sin(phi), np.cos(theta)], -1)
    np.testing.assert_allclose(bloch, expected, atol=1e-12)
    with pytest.raises(InputError, match=r"qubit encoder on 2 qubits expects features of shape \(batch, 4\)"):
        encoder.symbol_values(np.zeros((1, 2)))
