"""The Quantum Virtual Machine on the native kernel: the same shot statistics as qsim's trajectories."""

from __future__ import annotations

import cirq
import numpy as np
import pytest
import tensorflow as tf
from scipy.stats import chi2_contingency

from qkernel.hardware import NativeSampler, compile_circuit, load_device, open_qvm
from qkernel.hardware import native_sampler as native_module
from qkernel.hardware.engine import PrenoisedSimulator
from qkernel.plugin.registry import get_registry

REGISTRY = get_registry()
SHOTS = 4000


@pytest.fixture(scope="module")
def program():
    """A 3-qubit student compiled for weber, measured, with resolvers for 3 samples, and the QVM noise model."""
    from cirq_google.engine.virtual_engine_factory import load_median_device_calibration

    from qkernel.hardware import noise_model, noise_properties

    enc = REGISTRY.create("encoder", "angle", n_qubits=3)
    ans = REGISTRY.create("ansatz", "hardware_efficient", n_qubits=3, depth=2)
    qubits = cirq.LineQubit.range(3)
    calibration = load_median_device_calibration("weber")
    compiled = compile_circuit(enc.circuit(qubits) + ans.circuit(qubits), qubits, load_device("weber"),
                               calibration=calibration)
    measured = compiled.measured(cirq.Circuit(cirq.measure(*qubits, key="m")))
    rng = np.random.default_rng(4)
    data = enc.symbol_values(tf.constant(rng.uniform(0, 1, (3, 3)), tf.float64)).numpy()
    weights = rng.uniform(0, 2 * np.pi, len(ans.symbols()))
    resolvers = [cirq.ParamResolver(dict(zip(enc.symbols() + ans.symbols(), [*row, *weights]))) for row in data]
    return measured, resolvers, noise_model(noise_properties(calibration))


def outcomes(results) -> list[np.ndarray]:
    return [np.bincount((np.asarray(r.measurements["m"]) * [4, 2, 1]).sum(axis=1), minlength=8) for r in results]


def test_native_qvm_samples_what_qsim_trajectories_sample(program) -> None:
    measured, resolvers, noise = program
    native = PrenoisedSimulator(noise, seed=1, method="native").run_sweep(measured, resolvers, repetitions=SHOTS)
    qsim = PrenoisedSimulator(noise, seed=2, method="qsim").run_sweep(measured, resolvers, repetitions=SHOTS)
    for a, b in zip(outcomes(native), outcomes(qsim)):
        keep = (a + b) > 0
        assert chi2_contingency(np.stack([a[keep], b[keep]])).pvalue > 1e-4, (a, b)
    z_native = np.stack([1 - 2 * np.asarray(r.measurements["m"]).mean(axis=0) for r in native])
    z_qsim = np.stack([1 - 2 * np.asarray(r.measurements["m"]).mean(axis=0) for r in qsim])
    assert np.all(np.abs(z_native - z_qsim) < 5 * np.sqrt(2 / SHOTS))
    assert np.abs(z_native).max() > 0.1  # not a trivially uniform distribution


def test_the_qvm_runs_on_the_native_kernel_by_default(program, monkeypatch) -> None:
    measured, resolvers, noise = program
    assert open_qvm("weber").simulator == "native density matrix"
    assert open_qvm("weber", method="qsim").simulator == "qsim trajectories"
    sampler = NativeSampler(seed=0)
    done = []
    sampler.progress = lambda k, total: done.append((k, total))
    sampler.chunk = 2
    results = sampler.run_sweep(cirq.Circuit(measured).with_noise(noise), resolvers, repetitions=10)
    assert [np.asarray(r.measurements["m"]).shape for r in results] == [(10, 3)] * 3
    assert done == [(2, 3), (3, 3)] and sampler.compiled_programs == 1
    monkeypatch.setattr(native_module, "MAX_DENSITY_QUBITS", 2)
    compiled, _ = NativeSampler(method="auto").compiled(measured)
    assert compiled.method == "trajectories"


def test_google_backend_reports_the_fidelity_estimate_and_batches_for_progress() -> None:
    backend = REGISTRY.create("backend", "google", processor="weber", shots=100, seed=0)
    enc = REGISTRY.create("encoder", "angle", n_qubits=2)
    ans = REGISTRY.create("ansatz", "hardware_efficient", n_qubits=2, depth=1)
    fn = backend.compile(enc, ans, [cirq.Z(q) for q in cirq.LineQubit.range(2)])
    assert backend.fidelity is not None and 0.5 < backend.describe()["fidelity"]["fidelity"] < 1.0
    assert backend.preferred_batch_size == 16
    out = np.asarray(fn(np.full((2, 2), 0.3, np.float32), np.zeros(len(ans.symbols()), np.float32)))
    assert out.shape == (2, 2) and np.all(np.abs(out) <= 1)
    assert REGISTRY.create("backend", "google", method="qsim").preferred_batch_size == 1
