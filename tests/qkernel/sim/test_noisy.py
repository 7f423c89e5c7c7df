"""The native kernel's noisy mode against Cirq's density-matrix simulator, on the QVM's calibration noise.

Random small circuits on connected ``weber`` qubits, in the device's own gates (symbolic
``PhasedXZGate`` s with data and weight symbols, virtual Z, √iSWAP, CZ), with the noise model
cirq-google's Quantum Virtual Machine builds from the median calibration (thermal
relaxation and dephasing, depolarising, coherent entangler errors, readout error).
"""

from __future__ import annotations

import cirq
import numpy as np
import pytest
import sympy
import tensorflow as tf

from qkernel.errors import InputError, UnsupportedGateError
from qkernel.hardware import add_noise, load_device, noise_model, noise_properties
from qkernel.sim.noisy import compile_noisy_circuit

DATA = sympy.symbols("x0:4")
WEIGHTS = sympy.symbols("w0:6")


@pytest.fixture(scope="module")
def weber():
    """``(three connected qubits, the QVM's noise model)`` of weber."""
    from cirq_google.engine.virtual_engine_factory import load_median_device_calibration

    graph = load_device("weber").metadata.nx_graph
    a = sorted(graph.nodes)[12]
    b = sorted(graph.neighbors(a))[0]
    c = next(q for q in sorted(graph.neighbors(b)) if q != a)
    return (a, b, c), noise_model(noise_properties(load_median_device_calibration("weber")))


def random_circuit(qubits, seed: int, layers: int = 4) -> cirq.Circuit:
    """Device-native random circuit: symbolic PhasedXZ layers, virtual Z, √iSWAP/CZ on couplers, measurement."""
    rng = np.random.default_rng(seed)
    a, b, c = qubits
    ops = []
    for layer in range(layers):
        for q in qubits:
            d, w = DATA[rng.integers(len(DATA))], WEIGHTS[rng.integers(len(WEIGHTS))]
            ops.append(cirq.PhasedXZGate(x_exponent=float(rng.uniform(-1, 1)), z_exponent=0.7 * d - w,
                                         axis_phase_exponent=w + float(rng.uniform(-1, 1))).on(q))
        ops.append(cirq.ZPowGate(exponent=DATA[layer % len(DATA)]).on(b))
        pair = [(a, b), (b, c)][layer % 2]
        ops.append(cirq.SQRT_ISWAP(*pair) if rng.random() < 0.7 else cirq.CZ(*pair))
    return cirq.Circuit(ops, cirq.Moment(cirq.measure(*qubits, key="m")))


def cirq_density_matrices(noisy: cirq.Circuit, qubits, data: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Cirq's final density matrices (complex128) with every channel, measurements dropped."""
    unmeasured = cirq.Circuit(op for op in noisy.all_operations() if not cirq.is_measurement(op))
    sim = cirq.DensityMatrixSimulator(dtype=np.complex128)
    out = []
    for row in data:
        values = {**dict(zip(DATA, row.tolist())), **dict(zip(WEIGHTS, weights.tolist()))}
        out.append(sim.simulate(cirq.resolve_parameters(unmeasured, values), qubit_order=qubits).final_density_matrix)
    return np.array(out)


def inputs(seed: int, batch: int = 3) -> tuple[np.ndarray, np.ndarray]:
    """float32 data and weights (exactly representable, so both simulators see the same angles)."""
    rng = np.random.default_rng(100 + seed)
    return rng.uniform(-1, 1, (batch, len(DATA))).astype(np.float32), rng.uniform(-1, 1, len(WEIGHTS)).astype(np.float32)


@pytest.mark.parametrize("seed", range(4))
def test_density_matrices_match_cirq_under_the_calibration_noise_model(weber, seed: int) -> None:
    qubits, model = weber
    noisy = add_noise(random_circuit(qubits, seed), model)
    kinds = {type(op.gate).__name__ for op in noisy.all_operations()}
    assert {"KrausChannel", "DepolarizingChannel", "PhasedFSimGate", "GeneralizedAmplitudeDampingChannel"} <= kinds
    data, weights = inputs(seed)
    want = cirq_density_matrices(noisy, qubits, data, weights)
    compiled = compile_noisy_circuit(noisy, qubits=qubits, data_symbols=DATA, weight_symbols=WEIGHTS)
    rho = compiled.density_matrix(weights, data=data).numpy()
    np.testing.assert_allclose(rho, want, atol=1e-6)
    probabilities = compiled.probabilities(weights, data=data).numpy()
    np.testing.assert_allclose(probabilities, np.real(np.einsum("bii->bi", want)), atol=1e-6)
    exact = compile_noisy_circuit(noisy, qubits=qubits, data_symbols=DATA, weight_symbols=WEIGHTS, dtype=tf.complex128)
    np.testing.assert_allclose(exact.density_matrix(weights, data=data).numpy(), want, atol=1e-12)


def test_fused_blocks_respect_their_width_and_marginals_trace_out(weber) -> None:
    qubits, model = weber
    noisy = add_noise(random_circuit(qubits, 7), model)
    for width in (1, 2, 3):
        compiled = compile_noisy_circuit(noisy, qubits=qubits, data_symbols=DATA, weight_symbols=WEIGHTS,
                                         max_block_qubits=width)
        assert max(len(b.qubits) for b in compiled.blocks) == max(width, 2)  # two-qubit gates stay whole
    data, weights = inputs(7)
    partial = cirq.Circuit(op for op in noisy.all_operations() if not cirq.is_measurement(op))
    partial.append(cirq.measure(qubits[2], qubits[0], key="two"))
    got = compile_noisy_circuit(partial, qubits=qubits, data_symbols=DATA, weight_symbols=WEIGHTS)
    rho = cirq_density_matrices(noisy, qubits, data, weights)
    diag = np.real(np.einsum("bii->bi", rho)).reshape(len(data), 2, 2, 2)
    want = diag.sum(axis=2).transpose(0, 2, 1).reshape(len(data), 4)  # bits (q2, q0)
    np.testing.assert_allclose(got.probabilities(weights, data=data).numpy(), want, atol=1e-6)
    assert got.sample(weights, data=data, repetitions=5)["two"].shape == (len(data), 5, 2)


def test_gradients_match_finite_differences(weber) -> None:
    qubits, model = weber
    noisy = add_noise(random_circuit(qubits, 3, layers=2), model)
    compiled = compile_noisy_circuit(noisy, qubits=qubits, data_symbols=DATA, weight_symbols=WEIGHTS,
                                     dtype=tf.complex128)
    data, weights = inputs(3, batch=2)
    projection = tf.constant(np.random.default_rng(0).normal(size=(2, 8)), tf.float64)
    w, x = tf.Variable(weights), tf.Variable(data)

    def loss(w_: tf.Tensor, x_: tf.Tensor) -> tf.Tensor:
        return tf.reduce_sum(tf.cast(compiled.probabilities(w_, data=x_), tf.float64) * projection)

    with tf.GradientTape() as tape:
        value = loss(w, x)
    grad_w, grad_x = tape.gradient(value, [w, x])
    eps = 1e-3
    for k in range(len(WEIGHTS)):
        step = np.eye(len(WEIGHTS), dtype=np.float32)[k] * eps
        fd = (loss(weights + step, data) - loss(weights - step, data)) / (2 * eps)
        assert abs(float(fd) - float(grad_w[k])) < 1e-4
    step = np.zeros_like(data)
    step[1, 2] = eps
    fd = (loss(weights, data + step) - loss(weights, data - step)) / (2 * eps)
    assert abs(float(fd) - float(grad_x[1, 2])) < 1e-4 and np.all(np.isfinite(grad_x.numpy()))


def test_trajectories_sample_the_same_distribution(weber) -> None:
    qubits, model = weber
    noisy = add_noise(random_circuit(qubits, 5), model)
    data, weights = inputs(5, batch=2)
    exact = compile_noisy_circuit(noisy, qubits=qubits, data_symbols=DATA, weight_symbols=WEIGHTS)
    trajectories = compile_noisy_circuit(noisy, qubits=qubits, data_symbols=DATA, weight_symbols=WEIGHTS,
                                         method="trajectories")
    p = exact.probabilities(weights, data=data).numpy()
    n = 4000
    estimate = trajectories.probabilities(weights, data=data, trajectories=n, seed=1).numpy()
    sigma = np.sqrt(p * (1 - p) / n) + 1e-4
    assert np.all(np.abs(estimate - p) < 5 * sigma), np.max(np.abs(estimate - p) / sigma)
    bits = trajectories.sample(weights, data=data, repetitions=n, rng=np.random.default_rng(2))["m"]
    outcomes = (bits * np.array([4, 2, 1])).sum(axis=2)
    frequencies = np.stack([np.bincount(o, minlength=8) / n for o in outcomes])
    assert np.all(np.abs(frequencies - p) < 5 * np.sqrt(p * (1 - p) / n) + 2e-3)


def test_unsupported_operations_and_inputs_fail_clearly(weber) -> None:
    q = cirq.LineQubit.range(2)
    with pytest.raises(UnsupportedGateError, match="mid-circuit measurements"):
        compile_noisy_circuit(cirq.Circuit(cirq.measure(q[0]), cirq.X(q[0])))
    reset = compile_noisy_circuit(cirq.Circuit(cirq.X.on_each(*q), cirq.ResetChannel().on(q[0])))  # a channel too
    np.testing.assert_allclose(reset.probabilities().numpy(), [[0, 1, 0, 0]], atol=1e-7)
    with pytest.raises(InputError, match="unknown noisy simulation method 'qsim'"):
        compile_noisy_circuit(cirq.Circuit(cirq.X(q[0])), method="qsim")
    compiled = compile_noisy_circuit(cirq.Circuit(cirq.rx(WEIGHTS[0]).on(q[0]), cirq.depolarize(0.1).on(q[1])),
                                     weight_symbols=[WEIGHTS[0]])
    with pytest.raises(InputError, match=r"weights: expected shape \(1,\)"):
        compiled.probabilities([0.1, 0.2])
    with pytest.raises(InputError, match="neither data_symbols nor weight_symbols"):
        compile_noisy_circuit(cirq.Circuit(cirq.rx(DATA[0]).on(q[0])))
