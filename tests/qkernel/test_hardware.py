"""qkernel.hardware: compile for Google devices, shot estimates, readout mitigation, QVM and Engine access.

Small on purpose: 4 qubits wherever something is simulated; 8-qubit circuits are only
compiled and validated. No network: the Engine path runs on cirq-google's simulated engine.
"""

from __future__ import annotations

import cirq
import cirq_google
import numpy as np
import pytest
import sympy
import tensorflow as tf

from qkernel.errors import HardwareError
from qkernel.hardware import (
    ExecutionCounter,
    ShotEstimator,
    calibrate_readout,
    check_credentials,
    compile_circuit,
    load_device,
    open_processor,
    open_qvm,
)
from qkernel.hardware.engine import PrenoisedSimulator
from qkernel.sim.observables import measurement_plan, xyz_each, z_each
from qkernel.plugin.registry import get_registry

REGISTRY = get_registry()
PROCESSORS = ("weber", "rainbow")
DEVICES = {name: load_device(name) for name in PROCESSORS}


def _program(encoder: str, ansatz: str, n: int, depth: int = 2):
    enc = REGISTRY.create("encoder", encoder, n_qubits=n)
    ans = REGISTRY.create("ansatz", ansatz, n_qubits=n, depth=depth)
    qubits = cirq.LineQubit.range(n)
    return enc, ans, qubits, enc.circuit(qubits) + ans.circuit(qubits)


def _resolvers(enc, ans, batch: int, seed: int) -> list[cirq.ParamResolver]:
    rng = np.random.default_rng(seed)
    x = rng.uniform(0.1, 1.0, (batch, enc.n_features))
    data = np.asarray(enc.symbol_values(tf.constant(x, tf.float64)))
    w = rng.uniform(0, 2 * np.pi, len(ans.symbols()))
    return [cirq.ParamResolver(dict(zip(enc.symbols() + ans.symbols(), [*row, *w]))) for row in data]


def _check_compiled(compiled, device, n: int) -> None:
    device.validate_circuit(compiled.circuit)
    assert compiled.stats.qubits == n == len(set(compiled.measured_qubits))
    assert cirq.is_parameterized(compiled.circuit)  # compiled once, symbols intact
    two_qubit = {type(op.gate) for op in compiled.circuit.all_operations() if len(op.qubits) == 2}
    assert two_qubit <= {cirq.ISwapPowGate, cirq.FSimGate, cirq.PhasedFSimGate, cirq.CZPowGate}


# ---------------------------------------------------------------- compile + validate


@pytest.mark.parametrize("processor", PROCESSORS)
@pytest.mark.parametrize("n", [4, 8])
@pytest.mark.parametrize("ansatz", REGISTRY.names("ansatz"))
def test_every_ansatz_compiles_and_validates(ansatz: str, n: int, processor: str) -> None:
    *_, qubits, circuit = _program("angle", ansatz, n)
    _check_compiled(compile_circuit(circuit, qubits, DEVICES[processor]), DEVICES[processor], n)


@pytest.mark.parametrize("processor", PROCESSORS)
@pytest.mark.parametrize("n", [4, 8])
@pytest.mark.parametrize("encoder", REGISTRY.names("encoder"))
def test_every_encoder_compiles_and_validates(encoder: str, n: int, processor: str) -> None:
    *_, qubits, circuit = _program(encoder, "hardware_efficient", n, depth=1)
    _check_compiled(compile_circuit(circuit, qubits, DEVICES[processor]), DEVICES[processor], n)


def test_placement_is_compact_and_a_ring_needs_no_swaps() -> None:
    *_, qubits, circuit = _program("angle", "hardware_efficient", 4)
    compiled = compile_circuit(circuit, qubits, DEVICES["weber"])
    graph = DEVICES["weber"].metadata.nx_graph
    assert graph.subgraph(compiled.region).number_of_edges() == 4  # a 2×2 square hosts the CNOT ring
    assert compiled.stats.swaps == 0


@pytest.mark.parametrize("gateset", ["sqrt_iswap", "cz"])
@pytest.mark.parametrize("encoder", REGISTRY.names("encoder"))
def test_resolved_compiled_circuit_prepares_the_logical_state(encoder: str, gateset: str) -> None:
    enc, ans, qubits, circuit = _program(encoder, "strongly_entangling", 4)
    compiled = compile_circuit(circuit, qubits, DEVICES["weber"], gateset=gateset)
    sim = cirq.Simulator(dtype=np.complex128)
    for resolver in _resolvers(enc, ans, 3, seed=1):
        want = sim.simulate(circuit, resolver, qubit_order=qubits).final_state_vector
        got = sim.simulate(compiled.circuit, resolver, qubit_order=compiled.measured_qubits).final_state_vector
        assert abs(abs(np.vdot(want, got)) - 1) < 1e-6  # equal up to a global phase
        observables = xyz_each(qubits)
        exact = np.real(sim.simulate_expectation_values(circuit, observables, resolver, qubit_order=qubits))
        moved = [o.with_qubits(*[compiled.final[q] for q in o.qubits]) for o in observables]
        on_device = np.real(sim.simulate_expectation_values(compiled.circuit, moved, resolver))
        np.testing.assert_allclose(on_device, exact, atol=1e-5)


def test_amplitude_encoding_runs_the_state_preparation_template() -> None:
    enc, _, qubits, _ = _program("amplitude", "hardware_efficient", 4)
    prep = compile_circuit(enc.circuit(qubits), qubits, DEVICES["weber"])
    assert enc.resources().two_qubit_gates == 14 and prep.stats.two_qubit_gates >= 14
    assert cirq.parameter_symbols(prep.circuit) == set(enc.symbols())


def test_compile_errors_name_the_problem() -> None:
    q = cirq.LineQubit.range(3)
    with pytest.raises(HardwareError, match="one- and two-qubit"):
        compile_circuit(cirq.Circuit(cirq.CCZ(*q)), q, DEVICES["weber"])
    with pytest.raises(HardwareError, match="unknown gateset 'syc'"):
        compile_circuit(cirq.Circuit(cirq.CZ(q[0], q[1])), q, DEVICES["weber"], gateset="syc")
    far = [cirq.GridQubit(0, 5), cirq.GridQubit(9, 4), cirq.GridQubit(5, 5)]
    with pytest.raises(HardwareError, match="connected"):
        compile_circuit(cirq.Circuit(cirq.CZ(q[0], q[1])), q, DEVICES["weber"], region=far)


# ---------------------------------------------------------------- sampling


class CountingSampler(cirq.Sampler):
    """Delegates to ``inner`` and records every ``run_sweep`` call (one job each)."""

    def __init__(self, inner: cirq.Sampler) -> None:
        self.inner, self.calls = inner, []

    def run_sweep(self, program, params, repetitions=1):
        points = list(cirq.to_resolvers(params))
        self.calls.append((len(points), repetitions))
        return self.inner.run_sweep(program, points, repetitions)


def _exact(circuit, qubits, observables, resolvers) -> np.ndarray:
    sim = cirq.Simulator(dtype=np.complex128)
    return np.real([sim.simulate_expectation_values(circuit, observables, r, qubit_order=qubits) for r in resolvers])


def test_shot_estimates_converge_to_exact_values_in_one_job_per_batch() -> None:
    enc, ans, qubits, circuit = _program("amplitude", "hardware_efficient", 4)
    qvm = open_qvm("weber", noise=False, seed=3)
    compiled = compile_circuit(circuit, qubits, qvm.device, calibration=qvm.calibration)
    observables = xyz_each(qubits)  # three measurement settings, still one sweep
    sampler = CountingSampler(qvm.sampler)
    estimator = ShotEstimator(compiled, measurement_plan(observables, qubits), sampler, shots=3000)
    resolvers = _resolvers(enc, ans, 4, seed=2)
    values = estimator(resolvers)
    assert sampler.calls == [(12, 3000)]  # 4 samples × 3 settings, one run_sweep
    assert estimator.counter.as_dict() == {"jobs": 1, "circuits": 12, "shots": 36000}
    exact = _exact(circuit, qubits, observables, resolvers)
    errors = estimator.last_standard_errors
    assert np.all(np.abs(values - exact) <= 4 * errors + 1e-3), np.max(np.abs(values - exact) / (errors + 1e-9))
    qvm.device.validate_circuit(estimator.circuit)  # measurements added after compile still validate


class ReadoutNoise(cirq.NoiseModel):
    """Asymmetric readout errors only, applied just before measurements (as cirq-google's QVM does)."""

    def __init__(self, p10: float, p01: float) -> None:
        self.p, self.gamma = p01 / (p10 + p01), p10 + p01

    def noisy_moment(self, moment, system_qubits):
        if not any(cirq.is_measurement(op) for op in moment):
            return moment
        qubits = [q for op in moment if cirq.is_measurement(op) for q in op.qubits]
        return [cirq.Moment(cirq.generalized_amplitude_damp(self.p, self.gamma).on_each(*qubits)), moment]


def test_readout_mitigation_removes_readout_bias() -> None:
    enc, ans, qubits, circuit = _program("angle", "hardware_efficient", 4)
    qvm = open_qvm("weber", noise=False)
    compiled = compile_circuit(circuit, qubits, qvm.device)
    sampler = PrenoisedSimulator(ReadoutNoise(p10=0.04, p01=0.12), seed=5)
    plan = measurement_plan(z_each(qubits), qubits)
    resolvers = _resolvers(enc, ans, 6, seed=4)
    exact = _exact(circuit, qubits, z_each(qubits), resolvers)
    raw = ShotEstimator(compiled, plan, sampler, shots=4000)(resolvers)
    counter = ExecutionCounter()
    correction = calibrate_readout(sampler, compiled.measured_qubits, 8000, qvm.device, counter)
    np.testing.assert_allclose(correction.p10, 0.04, atol=0.015)
    np.testing.assert_allclose(correction.p01, 0.12, atol=0.02)
    assert counter.jobs == 1 and counter.circuits == 2
    mitigated = ShotEstimator(compiled, plan, sampler, shots=4000, correction=correction)(resolvers)
    raw_error, mitigated_error = np.abs(raw - exact).mean(), np.abs(mitigated - exact).mean()
    assert raw_error > 0.04 and mitigated_error < raw_error / 2, (raw_error, mitigated_error)


def test_noise_inserted_once_equals_noise_inserted_per_parameter_set() -> None:
    from cirq_google.devices.google_noise_properties import NoiseModelFromGoogleNoiseProperties
    from cirq_google.engine.calibration_to_noise_properties import noise_properties_from_calibration
    from cirq_google.engine.virtual_engine_factory import load_median_device_calibration

    noise = NoiseModelFromGoogleNoiseProperties(noise_properties_from_calibration(
        load_median_device_calibration("weber")))
    enc, ans, qubits, circuit = _program("angle", "hardware_efficient", 2, depth=1)
    compiled = compile_circuit(circuit, qubits, load_device("weber"))
    program = compiled.circuit + cirq.measure(*compiled.measured_qubits, key="m")
    prenoised = PrenoisedSimulator(noise)._noisy(program)
    assert cirq.is_parameterized(prenoised)

    def state(noisy: cirq.AbstractCircuit) -> np.ndarray:
        """Density matrix just before readout (readout-error channels included, measurement dropped)."""
        unmeasured = cirq.Circuit(op for op in noisy.all_operations() if not cirq.is_measurement(op))
        sim = cirq.DensityMatrixSimulator(dtype=np.complex128)
        return sim.simulate(unmeasured, qubit_order=compiled.measured_qubits).final_density_matrix

    for resolver in _resolvers(enc, ans, 2, seed=6):
        once = state(cirq.resolve_parameters(prenoised, resolver))
        each = state(cirq.resolve_parameters(program, resolver).with_noise(noise))
        np.testing.assert_allclose(once, each, atol=1e-8)


# ---------------------------------------------------------------- processors and credentials


def test_unknown_processor_names_the_known_ones() -> None:
    with pytest.raises(HardwareError, match=r"unknown processor 'sycamore'.*rainbow, weber.*--processor weber"):
        open_processor("sycamore")
    with pytest.raises(HardwareError, match="rainbow, weber"):
        load_device("sycamore")


@pytest.fixture
def no_credentials(tmp_path, monkeypatch):
    """Application-default credentials that find nothing, without touching the network."""
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(tmp_path / "missing-key.json"))
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("CLOUDSDK_CONFIG", str(tmp_path / "gcloud"))

    def no_engine(*args, **kwargs):
        raise AssertionError("the Engine must not be contacted without credentials")

    monkeypatch.setattr(cirq_google, "get_engine", no_engine)


def test_missing_credentials_fail_before_any_request_and_point_to_the_qvm(no_credentials) -> None:
    with pytest.raises(HardwareError) as info:
        check_credentials()
    message = str(info.value)
    assert "no Google Cloud credentials" in message and "--processor weber" in message
    assert "gcloud auth application-default login" in message
    with pytest.raises(HardwareError, match="no Google Cloud credentials"):
        open_processor("weber", project_id="my-project")


@pytest.fixture
def simulated_engine(monkeypatch):
    """``cirq_google.get_engine`` returning cirq-google's local simulated engine (weber + rainbow specs)."""
    import google.auth

    from cirq_google.engine.virtual_engine_factory import create_noiseless_virtual_engine_from_latest_templates

    engine = create_noiseless_virtual_engine_from_latest_templates()
    requested = []
    monkeypatch.setattr(google.auth, "default", lambda *a, **k: (object(), "test-project"))
    monkeypatch.setattr(cirq_google, "get_engine", lambda project_id=None: requested.append(project_id) or engine)
    return requested


def test_engine_path_runs_on_a_simulated_engine(simulated_engine) -> None:
    proc = open_processor("weber", project_id="test-project")
    assert proc.kind == "engine" and simulated_engine == ["test-project"]
    assert "project test-project" in proc.describe()
    enc, ans, qubits, circuit = _program("angle", "hardware_efficient", 4)
    compiled = compile_circuit(circuit, qubits, proc.device, calibration=proc.calibration)
    # The simulated processor serializes programs as the Engine would (symbols included).
    estimator = ShotEstimator(compiled, measurement_plan(z_each(qubits), qubits), proc.sampler, shots=2000)
    resolvers = _resolvers(enc, ans, 3, seed=7)
    values = estimator(resolvers)
    exact = _exact(circuit, qubits, z_each(qubits), resolvers)
    assert np.all(np.abs(values - exact) <= 4 * estimator.last_standard_errors + 1e-3)
    assert estimator.counter.jobs == 1
    cirq_google.CIRCUIT_SERIALIZER.serialize(estimator.circuit)


def test_engine_path_unknown_processor_points_to_the_qvm(simulated_engine) -> None:
    message = r"processor 'nope' is not available to project 'test-project'.*--processor weber"
    with pytest.raises(HardwareError, match=message):
        open_processor("nope", project_id="test-project")


def test_symbols_resolve_in_the_compiled_circuit() -> None:
    theta = sympy.Symbol("theta")
    q = cirq.LineQubit.range(2)
    circuit = cirq.Circuit(cirq.ry(theta).on(q[0]), cirq.CNOT(*q), cirq.rx(2 * theta).on(q[1]))
    compiled = compile_circuit(circuit, q, DEVICES["rainbow"])
    assert cirq.parameter_symbols(compiled.circuit) == {theta}
    resolved = cirq.resolve_parameters(compiled.circuit, {theta: 0.3})
    assert not cirq.is_parameterized(resolved)
