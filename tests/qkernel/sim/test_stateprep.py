"""Möttönen template: fidelity, gate counts, and the differentiable angle map."""

from __future__ import annotations

import qkernel  # noqa: F401  (sets TF_USE_LEGACY_KERAS before TensorFlow loads)

import cirq
import numpy as np
import pytest
import tensorflow as tf

from qkernel.sim import stateprep
from qkernel.errors import InputError

SIM = cirq.Simulator(dtype=np.complex128)


def _vectors(n: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    dim = 2**n
    sparse = rng.normal(size=(3, dim)) * (rng.random((3, dim)) < 0.3)
    sparse[:, rng.integers(dim)] += 1.0  # keep every row nonzero
    one_hot = np.zeros((dim, dim))
    one_hot[np.arange(dim), np.arange(dim)] = rng.choice([-2.0, 0.5], size=dim)
    return {
        "random": rng.normal(size=(4, dim)),
        "negative": -np.abs(rng.normal(size=(2, dim))),
        "sparse": sparse,
        "one_hot": one_hot[: min(dim, 8)],
        "half_zero": np.concatenate([np.zeros((1, dim // 2)), rng.normal(size=(1, dim // 2))], axis=1),
    }


def _fidelities(vectors: np.ndarray, angles: np.ndarray) -> np.ndarray:
    n = int(np.log2(vectors.shape[1]))
    qubits = cirq.LineQubit.range(n)
    out = []
    for vector, row in zip(vectors, angles):
        state = SIM.simulate(stateprep.template_circuit(qubits, row.tolist()), qubit_order=qubits).final_state_vector
        target = vector / np.linalg.norm(vector)
        out.append(abs(np.vdot(target, state)) ** 2)
    return np.array(out)


@pytest.mark.parametrize("n", range(1, 7))
def test_template_prepares_normalised_vector(n: int) -> None:
    rng = np.random.default_rng(n)
    for kind, vectors in _vectors(n, rng).items():
        for angles in (
            stateprep.template_angles_np(vectors),
            stateprep.template_angles(tf.constant(vectors, tf.float64)).numpy(),
            stateprep.template_angles(tf.constant(vectors, tf.float32)).numpy(),
        ):
            fidelity = _fidelities(vectors, angles)
            assert fidelity.min() >= 0.999999, (n, kind, fidelity.min())


@pytest.mark.parametrize("n", [1, 3, 6])
def test_tf_and_numpy_angles_agree(n: int) -> None:
    x = np.random.default_rng(0).normal(size=(5, 2**n))
    np.testing.assert_allclose(
        stateprep.template_angles(tf.constant(x)).numpy(), stateprep.template_angles_np(x), atol=1e-12
    )
    np.testing.assert_allclose(
        stateprep.template_angles(tf.constant(x, tf.float32)).numpy(), stateprep.template_angles_np(x), atol=2e-6
    )


def test_angles_are_scale_invariant_without_underflow() -> None:
    x = np.random.default_rng(1).normal(size=(3, 16)).astype(np.float32)
    base = stateprep.template_angles(tf.constant(x)).numpy()
    for scale in (1e-30, 1e-3, 1e20):  # squares of 1e-30 and 1e20 leave float32 range
        np.testing.assert_allclose(stateprep.template_angles(tf.constant(x * scale)).numpy(), base, atol=1e-5)


@pytest.mark.parametrize("n", range(1, 7))
def test_resources_and_gate_set(n: int) -> None:
    qubits = cirq.LineQubit.range(n)
    circuit = stateprep.template_circuit(qubits)
    res = stateprep.template_resources(n)
    assert res.rotations == 2**n - 1 == len(stateprep.template_symbols(n))
    assert res.two_qubit_gates == 2**n - 2
    assert res.depth == len(circuit) and res.two_qubit_depth <= res.depth
    gates = {type(op.gate) for op in circuit.all_operations()}
    assert gates <= {cirq.Ry, cirq.CXPowGate}
    assert cirq.parameter_symbols(circuit) == set(stateprep.template_symbols(n))


def test_gradients_match_finite_differences() -> None:
    rng = np.random.default_rng(3)
    x = rng.normal(size=(3, 16))
    weights = rng.normal(size=(3, 15))

    def loss(v: np.ndarray) -> float:
        return float(np.sum(stateprep.template_angles_np(v) * weights))

    xt = tf.Variable(x)
    with tf.GradientTape() as tape:
        value = tf.reduce_sum(stateprep.template_angles(xt) * weights)
    grad = tape.gradient(value, xt).numpy()
    assert np.all(np.isfinite(grad)) and np.abs(grad).min() > 0
    eps = 1e-6
    numeric = np.zeros_like(x)
    for idx in np.ndindex(*x.shape):
        step = np.zeros_like(x)
        step[idx] = eps
        numeric[idx] = (loss(x + step) - loss(x - step)) / (2 * eps)
    np.testing.assert_allclose(grad, numeric, atol=1e-6)


@pytest.mark.parametrize("dtype", [tf.float32, tf.float64])
def test_gradients_finite_for_sparse_vectors(dtype: tf.DType) -> None:
    x = np.zeros((3, 16))
    x[0, 5] = 1.0  # one-hot: every block but one is zero
    x[1, :8] = np.linspace(-1, 1, 8)  # right half zero (and a zero entry at the middle)
    x[2, ::3] = 2.0
    xt = tf.Variable(x, dtype=dtype)
    with tf.GradientTape() as tape:
        value = tf.reduce_sum(tf.sin(stateprep.template_angles(xt)))
    grad = tape.gradient(value, xt).numpy()
    assert np.all(np.isfinite(grad))
    assert np.abs(grad).max() > 0


def test_works_inside_tf_function_with_dynamic_batch() -> None:
    fn = tf.function(stateprep.template_angles, input_signature=[tf.TensorSpec([None, 8], tf.float32)])
    x = np.random.default_rng(4).normal(size=(5, 8)).astype(np.float32)
    np.testing.assert_allclose(fn(x).numpy(), stateprep.template_angles_np(x), atol=2e-6)


def test_bad_inputs() -> None:
    with pytest.raises(InputError, match=r"2\*\*n.*width 6"):
        stateprep.template_angles(tf.zeros([2, 6]))
    with pytest.raises(InputError, match="shape"):
        stateprep.template_angles(tf.zeros([8]))
    with pytest.raises(ValueError, match="needs 7 angles; got 3"):
        stateprep.template_circuit(cirq.LineQubit.range(3), [0.1, 0.2, 0.3])
    with pytest.raises(ValueError, match="n_qubits >= 1"):
        stateprep.template_symbols(0)
