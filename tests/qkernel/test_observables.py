"""Observable builders, Pauli-spec parsing, sampled estimation and the Hermitian readout."""

from __future__ import annotations

import qkernel  # noqa: F401  (sets TF_USE_LEGACY_KERAS before TensorFlow loads)

import cirq
import numpy as np
import pytest
import tensorflow as tf

from qkernel.errors import InputError
from qkernel.sim.observables import (
    HermitianReadout,
    measurement_plan,
    pauli_strings,
    xyz_each,
    z_each,
)

Q = cirq.LineQubit.range(4)
PAULI = {
    "X": np.array([[0, 1], [1, 0]], complex),
    "Y": np.array([[0, -1j], [1j, 0]]),
    "Z": np.diag([1.0 + 0j, -1.0]),
}


def test_z_and_xyz_each_order() -> None:
    assert z_each(Q) == [cirq.PauliSum.from_pauli_strings(cirq.Z(q)) for q in Q]
    xyz = xyz_each(Q[:2])
    expected = [cirq.X(Q[0]), cirq.Y(Q[0]), cirq.Z(Q[0]), cirq.X(Q[1]), cirq.Y(Q[1]), cirq.Z(Q[1])]
    assert xyz == [cirq.PauliSum.from_pauli_strings(p) for p in expected]


def test_pauli_strings_parse() -> None:
    parsed = pauli_strings(["Z0", "X0 Y3", "Z0*Z1", "0.5*z2 * x1", "I1"], Q)
    expected = [
        cirq.Z(Q[0]),
        cirq.X(Q[0]) * cirq.Y(Q[3]),
        cirq.Z(Q[0]) * cirq.Z(Q[1]),
        0.5 * cirq.Z(Q[2]) * cirq.X(Q[1]),
        cirq.PauliString(),
    ]
    assert parsed == [cirq.PauliSum.from_pauli_strings(e) for e in expected]
    assert pauli_strings("Z3", Q) == z_each(Q[3:])


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("Q0", r"'Q0'.*token 'Q0' is not a factor"),
        ("Z0 W1", r"token 'W1'"),
        ("Z7", r"index 7 out of range for 4 qubits"),
        ("Z0*X0", r"qubit 0 appears more than once"),
        ("", r"empty Pauli spec"),
        ("0.5", r"no Pauli factor"),
    ],
)
def test_pauli_strings_bad_spec(spec: str, message: str) -> None:
    with pytest.raises(InputError, match=message):
        pauli_strings([spec], Q)


def _random_state(n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    psi = rng.normal(size=2**n) + 1j * rng.normal(size=2**n)
    return psi / np.linalg.norm(psi)


def _reduced(psi: np.ndarray, qubit: int, n: int) -> np.ndarray:
    t = np.moveaxis(psi.reshape([2] * n), qubit, 0).reshape(2, -1)
    return t @ t.conj().T


def test_hermitian_readout_matches_trace_rho_h() -> None:
    n = 3
    states = [_random_state(n, s) for s in range(4)]
    xyz = np.array(
        [[np.trace(_reduced(psi, i, n) @ PAULI[p]).real for i in range(n) for p in "XYZ"] for psi in states]
    )
    layer = HermitianReadout(n, init="random", seed=7, dtype="float64")
    out = layer(tf.constant(xyz)).numpy()
    hermitians = layer.hermitians()
    assert np.allclose(hermitians, np.conj(np.swapaxes(hermitians, 1, 2)))
    expected = np.array(
        [[np.trace(_reduced(psi, i, n) @ hermitians[i]).real for i in range(n)] for psi in states]
    )
    np.testing.assert_allclose(out, expected, atol=1e-12)
    assert not np.allclose(out, xyz[:, 2::3])  # a random H is not just Z


def test_hermitian_readout_z_init_fixed_and_trainable() -> None:
    xyz = tf.constant(np.random.default_rng(0).uniform(-1, 1, size=(5, 6)), tf.float32)
    fixed = HermitianReadout(2, trainable=False)
    np.testing.assert_allclose(fixed(xyz).numpy(), xyz.numpy()[:, 2::3], atol=1e-7)
    assert fixed.trainable_weights == [] and len(fixed.non_trainable_weights) == 2

    trained = HermitianReadout(2, init="random", seed=1)
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(trained(xyz) ** 2)
    grads = tape.gradient(loss, trained.trainable_weights)
    assert len(grads) == 2 and all(np.abs(g.numpy()).max() > 0 for g in grads)

    clone = HermitianReadout.from_config(trained.get_config())
    assert clone.n_qubits == 2 and clone.init == "random"
    explicit = HermitianReadout(2, init=np.array([[1, 1j], [0, 2]]))
    explicit(xyz)  # builds the weights
    np.testing.assert_allclose(explicit.hermitians()[1], [[1, 0.5j], [-0.5j, 2]])


def test_hermitian_readout_rejects_bad_width() -> None:
    with pytest.raises(InputError, match=r"expects \(batch, 6\).*received width 4"):
        HermitianReadout(2)(tf.zeros([1, 4]))


def test_measurement_plan_groups_and_estimates() -> None:
    assert len(measurement_plan(z_each(Q), Q).settings) == 1
    assert len(measurement_plan(xyz_each(Q), Q).settings) == 3
    observable = 0.5 * cirq.X(Q[0]) * cirq.Z(Q[1]) - 2.0 * cirq.Z(Q[2]) + 0.25
    plan = measurement_plan([observable, cirq.PauliSum.from_pauli_strings(cirq.Z(Q[1]))], Q)
    assert plan.settings == (("X", "Z", "Z", "Z"),) and plan.constants == (0.25, 0.0)
    # Two shots: bits (q0,q1,q2,q3) = 1000 and 0110.
    bits = [np.array([[[1, 0, 0, 0], [0, 1, 1, 0]]])]
    values, errors = plan.estimate(bits)
    # shot 1: 0.5*(-1)(+1) - 2(+1) = -2.5; shot 2: 0.5*(+1)(-1) - 2(-1) = 1.5
    np.testing.assert_allclose(values, [[0.25 + (-2.5 + 1.5) / 2, 0.0]])
    np.testing.assert_allclose(errors, [[np.std([-2.5, 1.5], ddof=1) / np.sqrt(2), np.sqrt(2 / 2)]])
    with pytest.raises(InputError, match="non-real coefficient"):
        measurement_plan([1j * cirq.Z(Q[0])], Q)
    with pytest.raises(InputError, match="not among the 4 qubits"):
        measurement_plan([cirq.PauliSum.from_pauli_strings(cirq.Z(cirq.LineQubit(9)))], Q)
