"""Built-in backends: tfq / qsim / cirq agree, TFQ gradients are exact, sampling is unbiased."""

from __future__ import annotations

import qkernel  # noqa: F401  (sets TF_USE_LEGACY_KERAS before TensorFlow loads)

import cirq
import numpy as np
import pluggy
import pytest
import tensorflow as tf

import plugins.backends
from plugins.ansatzes import HardwareEfficientAnsatz, RotationsAnsatz, StronglyEntanglingAnsatz
from plugins.backends import CirqBackend, QSimBackend, TFQBackend
from plugins.backends.cirq_sim import build_program
from plugins.encoders import AmplitudeEncoder, AngleEncoder, QubitEncoder
from qkernel.plugin import hookspecs
from qkernel.plugin.contracts import Backend
from qkernel.errors import ConfigError, InputError, PluginError
from qkernel.sim.observables import pauli_strings, xyz_each, z_each

ENCODERS = [AmplitudeEncoder, AngleEncoder, QubitEncoder]
ANSATZES = [RotationsAnsatz, HardwareEfficientAnsatz, StronglyEntanglingAnsatz]
AGREEMENT_TOL = 1e-5


@pytest.fixture(scope="module")
def backends() -> dict[str, Backend]:
    return {"tfq": TFQBackend(), "qsim": QSimBackend(), "cirq": CirqBackend()}


def _reference64(encoder, ansatz, observables, x: np.ndarray, w: np.ndarray, program=None) -> np.ndarray:
    """Exact float64 expectations straight from cirq (for finite differences)."""
    program = program or build_program(encoder, ansatz, observables)
    data = encoder.symbol_values(tf.constant(x, tf.float64)).numpy()
    resolvers = [dict(zip(program.symbols, np.concatenate([row, w]).tolist())) for row in data]
    values = cirq.Simulator(dtype=np.complex128).simulate_expectation_values_sweep(
        program.circuit, list(program.observables), resolvers, qubit_order=program.qubits
    )
    return np.real(np.asarray(values))


def _inputs(encoder, ansatz, batch: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.uniform(-1.0, 1.0, size=(batch, encoder.n_features))
    w = rng.uniform(0.0, 2 * np.pi, size=len(ansatz.symbols()))
    return x, w


def test_registered_backends() -> None:
    manager = pluggy.PluginManager(hookspecs.PROJECT)
    manager.add_hookspecs(hookspecs)
    manager.register(plugins.backends)
    factories = [f for result in manager.hook.register_backends() for f in result]
    assert [f.name for f in factories] == ["native", "tfq", "qsim", "cirq", "google", "noisy"]
    assert [f.differentiable for f in factories] == [True, True, False, False, False, True]
    for factory in factories:
        assert isinstance(factory(), Backend)
        assert factory.__doc__.strip().splitlines()[0].endswith(".")


@pytest.mark.parametrize("n_qubits", [4, 6])
@pytest.mark.parametrize("ansatz_cls", ANSATZES, ids=lambda c: c.name)
@pytest.mark.parametrize("encoder_cls", ENCODERS, ids=lambda c: c.name)
def test_backends_agree(backends, encoder_cls, ansatz_cls, n_qubits: int) -> None:
    encoder, ansatz = encoder_cls(n_qubits), ansatz_cls(n_qubits, 2)
    qubits = cirq.LineQubit.range(n_qubits)
    observables = z_each(qubits) + xyz_each(qubits[:1]) + pauli_strings(["Z0*Z1", "X1 Y2"], qubits)
    x, w = _inputs(encoder, ansatz, batch=3, seed=n_qubits)
    reference = _reference64(encoder, ansatz, observables, x, w)
    for name, backend in backends.items():
        out = backend.compile(encoder, ansatz, observables)(tf.constant(x, tf.float32), w)
        assert isinstance(out, tf.Tensor) and out.dtype == tf.float32 and out.shape == (3, len(observables))
        error = np.abs(out.numpy() - reference).max()
        assert error <= AGREEMENT_TOL, (name, error)


def test_composition_against_closed_forms(backends) -> None:
    """With zero weights and no entangler the ansatz is the identity: check symbol plumbing."""
    qubits = cirq.LineQubit.range(4)
    identity = RotationsAnsatz(4, depth=1, entangler=None)
    zero = np.zeros(len(identity.symbols()))
    x = np.random.default_rng(0).uniform(0, np.pi, size=(3, 4))
    amp = np.random.default_rng(1).normal(size=(3, 16))
    u = amp / np.linalg.norm(amp, axis=1, keepdims=True)
    signs = 1 - 2 * ((np.arange(16)[:, None] >> (3 - np.arange(4))[None, :]) & 1)  # (16, 4): Z_i eigenvalues
    for backend in backends.values():
        angle = backend.compile(AngleEncoder(4), identity, z_each(qubits))(x, zero).numpy()
        np.testing.assert_allclose(angle, np.cos(x), atol=2e-6)
        marginals = backend.compile(AmplitudeEncoder(4), identity, z_each(qubits))(amp, zero).numpy()
        np.testing.assert_allclose(marginals, (u**2) @ signs, atol=2e-6)


@pytest.mark.parametrize("encoder_cls", ENCODERS, ids=lambda c: c.name)
def test_tfq_gradients_match_finite_differences(backends, encoder_cls) -> None:
    n = 4
    encoder, ansatz = encoder_cls(n), StronglyEntanglingAnsatz(n, 2)
    observables = xyz_each(cirq.LineQubit.range(n))
    x, w = _inputs(encoder, ansatz, batch=2, seed=11)
    c = np.random.default_rng(12).normal(size=(2, len(observables)))
    fn = backends["tfq"].compile(encoder, ansatz, observables)
    xt, wt = tf.Variable(x, dtype=tf.float32), tf.Variable(w, dtype=tf.float32)
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(fn(xt, wt) * c)
    gx, gw = (g.numpy().astype(np.float64) for g in tape.gradient(loss, [xt, wt]))

    program = build_program(encoder, ansatz, observables)

    def f(xx: np.ndarray, ww: np.ndarray) -> float:
        return float(np.sum(_reference64(encoder, ansatz, observables, xx, ww, program) * c))

    eps = 1e-5
    fd_w = np.array([(f(x, w + eps * e) - f(x, w - eps * e)) / (2 * eps) for e in np.eye(w.size)])
    fd_x = np.zeros_like(x)
    for idx in np.ndindex(*x.shape):
        step = np.zeros_like(x)
        step[idx] = eps
        fd_x[idx] = (f(x + step, w) - f(x - step, w)) / (2 * eps)
    np.testing.assert_allclose(gw, fd_w, atol=1e-3)
    np.testing.assert_allclose(gx, fd_x, atol=1e-3)
    # With X, Y and Z read out, every weight and every feature moves the loss.
    assert np.abs(fd_w).min() > 1e-4 and np.abs(gw).min() > 1e-4
    assert np.abs(gx).min() > 1e-5


def test_last_rz_layer_is_dead_under_z_readout(backends) -> None:
    """Diagonal gates commute through CNOTs to ⟨Z⟩: the final RZ angles get no gradient."""
    n = 4
    encoder, ansatz = AngleEncoder(n), HardwareEfficientAnsatz(n, 3)
    x, w = _inputs(encoder, ansatz, batch=2, seed=3)
    wt = tf.Variable(w, dtype=tf.float32)
    grads = {}
    for label, observables in (("z", z_each(cirq.LineQubit.range(n))), ("xyz", xyz_each(cirq.LineQubit.range(n)))):
        fn = backends["tfq"].compile(encoder, ansatz, observables)
        with tf.GradientTape() as tape:
            loss = tf.reduce_sum(fn(x, wt) ** 2)
        grads[label] = tape.gradient(loss, wt).numpy().reshape(3, n, 2)
    assert np.abs(grads["z"][-1, :, 1]).max() < 1e-5  # last layer RZ
    assert np.abs(grads["z"][:, :, 0]).min() > 1e-4  # every RY is alive
    assert np.abs(grads["xyz"][-1, :, 1]).min() > 1e-4


def test_tfq_in_tf_function_and_stats() -> None:
    backend = TFQBackend()
    encoder, ansatz = AmplitudeEncoder(3), StronglyEntanglingAnsatz(3, 1)
    fn = tf.function(
        backend.compile(encoder, ansatz, z_each(cirq.LineQubit.range(3))),
        input_signature=[tf.TensorSpec([None, 8], tf.float32), tf.TensorSpec([9], tf.float32)],
    )
    x, w = _inputs(encoder, ansatz, batch=5, seed=0)
    eager = backend.compile(encoder, ansatz, z_each(cirq.LineQubit.range(3)))(x.astype(np.float32), w)
    np.testing.assert_allclose(fn(tf.constant(x, tf.float32), tf.constant(w, tf.float32)).numpy(), eager.numpy(), atol=1e-6)
    fn(tf.constant(x[:2], tf.float32), tf.constant(w, tf.float32))
    assert backend.stats() == {"circuit_executions": 5 + 5 + 2, "shots": 0}


def test_qsim_sampled_within_standard_errors() -> None:
    n, shots, batch = 4, 20_000, 3
    qubits = cirq.LineQubit.range(n)
    encoder, ansatz = AmplitudeEncoder(n), HardwareEfficientAnsatz(n, 2)
    observables = (
        z_each(qubits)
        + pauli_strings(["X0 Y1", "0.5*Z0*Z1"], qubits)
        + [cirq.X(qubits[2]) + 0.5 * cirq.Y(qubits[2]) * cirq.Z(qubits[3]) + 0.25]
    )
    x, w = _inputs(encoder, ansatz, batch=batch, seed=5)
    backend = QSimBackend(shots=shots, seed=1234)
    estimate = backend.compile(encoder, ansatz, observables)(x, w).numpy()
    exact = _reference64(encoder, ansatz, observables, x, w)
    errors = backend.last_standard_errors
    assert errors.shape == exact.shape and np.all(errors > 0) and np.all(errors < 0.02)
    z_se = np.sqrt((1 - exact[:, :n] ** 2) / shots)  # analytic standard error of ⟨Z_i⟩
    np.testing.assert_allclose(errors[:, :n], z_se, rtol=0.05)
    assert np.abs((estimate - exact) / errors).max() < 4.0
    n_settings = 3  # greedy qubit-wise commuting groups: {Z_i, Z0Z1}, {X0Y1, X2}, {Y2Z3}
    assert backend.stats() == {"circuit_executions": batch * n_settings, "shots": batch * n_settings * shots}


def test_qsim_noisy_sampling_matches_density_matrix() -> None:
    n, shots = 2, 4000
    qubits = cirq.LineQubit.range(n)
    noise = cirq.ConstantQubitNoiseModel(cirq.depolarize(0.05))
    encoder, ansatz = AngleEncoder(n), HardwareEfficientAnsatz(n, 2)
    x, w = _inputs(encoder, ansatz, batch=2, seed=8)
    backend = QSimBackend(shots=shots, noise=noise, seed=7)
    estimate = backend.compile(encoder, ansatz, z_each(qubits))(x, w).numpy()
    program = build_program(encoder, ansatz, z_each(qubits))
    data = encoder.symbol_values(tf.constant(x, tf.float64)).numpy()
    exact_noisy = np.array(
        [
            cirq.DensityMatrixSimulator(noise=noise).simulate_expectation_values(
                program.circuit, list(program.observables), dict(zip(program.symbols, [*row, *w])), qubit_order=qubits
            )
            for row in data
        ]
    ).real
    noiseless = _reference64(encoder, ansatz, z_each(qubits), x, w)
    assert np.abs((estimate - exact_noisy) / backend.last_standard_errors).max() < 4.0
    assert np.abs(exact_noisy).sum() < np.abs(noiseless).sum()  # noise shrinks ⟨Z⟩


def test_numpy_backends_accept_numpy_and_run_in_tf_function(backends) -> None:
    encoder, ansatz = QubitEncoder(3), RotationsAnsatz(3, 1)
    observables = z_each(cirq.LineQubit.range(3))
    x, w = _inputs(encoder, ansatz, batch=4, seed=2)
    for name in ("qsim", "cirq"):
        fn = backends[name].compile(encoder, ansatz, observables)
        eager = fn(x, w)
        graph = tf.function(fn)(tf.constant(x, tf.float32), tf.constant(w, tf.float32))
        assert graph.dtype == tf.float32 and graph.shape == (4, 3)
        np.testing.assert_allclose(graph.numpy(), eager.numpy(), atol=1e-6)
        before = backends[name].stats()["circuit_executions"]
        fn(x[:0], w)
        assert backends[name].stats()["circuit_executions"] == before


def test_bad_inputs_and_options(backends) -> None:
    qubits = cirq.LineQubit.range(3)
    encoder, ansatz = AngleEncoder(3), RotationsAnsatz(3, 1)
    for backend in backends.values():
        fn = backend.compile(encoder, ansatz, z_each(qubits))
        with pytest.raises(InputError, match=r"angle\+rotations: expected weights of shape \(9,\).*received shape \(8,\)"):
            fn(np.zeros((2, 3)), np.zeros(8))
        with pytest.raises(InputError, match=r"angle encoder on 3 qubits expects features of shape \(batch, 3\)"):
            fn(np.zeros((2, 4)), np.zeros(9))
        with pytest.raises(PluginError, match="encoder 'angle' has 3 qubits but ansatz 'rotations' has 4"):
            backend.compile(encoder, RotationsAnsatz(4, 1), z_each(qubits))
        with pytest.raises(InputError, match="outside 3 qubits"):
            backend.compile(encoder, ansatz, z_each(cirq.LineQubit.range(4)))
        with pytest.raises(InputError, match="at least one observable"):
            backend.compile(encoder, ansatz, [])
    with pytest.raises(ConfigError, match="shots must be None .* got 0"):
        QSimBackend(shots=0)
    with pytest.raises(ConfigError, match="noise model needs sampled mode"):
        QSimBackend(noise=cirq.ConstantQubitNoiseModel(cirq.depolarize(0.01)))
    with pytest.raises(ConfigError, match=r"depolarizing probability noise must be in \[0, 1\]; got 1.5"):
        QSimBackend(shots=10, noise=1.5)
    assert isinstance(QSimBackend(shots=10, noise=0.01).noise, cirq.ConstantQubitNoiseModel)
    with pytest.raises(ConfigError, match="differentiator must be one of adjoint, parameter_shift"):
        TFQBackend(differentiator="spsa")
