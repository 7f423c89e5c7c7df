"""The QVM's calibration noise model, the fidelity it predicts, and the ``transpile`` report.

3-qubit circuits: compiling and simulating them takes well under a second each.
"""

from __future__ import annotations

import cirq
import numpy as np
import pytest
import tensorflow as tf

from qkernel.hardware import (
    add_noise,
    compile_circuit,
    estimate_fidelity,
    load_device,
    noise_model,
    noise_properties,
)
from qkernel.hardware.noise import NEAR_CHANCE
from qkernel.plugin.registry import get_registry
from qkernel.sim.noisy import compile_noisy_circuit

REGISTRY = get_registry()


@pytest.fixture(scope="module")
def weber():
    """weber's device, median calibration and its noise properties."""
    from cirq_google.engine.virtual_engine_factory import load_median_device_calibration

    calibration = load_median_device_calibration("weber")
    return load_device("weber"), calibration, noise_properties(calibration)


def student(device, calibration, encoder: str = "angle", depth: int = 2, n: int = 3, gateset: str = "sqrt_iswap"):
    """``(encoder, ansatz, compiled, measured circuit)`` of a small student on ``device``."""
    enc = REGISTRY.create("encoder", encoder, n_qubits=n)
    ans = REGISTRY.create("ansatz", "hardware_efficient", n_qubits=n, depth=depth)
    qubits = cirq.LineQubit.range(n)
    compiled = compile_circuit(enc.circuit(qubits) + ans.circuit(qubits), qubits, device, gateset=gateset,
                               calibration=calibration)
    return enc, ans, compiled, compiled.measured(cirq.Circuit(cirq.measure(*qubits, key="m")))


def test_the_noise_model_is_the_one_the_qvm_gives_its_simulator(weber) -> None:
    from cirq_google.engine.virtual_engine_factory import create_default_noisy_quantum_virtual_machine

    device, calibration, properties = weber
    given = []

    class Recorder(cirq.DensityMatrixSimulator):
        def __init__(self, noise=None, **kwargs):
            given.append(noise)
            super().__init__(noise=noise, **kwargs)

    create_default_noisy_quantum_virtual_machine("weber", Recorder)
    *_, measured = student(device, calibration, depth=1)
    assert add_noise(measured, given[0]) == add_noise(measured, noise_model(properties))


def test_fidelity_estimate_is_the_product_of_calibrated_error_rates(weber) -> None:
    device, calibration, properties = weber
    a, b = sorted(device.metadata.nx_graph.edges)[5]
    circuit = cirq.Circuit(cirq.PhasedXZGate(x_exponent=0.5, z_exponent=0, axis_phase_exponent=0).on(a),
                           cirq.SQRT_ISWAP(a, b), cirq.measure(a, b, key="m"))
    estimate = estimate_fidelity(circuit, properties)
    errors = {(op_id.gate_type, op_id.qubits): e for op_id, e in properties.gate_pauli_errors.items()}
    from cirq.qis import decoherence_pauli_error

    idle = decoherence_pauli_error(properties.t1_ns[b], properties.tphi_ns[b], properties.gate_times_ns[cirq.PhasedXZGate])
    readout = np.prod([1 - 0.5 * sum(properties.readout_errors[q]) for q in (a, b)])
    want = (1 - errors[(cirq.PhasedXZGate, (a,))]) * (1 - errors[(cirq.ISwapPowGate, (a, b))]) * (1 - idle) * readout
    assert estimate.fidelity == pytest.approx(want, rel=1e-9)
    assert estimate.counts == {"two_qubit_gates": 1, "one_qubit_gates": 1, "idle": 1, "readout": 2}
    assert estimate.warning() is None and not estimate.uncalibrated


@pytest.mark.parametrize(("encoder", "depth"), [("angle", 1), ("amplitude", 2)])
def test_fidelity_estimate_bounds_the_simulated_state_fidelity(weber, encoder: str, depth: int) -> None:
    """The estimate is the probability of no error at all: below the simulated fidelity, not far below."""
    device, calibration, properties = weber
    enc, ans, compiled, measured = student(device, calibration, encoder, depth)
    estimate = estimate_fidelity(measured, properties)
    before_readout = estimate.fidelity / estimate.factors["readout"]
    rng = np.random.default_rng(0)
    data = enc.symbol_values(tf.constant(rng.uniform(0.1, 1, (2, enc.n_features)), tf.float32)).numpy()
    weights = rng.uniform(0, 2 * np.pi, len(ans.symbols())).astype(np.float32)
    noisy = add_noise(measured, noise_model(properties))
    unread = cirq.Circuit(op for op in noisy.all_operations()
                          if not isinstance(op.gate, cirq.GeneralizedAmplitudeDampingChannel))
    symbols = {"qubits": compiled.measured_qubits, "data_symbols": enc.symbols(), "weight_symbols": ans.symbols()}
    rho = compile_noisy_circuit(unread, **symbols).density_matrix(weights, data=data).numpy()
    pure = compile_noisy_circuit(measured, **symbols).density_matrix(weights, data=data).numpy()
    fidelity = np.real(np.einsum("bij,bji->b", rho, pure))
    assert np.all(before_readout <= fidelity) and np.all(fidelity <= before_readout + 0.4 * (1 - before_readout))


def test_deep_circuits_warn_near_chance_and_cz_is_flagged_uncalibrated(weber) -> None:
    device, calibration, properties = weber
    *_, deep = student(device, calibration, "amplitude", depth=5, n=4)
    estimate = estimate_fidelity(deep, properties)
    assert estimate.fidelity < NEAR_CHANCE
    warning = estimate.warning(chance=0.1)
    assert "near chance (10 % for 10 classes)" in warning and "qdistill transpile" in warning
    *_, cz = student(device, calibration, depth=1, gateset="cz")
    estimate = estimate_fidelity(cz, properties)
    assert estimate.uncalibrated == ("CZPowGate",) and "optimistic" in estimate.warning()


def test_transpile_report_scores_designs(weber, tmp_path) -> None:
    from qkernel.errors import ConfigError
    from qkernel.hardware.transpile import designs, plot_designs, transpile_designs

    grid = designs(["weber"], ["angle", "amplitude"], ["hardware_efficient"], [3], [1])
    rows = transpile_designs(grid)
    by_encoder = {r["encoder"]: r for r in rows}
    assert by_encoder["angle"]["two_qubit_gates"] < by_encoder["amplitude"]["two_qubit_gates"]
    assert by_encoder["angle"]["fidelity"] > by_encoder["amplitude"]["fidelity"] > 0
    assert by_encoder["angle"]["verdict"] == "usable" and by_encoder["angle"]["parameters"] == 6
    assert plot_designs(rows, tmp_path / "designs.png").stat().st_size > 1000
    with pytest.raises(ConfigError, match="unknown gateset 'syc'"):
        designs(["weber"], ["angle"], ["rotations"], [2], [1], gatesets=["syc"])
