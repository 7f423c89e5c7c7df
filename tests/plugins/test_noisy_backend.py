"""The ``noisy`` backend: exact QVM expectations, differentiable, usable by every model plugin."""

from __future__ import annotations

import cirq
import numpy as np
import pytest
import tensorflow as tf

from qkernel.errors import ConfigError, HardwareError
from qkernel.hardware import add_noise
from qkernel.plugin.registry import get_registry
from qkernel.sim.observables import xyz_each, z_each

REGISTRY = get_registry()


def reference(emulator, symbols, x: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Cirq's density matrices of each setting's noisy circuit, turned into the observables' values."""
    from qkernel.hardware.emulator import parity_weights
    from qkernel.hardware.noise import noise_model, noise_properties
    from cirq_google.engine.virtual_engine_factory import load_median_device_calibration

    model = noise_model(noise_properties(load_median_device_calibration("weber")))
    plan, compiled = emulator.plan, emulator.compiled
    out = np.tile(np.asarray(plan.constants), (len(x), 1))
    sim = cirq.DensityMatrixSimulator(dtype=np.complex128)
    for s, weights in enumerate(parity_weights(plan)):
        noisy = add_noise(compiled.measured(plan.measurement_circuit(s)), model)
        unmeasured = cirq.Circuit(op for op in noisy.all_operations() if not cirq.is_measurement(op))
        for i, row in enumerate(x):
            resolved = cirq.resolve_parameters(unmeasured, dict(zip(symbols, [*row, *w])))
            rho = sim.simulate(resolved, qubit_order=compiled.measured_qubits).final_density_matrix
            out[i] += np.real(np.diag(rho)) @ weights
    return out


@pytest.mark.parametrize("observables", [z_each, xyz_each])
def test_expectations_are_the_qvms_noisy_expectations(observables) -> None:
    enc = REGISTRY.create("encoder", "angle", n_qubits=2)
    ans = REGISTRY.create("ansatz", "hardware_efficient", n_qubits=2, depth=1)
    backend = REGISTRY.create("backend", "noisy", processor="weber")
    fn = backend.compile(enc, ans, observables(cirq.LineQubit.range(2)))
    rng = np.random.default_rng(1)
    x = rng.uniform(0, 1, (2, 2)).astype(np.float32)
    w = rng.uniform(0, 2 * np.pi, len(ans.symbols())).astype(np.float32)
    got = fn(x, w).numpy()
    data = enc.symbol_values(tf.constant(x)).numpy()
    want = reference(backend.emulator, enc.symbols() + ans.symbols(), data, w)
    np.testing.assert_allclose(got, want, atol=2e-6)
    assert backend.stats()["circuit_executions"] == 2 * backend.emulator.settings
    noiseless = REGISTRY.create("backend", "native").compile(enc, ans, observables(cirq.LineQubit.range(2)))(x, w)
    assert np.abs(got).max() < np.abs(noiseless.numpy()).max()  # the noise shrinks the signal


def test_gradients_reach_every_weight_and_feature() -> None:
    enc = REGISTRY.create("encoder", "amplitude", n_qubits=2)
    ans = REGISTRY.create("ansatz", "hardware_efficient", n_qubits=2, depth=2)
    fn = REGISTRY.create("backend", "noisy").compile(enc, ans, z_each(cirq.LineQubit.range(2)))
    rng = np.random.default_rng(2)
    x = tf.Variable(rng.uniform(0.2, 1, (3, 4)).astype(np.float32))
    w = tf.Variable(rng.uniform(0, 2 * np.pi, len(ans.symbols())).astype(np.float32))
    c = tf.constant(rng.normal(size=(3, 2)).astype(np.float32))
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(fn(x, w) * c)
    grad_w, grad_x = tape.gradient(loss, [w, x])
    assert np.all(np.abs(grad_w.numpy()) > 0) and np.all(np.isfinite(grad_x.numpy()))
    assert np.count_nonzero(grad_x.numpy()) == grad_x.shape[0] * grad_x.shape[1]
    eps, k = 1e-2, 1
    shift = np.eye(len(ans.symbols()), dtype=np.float32)[k] * eps
    fd = (tf.reduce_sum(fn(x, w + shift) * c) - tf.reduce_sum(fn(x, w - shift) * c)) / (2 * eps)
    assert abs(float(fd) - float(grad_w[k])) < 2e-3


def test_quantum_lenet_trains_through_the_noisy_backend() -> None:
    model = REGISTRY.create("model", "quantum_lenet", input_shape=(28, 28), num_classes=10, n_qubits=2, depth=1,
                            backend="noisy", backend_options={"processor": "weber"})
    images = tf.constant(np.random.default_rng(3).random((2, 28, 28)), tf.float32)
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(model(images) ** 2)
    grads = dict(zip([v.name for v in model.trainable_variables], tape.gradient(loss, model.trainable_variables)))
    circuit = [g for name, g in grads.items() if "circuit_weights" in name]
    assert circuit and np.all(np.abs(circuit[0].numpy()) > 0)


def test_bad_options_fail_clearly() -> None:
    with pytest.raises(ConfigError, match="gateset must be one of sqrt_iswap, cz"):
        REGISTRY.create("backend", "noisy", gateset="syc")
    with pytest.raises(HardwareError, match="rainbow, weber"):
        REGISTRY.create("backend", "noisy", processor="sycamore")
