"""Running trained students on Google quantum processors (Quantum Virtual Machine or Engine).

* :mod:`~qkernel.hardware.placement` — choose device qubits, map and route onto them;
* :mod:`~qkernel.hardware.device` — compile (convert to the gateset) and validate for a device;
* :mod:`~qkernel.hardware.sampling` — shot expectations, one job per batch, readout mitigation;
* :mod:`~qkernel.hardware.engine` — obtain the QVM or an Engine processor (credentials first);
* :mod:`~qkernel.hardware.noise` — the QVM's calibration noise model and the fidelity it predicts;
* :mod:`~qkernel.hardware.native_sampler` — the QVM on the native kernel's noisy mode (default);
* :mod:`~qkernel.hardware.emulator` — a circuit under a processor's noise, differentiable (noise-aware training);
* :mod:`~qkernel.hardware.evaluate` — a trained KD student's accuracy under device noise
  (:mod:`~qkernel.hardware.report`: its markdown and JSON);
* :mod:`~qkernel.hardware.transpile` — student designs compiled and scored per processor.

Imports ``cirq_google``; nothing else in qkernel imports this package, so it costs nothing
unless hardware is used.
"""

from __future__ import annotations

import warnings

# google.api_core (imported by cirq_google) warns about Python versions on every import.
warnings.filterwarnings("ignore", message="You are using a Python version", category=FutureWarning)

from qkernel.hardware.device import (  # noqa: E402
    GATESETS,
    CircuitStats,
    CompiledCircuit,
    circuit_stats,
    compile_circuit,
    known_processors,
    load_device,
)
from qkernel.hardware.emulator import ProcessorEmulator  # noqa: E402
from qkernel.hardware.engine import Processor, check_credentials, open_engine, open_processor, open_qvm  # noqa: E402
from qkernel.hardware.native_sampler import NativeSampler  # noqa: E402
from qkernel.hardware.noise import (  # noqa: E402
    FidelityEstimate,
    add_noise,
    estimate_fidelity,
    noise_model,
    noise_properties,
)
from qkernel.hardware.placement import choose_qubits  # noqa: E402
from qkernel.hardware.sampling import (  # noqa: E402
    ExecutionCounter,
    ReadoutCorrection,
    ShotEstimator,
    calibrate_readout,
)

__all__ = [
    "GATESETS",
    "CircuitStats",
    "CompiledCircuit",
    "ExecutionCounter",
    "FidelityEstimate",
    "NativeSampler",
    "Processor",
    "ProcessorEmulator",
    "ReadoutCorrection",
    "ShotEstimator",
    "calibrate_readout",
    "add_noise",
    "check_credentials",
    "choose_qubits",
    "circuit_stats",
    "compile_circuit",
    "estimate_fidelity",
    "known_processors",
    "load_device",
    "noise_model",
    "noise_properties",
    "open_engine",
    "open_processor",
    "open_qvm",
]
