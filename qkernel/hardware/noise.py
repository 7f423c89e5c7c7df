"""A processor's calibration noise: the Quantum Virtual Machine's noise model, and what it predicts.

* :func:`noise_properties` / :func:`noise_model` build exactly the model cirq-google's
  ``create_default_noisy_quantum_virtual_machine`` gives its simulator:
  ``NoiseModelFromGoogleNoiseProperties(noise_properties_from_calibration(calibration))``.
  Per physical moment it adds thermal relaxation and dephasing on every qubit (T1, Tφ for
  the moment's duration), after every gate a depolarising channel (the calibrated Pauli
  error minus decoherence and coherent parts) and, after every √iSWAP, its coherent
  entangler error (a ``PhasedFSimGate``); before every measurement a generalised amplitude
  damping channel that reproduces the readout errors ``p(1|0)``, ``p(0|1)``. Virtual Z gates
  are noiseless. :func:`add_noise` inserts it into a compiled circuit (symbols intact).
* :func:`estimate_fidelity` predicts, from the same calibration numbers, the probability
  that a run of the circuit suffers no error at all (the digital error model of Google's
  supremacy experiment): the product of ``1 − e`` over every gate's Pauli error, every idle
  qubit-moment's decoherence error and every measured qubit's readout error. A noisy
  expectation is roughly ``F·exact + (1 − F)·(noise floor)``, so with ``F`` near zero the
  classifier sees no signal and its accuracy drops to chance.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import cirq
import numpy as np

from qkernel.hardware.device import quiet_cirq

__all__ = ["FidelityEstimate", "add_noise", "estimate_fidelity", "noise_model", "noise_properties"]

#: Estimated fidelity below which results are expected to be near chance.
NEAR_CHANCE = 0.1
#: Estimated fidelity below which results are expected to be clearly degraded.
DEGRADED = 0.4


def noise_properties(calibration: Any) -> Any:
    """``cirq_google.GoogleNoiseProperties`` of a ``cirq_google.Calibration`` (what the QVM uses)."""
    from cirq_google.engine.calibration_to_noise_properties import noise_properties_from_calibration

    return noise_properties_from_calibration(calibration)


def noise_model(properties: Any) -> cirq.NoiseModel:
    """The QVM's noise model of ``properties`` (see the module docstring)."""
    import cirq_google

    return cirq_google.NoiseModelFromGoogleNoiseProperties(properties)


def add_noise(circuit: cirq.AbstractCircuit, model: cirq.NoiseModel | None) -> cirq.Circuit:
    """``circuit.with_noise(model)`` (Cirq's own insertion), or the circuit itself without a model."""
    if model is None:
        return cirq.Circuit(circuit)
    with quiet_cirq():
        return circuit.with_noise(model)


@dataclass(frozen=True)
class FidelityEstimate:
    """Predicted probability that a shot suffers no error, and where the errors come from.

    Attributes:
        fidelity: Product of all factors.
        factors: Fidelity factor per source: ``two_qubit_gates``, ``one_qubit_gates``,
            ``idle`` (decoherence of waiting qubits) and ``readout``.
        counts: Operations counted per source (idle: qubit-moments).
        uncalibrated: Gate types on the device whose errors the calibration does not give
            (the QVM simulates them without gate error, so the estimate is optimistic).
    """

    fidelity: float
    factors: dict[str, float]
    counts: dict[str, int]
    uncalibrated: tuple[str, ...] = field(default=())

    def warning(self, chance: float | None = None) -> str | None:
        """A warning when the result is expected near chance (or clearly degraded); else ``None``."""
        note = ""
        if self.uncalibrated:
            note = (f" The calibration has no error data for {', '.join(self.uncalibrated)}: the QVM simulates them"
                    " without gate error, so this estimate (and the QVM) is optimistic for hardware.")
        level = f" ({100 * chance:.0f} % for {round(1 / chance)} classes)" if chance else ""
        worst = min(self.factors, key=self.factors.get)
        if self.fidelity < NEAR_CHANCE:
            return (f"estimated circuit fidelity {self.fidelity:.3g} < {NEAR_CHANCE}: the processor's noise "
                    f"erases the circuit's output; expect accuracy near chance{level}. Largest loss: "
                    f"{worst.replace('_', ' ')} ({self.factors[worst]:.3g}). Choose a shallower design "
                    f"(`qdistill transpile`) or train noise-aware.{note}")
        if self.fidelity < DEGRADED:
            return (f"estimated circuit fidelity {self.fidelity:.3g} < {DEGRADED}: expect accuracy well below the "
                    f"exact one. Largest loss: {worst.replace('_', ' ')} ({self.factors[worst]:.3g}).{note}")
        return note.strip() or None

    def as_dict(self) -> dict[str, Any]:
        """JSON-able form (for reports)."""
        return {"fidelity": self.fidelity, "factors": dict(self.factors), "counts": dict(self.counts),
                "uncalibrated": list(self.uncalibrated)}


def _pauli_errors(properties: Any) -> dict[tuple[type, tuple[cirq.Qid, ...]], float]:
    return {(op_id.gate_type, tuple(op_id.qubits)): float(e) for op_id, e in properties.gate_pauli_errors.items()}


def _duration(op: cirq.Operation, gate_times: Mapping[type, float]) -> float:
    for gate_type, ns in gate_times.items():
        if isinstance(op.gate, gate_type):
            return float(ns)
    return 0.0


def estimate_fidelity(circuit: cirq.AbstractCircuit, properties: Any) -> FidelityEstimate:
    """Digital-error-model fidelity of a compiled, measured ``circuit`` under ``properties``.

    Args:
        circuit: Compiled for the device (``PhasedXZGate``, virtual ``ZPowGate``, √iSWAP or CZ,
            measurements), before noise insertion.
        properties: From :func:`noise_properties`.

    Returns:
        The :class:`FidelityEstimate`.
    """
    from cirq.qis import decoherence_pauli_error

    errors = _pauli_errors(properties)
    gate_types = {gate_type for gate_type, _ in errors}
    factors = {"two_qubit_gates": 1.0, "one_qubit_gates": 1.0, "idle": 1.0, "readout": 1.0}
    counts = dict.fromkeys(factors, 0)
    uncalibrated: set[str] = set()
    qubits = sorted(circuit.all_qubits())
    for moment in circuit:
        physical = [op for op in moment if not (isinstance(op.gate, cirq.ZPowGate) and not cirq.is_measurement(op))]
        duration = max((_duration(op, properties.gate_times_ns) for op in physical), default=0.0)
        busy = set()
        for op in physical:
            busy |= set(op.qubits)
            if cirq.is_measurement(op):
                for q in op.qubits:
                    p0, p1 = properties.readout_errors.get(q, (0.0, 0.0))
                    factors["readout"] *= 1.0 - 0.5 * (p0 + p1)
                    counts["readout"] += 1
                continue
            source = "two_qubit_gates" if len(op.qubits) == 2 else "one_qubit_gates"
            error = errors.get((type(op.gate), tuple(op.qubits)))
            if error is None:
                error = next((e for (t, qs), e in errors.items() if qs == tuple(op.qubits) and isinstance(op.gate, t)), None)
            if error is None:
                if not any(isinstance(op.gate, t) for t in gate_types):
                    uncalibrated.add(type(op.gate).__name__)
                error = sum(decoherence_pauli_error(properties.t1_ns[q], properties.tphi_ns.get(q, 1e10), duration)
                            for q in op.qubits if q in properties.t1_ns)
            factors[source] *= 1.0 - error
            counts[source] += 1
        if duration > 0:
            for q in qubits:
                if q not in busy and q in properties.t1_ns:
                    tphi = properties.tphi_ns.get(q, 1e10)
                    factors["idle"] *= 1.0 - decoherence_pauli_error(properties.t1_ns[q], tphi, duration)
                    counts["idle"] += 1
    fidelity = float(np.prod(list(factors.values())))
    return FidelityEstimate(fidelity, {k: float(v) for k, v in factors.items()}, counts, tuple(sorted(uncalibrated)))
