"""The ``google`` backend plugin: options, one job per batch, agreement with the exact simulator."""

from __future__ import annotations

import cirq
import numpy as np
import pytest

from qkernel.plugin.contracts import Backend
from qkernel.errors import ConfigError, HardwareError
from qkernel.sim.observables import xyz_each
from qkernel.plugin.registry import get_registry

REGISTRY = get_registry()


def test_registered_and_evaluation_only() -> None:
    backend = REGISTRY.create("backend", "google", shots=10, noise=False)
    assert "google" in REGISTRY.names("backend") and isinstance(backend, Backend)
    assert backend.differentiable is False and backend.processor.kind == "qvm"


def test_gatesets_match_the_library() -> None:
    from plugins.backends.google import GATESETS
    from qkernel.hardware import GATESETS as LIBRARY

    assert GATESETS == LIBRARY


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"shots": 0}, "shots must be an integer >= 1"),
        ({"gateset": "syc"}, "gateset must be one of sqrt_iswap, cz"),
        ({"method": "mps"}, "method must be one of native, density_matrix, qsim; got 'mps'"),
        ({"project_id": "p", "noise": False}, "noise=False applies to the Quantum Virtual Machine only"),
    ],
)
def test_bad_options_are_config_errors(options: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        REGISTRY.create("backend", "google", **options)


def test_unknown_processor_is_a_hardware_error() -> None:
    with pytest.raises(HardwareError, match="--processor weber"):
        REGISTRY.create("backend", "google", processor="bristlecone")


class Counting(cirq.Sampler):
    def __init__(self, inner: cirq.Sampler) -> None:
        self.inner, self.jobs = inner, 0

    def run_sweep(self, program, params, repetitions=1):
        self.jobs += 1
        return self.inner.run_sweep(program, params, repetitions)


def test_noiseless_backend_matches_cirq_with_one_job_per_call_and_one_readout_calibration() -> None:
    enc = REGISTRY.create("encoder", "amplitude", n_qubits=4)
    ans = REGISTRY.create("ansatz", "hardware_efficient", n_qubits=4, depth=2)
    observables = xyz_each(cirq.LineQubit.range(4))
    rng = np.random.default_rng(0)
    x = rng.uniform(0.1, 1.0, (5, enc.n_features)).astype(np.float32)
    w = rng.uniform(0, 2 * np.pi, len(ans.symbols())).astype(np.float32)
    backend = REGISTRY.create("backend", "google", shots=4000, noise=False, readout_mitigation=True, seed=1)
    counting = Counting(backend.processor.sampler)
    backend.processor.sampler = counting
    fn = backend.compile(enc, ans, observables)
    got = np.concatenate([np.asarray(fn(x[:3], w)), np.asarray(fn(x[3:], w))])
    assert counting.jobs == 3  # one readout calibration, then one job per call
    assert backend.stats() == {"circuit_executions": 15, "shots": 60000, "jobs": 3, "calibration_shots": 8000}
    want = np.asarray(REGISTRY.create("backend", "cirq").compile(enc, ans, observables)(x, w))
    assert np.max(np.abs(got - want)) < 0.08
    described = backend.describe()
    assert described["compiled"]["qubits"] == 4 and len(described["qubits"]) == 4
    assert described["readout"]["p10"] == [0.0] * 4  # noiseless: nothing to correct
