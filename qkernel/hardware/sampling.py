"""Shot-based expectation values on a ``cirq.Sampler``: one job per batch, optional readout mitigation.

:class:`ShotEstimator` turns a :class:`~qkernel.hardware.device.CompiledCircuit` and a
:class:`~qkernel.sim.observables.MeasurementPlan` into measured circuits **once**; each call
then runs the whole batch of samples as **one** ``sampler.run_sweep`` (one Engine job):

* readouts needing only ``Z`` (``z_each``) measure the compiled circuit directly;
* readouts needing several measurement settings (``xyz_each``) append one layer of
  symbolic ``PhasedXZGate`` basis changes, so every setting is just another parameter
  resolver of the same circuit and samples × settings still form one sweep.

Readout-error mitigation (:func:`calibrate_readout`): a calibration run prepares
``|0…0⟩`` and ``|1…1⟩`` on the measured qubits — one circuit, a two-point sweep, one job —
and measures each qubit's ``p(1|0)`` and ``p(0|1)`` as they are at that moment, on the QVM
and on hardware alike (the Engine's stored calibration can be hours old and is absent on
simulated processors). Estimates are corrected per qubit by inverting its 2×2 confusion
matrix (:meth:`qkernel.sim.observables.MeasurementPlan.estimate`), which assumes independent
readout errors; correlated readout errors are not removed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import cirq
import numpy as np
import sympy

from qkernel.errors import HardwareError, InputError
from qkernel.hardware.device import CompiledCircuit, validate
from qkernel.sim.observables import MeasurementPlan

__all__ = ["ExecutionCounter", "ReadoutCorrection", "ShotEstimator", "calibrate_readout"]

#: Measurement key of every circuit run here.
KEY = "m"
#: Below this ``1 − p(1|0) − p(0|1)`` a qubit's readout is too noisy to invert.
_MIN_READOUT_SCALE = 0.2
#: Per-qubit basis change to ``Z`` as ``PhasedXZGate`` exponents ``(x, axis phase)``.
_BASIS = {"Z": (0.0, 0.0), "X": (-0.5, 0.5), "Y": (0.5, 0.0)}


@dataclass
class ExecutionCounter:
    """What was sent to the sampler.

    Attributes:
        jobs: ``run_sweep`` calls (one Engine job each).
        circuits: Circuit executions (sweep points: samples × measurement settings).
        shots: Total repetitions over all circuit executions.
    """

    jobs: int = 0
    circuits: int = 0
    shots: int = 0

    def add(self, points: int, repetitions: int) -> None:
        """Count one job of ``points`` sweep points with ``repetitions`` shots each."""
        self.jobs += 1
        self.circuits += points
        self.shots += points * repetitions

    def as_dict(self) -> dict[str, int]:
        """The counts as a plain mapping."""
        return {"jobs": self.jobs, "circuits": self.circuits, "shots": self.shots}


@dataclass(frozen=True)
class ReadoutCorrection:
    """Per-qubit readout error rates measured by :func:`calibrate_readout`.

    Attributes:
        qubits: Physical qubits, in measurement column order.
        p10: ``p(read 1 | prepared 0)`` per qubit.
        p01: ``p(read 0 | prepared 1)`` per qubit.
        shots: Repetitions of each calibration state.
    """

    qubits: tuple[cirq.Qid, ...]
    p10: np.ndarray
    p01: np.ndarray
    shots: int = 0

    @property
    def scale(self) -> np.ndarray:
        """``1 − p(1|0) − p(0|1)``: how much readout shrinks a qubit's ``⟨Z⟩``."""
        return 1.0 - self.p10 - self.p01

    @property
    def offset(self) -> np.ndarray:
        """``p(0|1) − p(1|0)``: the shift readout adds to a qubit's ``⟨Z⟩``."""
        return self.p01 - self.p10

    def as_dict(self) -> dict[str, object]:
        """Rates keyed by qubit name (for reports)."""
        return {"shots": self.shots, "qubits": [str(q) for q in self.qubits],
                "p10": [round(float(v), 5) for v in self.p10], "p01": [round(float(v), 5) for v in self.p01]}


def calibrate_readout(
    sampler: cirq.Sampler,
    qubits: Sequence[cirq.Qid],
    shots: int,
    device: cirq.Device | None = None,
    counter: ExecutionCounter | None = None,
) -> ReadoutCorrection:
    """Measure each qubit's readout error rates with ``|0…0⟩`` and ``|1…1⟩`` (one job).

    Args:
        sampler: Where to run.
        qubits: Physical qubits, in the column order later estimates use.
        shots: Repetitions per calibration state.
        device: Validate the calibration circuit against it (recommended).
        counter: Counts the job.

    Returns:
        The rates.

    Raises:
        qkernel.errors.HardwareError: if a qubit's readout is too noisy to invert
            (``1 − p(1|0) − p(0|1) < 0.2``), naming the qubit.
    """
    qubits = tuple(qubits)
    flip = sympy.Symbol("_readout_flip")
    circuit = cirq.Circuit(
        cirq.Moment(cirq.PhasedXZGate(x_exponent=flip, z_exponent=0, axis_phase_exponent=0).on(q) for q in qubits),
        cirq.Moment(cirq.measure(*qubits, key=KEY)),
    )
    if device is not None:
        validate(device, circuit, "the readout calibration circuit")
    results = sampler.run_sweep(circuit, [cirq.ParamResolver({flip: 0.0}), cirq.ParamResolver({flip: 1.0})],
                                repetitions=shots)
    if counter is not None:
        counter.add(2, shots)
    zeros, ones = (np.asarray(r.measurements[KEY], dtype=np.float64) for r in results)
    correction = ReadoutCorrection(qubits, p10=zeros.mean(axis=0), p01=1.0 - ones.mean(axis=0), shots=shots)
    bad = [f"{q} (p(1|0)={a:.3f}, p(0|1)={b:.3f})" for q, a, b, s in
           zip(qubits, correction.p10, correction.p01, correction.scale) if s < _MIN_READOUT_SCALE]
    if bad:
        raise HardwareError(f"readout of {', '.join(bad)} is too noisy to mitigate; choose other qubits")
    return correction


@dataclass
class ShotEstimator:
    """Shot estimates of a plan's observables on a compiled circuit, one sampler job per call.

    Args:
        compiled: The compiled (unmeasured) circuit.
        plan: Which observables, grouped into measurement settings; its qubits are the
            compiled circuit's logical qubits.
        sampler: A ``cirq.Sampler`` (QVM or Engine processor sampler).
        shots: Repetitions per sample and setting.
        correction: Optional readout correction for :attr:`measured_qubits`.
        counter: Counts jobs, circuit executions and shots.

    Attributes:
        circuit: The measured circuit that is swept (validated against the device).
        last_standard_errors: Standard errors ``(B, M)`` of the latest estimates.
    """

    compiled: CompiledCircuit
    plan: MeasurementPlan
    sampler: cirq.Sampler
    shots: int
    correction: ReadoutCorrection | None = None
    counter: ExecutionCounter = field(default_factory=ExecutionCounter)
    circuit: cirq.Circuit = field(init=False)
    last_standard_errors: np.ndarray | None = field(init=False, default=None)

    def __post_init__(self) -> None:
        if tuple(self.plan.qubits) != tuple(self.compiled.logical_qubits):
            raise InputError(
                f"the measurement plan's qubits {list(self.plan.qubits)} differ from the compiled circuit's "
                f"logical qubits {list(self.compiled.logical_qubits)}"
            )
        self._setting_values: list[dict[sympy.Symbol, float]] = [{} for _ in self.plan.settings]
        if all(p == "Z" for setting in self.plan.settings for p in setting):
            basis = cirq.Circuit()
        else:
            xs = [sympy.Symbol(f"_basis_x_{k}") for k in range(len(self.plan.qubits))]
            axes = [sympy.Symbol(f"_basis_a_{k}") for k in range(len(self.plan.qubits))]
            basis = cirq.Circuit(cirq.Moment(
                cirq.PhasedXZGate(x_exponent=x, z_exponent=0, axis_phase_exponent=a).on(q)
                for q, x, a in zip(self.plan.qubits, xs, axes)))
            for values, setting in zip(self._setting_values, self.plan.settings):
                for x, a, pauli in zip(xs, axes, setting):
                    values[x], values[a] = _BASIS[pauli]
        basis.append(cirq.measure(*self.plan.qubits, key=KEY))
        self.circuit = self.compiled.measured(basis)

    @property
    def measured_qubits(self) -> tuple[cirq.Qid, ...]:
        """Physical qubits measured, in logical order (the columns of the bits)."""
        return self.compiled.measured_qubits

    def __call__(self, resolvers: Sequence[cirq.ParamResolver]) -> np.ndarray:
        """Estimates ``(len(resolvers), n_observables)`` float64 from one ``run_sweep``.

        Args:
            resolvers: One resolver per sample, binding every data and weight symbol.
        """
        resolvers = list(resolvers)
        if not resolvers:
            self.last_standard_errors = np.zeros((0, self.plan.n_observables))
            return np.zeros((0, self.plan.n_observables))
        n_settings = len(self.plan.settings)
        sweep = [cirq.ParamResolver({**r.param_dict, **values}) if values else r
                 for values in self._setting_values for r in resolvers]
        results = self.sampler.run_sweep(self.circuit, sweep, repetitions=self.shots)
        self.counter.add(len(sweep), self.shots)
        if len(results) != len(sweep):
            raise HardwareError(f"the sampler returned {len(results)} results for a sweep of {len(sweep)} points")
        bits = np.stack([np.asarray(r.measurements[KEY]) for r in results])
        per_setting = list(bits.reshape(n_settings, len(resolvers), *bits.shape[1:]))
        readout = None
        if self.correction is not None:
            readout = (self.correction.scale, self.correction.offset)
        values, errors = self.plan.estimate(per_setting, readout=readout)
        self.last_standard_errors = errors
        return values
