"""Readouts: the registry every component reads, and the Hermitian readout layer."""

from __future__ import annotations

import qkernel  # noqa: F401  (sets TF_USE_LEGACY_KERAS before TensorFlow loads)

import cirq
import numpy as np
import pytest
import tensorflow as tf

from qkernel.config import load_params
from qkernel.errors import ConfigError, InputError
from qkernel.nn.readouts import READOUTS, HermitianReadout, readout_head, readout_observables

PAULI = {
    "X": np.array([[0, 1], [1, 0]], complex),
    "Y": np.array([[0, -1j], [1j, 0]]),
    "Z": np.diag([1.0 + 0j, -1.0]),
}


def test_one_registry_serves_the_student_quantum_lenet_and_the_checks() -> None:
    assert list(READOUTS) == ["z", "xyz", "hermitian", "hermitian-fixed"]
    assert len(readout_observables("z", 3)) == 3 and len(readout_observables("hermitian", 3)) == 9
    assert readout_head("z", 3) is None and isinstance(readout_head("hermitian-fixed", 3), HermitianReadout)
    assert readout_observables("xyz", 1)[1] == cirq.PauliSum.from_pauli_strings(cirq.Y(cirq.LineQubit(0)))
    with pytest.raises(ConfigError, match="unknown readout 'w'; expected one of z, xyz, hermitian, hermitian-fixed"):
        readout_observables("w", 2)
    from qkernel.methods.kd.stages import check_params
    from qkernel.plugin.registry import get_registry

    with pytest.raises(ConfigError, match="unknown readout 'w'"):
        check_params(load_params(None, ["student.readout=w"]), get_registry())


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


