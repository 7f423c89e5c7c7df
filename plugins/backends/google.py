"""Google hardware backend: students' circuits on ``rainbow``/``weber`` (QVM) or Quantum Engine.

``compile`` places, routes and converts the encoder + ansatz circuit for the processor's
device **once**, with every data and weight symbol left symbolic, and validates it
(:func:`qkernel.hardware.compile_circuit`). Each call of the returned function runs the
batch as one parameter sweep — one job — with ``shots`` repetitions per sample
(:class:`qkernel.hardware.ShotEstimator`). Amplitude encoding runs as the Möttönen
state-preparation template of :mod:`qkernel.sim.stateprep` (data-dependent RY angles as symbols).

Offline (no ``project_id``) the sampler is cirq-google's Quantum Virtual Machine of the
processor, with its calibration-derived noise model, simulated by the native kernel's
density-matrix mode (``method="native"``; Cirq's density matrices and qsim's trajectories
are the references); online it is the Engine processor's sampler. Nothing else differs.
After ``compile``, :meth:`GoogleBackend.describe` also gives the fidelity the calibration
predicts for the compiled circuit (:func:`qkernel.hardware.estimate_fidelity`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ClassVar

import cirq
import numpy as np

from .cirq_sim import Program, SweepBackend
from qkernel.errors import ConfigError
from qkernel.sim.observables import measurement_plan

if TYPE_CHECKING:  # qkernel.hardware imports cirq_google (~1 s): only when the backend is built
    from qkernel.hardware import CompiledCircuit, FidelityEstimate, ReadoutCorrection

#: Two-qubit gate families (``qkernel.hardware.GATESETS``; repeated so listing plugins stays light).
GATESETS = ("sqrt_iswap", "cz")
#: QVM simulation methods (``qkernel.hardware.engine.METHODS``), the default first.
METHODS = ("native", "density_matrix", "qsim")

__all__ = ["GoogleBackend"]


def _positive_int(name: str, value: Any, allow_none: bool = False) -> int | None:
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ConfigError(f"google backend: {name} must be an integer >= 1; got {value!r}")
    return int(value)


class GoogleBackend(SweepBackend):
    """Google processor (QVM offline, Quantum Engine with a project): shot estimates under device noise.

    Args:
        processor: Processor id; ``"rainbow"`` or ``"weber"`` on the QVM.
        project_id: Google Cloud project; given, the circuits run on Quantum Engine
            (application-default credentials required); ``None`` uses the QVM.
        shots: Repetitions per sample (and measurement setting).
        gateset: ``"sqrt_iswap"`` (default; the two-qubit gate the shipped calibrations
            characterise) or ``"cz"``.
        readout_mitigation: Measure readout errors once per compiled circuit (one extra
            job) and correct every estimate for them.
        calibration_shots: Repetitions of each readout-calibration state (default: ``shots``).
        noise: QVM only: ``False`` samples noiselessly (same compiled, validated circuits).
        method: QVM only: ``"native"`` (default; the native kernel's batched density
            matrices, shots drawn from each exact distribution), ``"density_matrix"`` (Cirq's
            density-matrix simulator) or ``"qsim"`` (one quantum trajectory per shot).
        seed: Seed of the QVM's sampling and noise.

    Attributes:
        last_standard_errors: Standard errors ``(B, M)`` of the latest call's estimates.
        counter: Jobs, circuit executions and shots so far (readout calibration included).
        fidelity: The calibration's fidelity estimate of the latest compiled circuit (``None``
            without calibration data).
    """

    name = "google"
    differentiable = False
    hardware = True
    #: What :func:`qkernel.plugin.testing.check_backend` builds: the noiseless QVM, so the compiled
    #: circuits are compared with Cirq's reference up to shot noise (4000 shots: s.e. <= 0.016).
    conformance_options: ClassVar[dict[str, Any]] = {"noise": False, "shots": 4000, "seed": 0}

    def __init__(
        self,
        processor: str = "weber",
        project_id: str | None = None,
        shots: int = 1000,
        gateset: str = "sqrt_iswap",
        readout_mitigation: bool = False,
        calibration_shots: int | None = None,
        noise: bool = True,
        method: str = "native",
        seed: int | None = None,
    ) -> None:
        super().__init__()
        self.shots = _positive_int("shots", shots)
        self.calibration_shots = _positive_int("calibration_shots", calibration_shots, allow_none=True) or self.shots
        if gateset not in GATESETS:
            raise ConfigError(f"google backend: gateset must be one of {', '.join(GATESETS)}; got {gateset!r}")
        if not isinstance(processor, str) or not processor:
            raise ConfigError(f"google backend: processor must be a processor id such as 'weber'; got {processor!r}")
        if project_id and not noise:
            raise ConfigError("google backend: noise=False applies to the Quantum Virtual Machine only (no project_id)")
        if method not in METHODS:
            raise ConfigError(f"google backend: method must be one of {', '.join(METHODS)}; got {method!r}")
        from qkernel import hardware

        self._hardware = hardware
        self.gateset = gateset
        self.readout_mitigation = bool(readout_mitigation)
        self.processor = hardware.open_processor(processor, project_id, noise=bool(noise), seed=seed,
                                                method=method)
        self.counter = hardware.ExecutionCounter()
        self.compiled: CompiledCircuit | None = None
        self.correction: ReadoutCorrection | None = None
        self.last_standard_errors: np.ndarray | None = None
        self.fidelity: FidelityEstimate | None = None
        self.method = method

    @property
    def preferred_batch_size(self) -> int:
        """Samples per job: 100 on the Engine; on the QVM small enough for frequent progress
        (the native kernel batches 16 8-qubit samples anyway; the references take ~1 min each)."""
        if self.processor.kind != "qvm":
            return 100
        return 16 if self.method == "native" else 1

    def _executor(self, program: Program) -> Callable[[list[cirq.ParamResolver]], np.ndarray]:
        """Compile ``program`` for the device once; return the one-job-per-batch estimator."""
        hw, proc = self._hardware, self.processor
        compiled = hw.compile_circuit(program.circuit, program.qubits, proc.device, gateset=self.gateset,
                                      calibration=proc.calibration)
        estimator = hw.ShotEstimator(compiled, measurement_plan(program.observables, program.qubits), proc.sampler,
                                  self.shots, counter=self.counter)
        self.compiled = compiled
        if proc.calibration is not None:
            properties = hw.noise_properties(proc.calibration)
            self.fidelity = hw.estimate_fidelity(estimator.circuit, properties)

        def sampled(resolvers: list[cirq.ParamResolver]) -> np.ndarray:
            if self.readout_mitigation and estimator.correction is None:
                estimator.correction = hw.calibrate_readout(proc.sampler, compiled.measured_qubits,
                                                            self.calibration_shots, proc.device, self.counter)
                self.correction = estimator.correction
            values = estimator(resolvers)
            self._executions += len(resolvers) * len(estimator.plan.settings)
            self._shots += len(resolvers) * len(estimator.plan.settings) * self.shots
            self.last_standard_errors = estimator.last_standard_errors
            return values

        return sampled

    def stats(self) -> dict[str, int]:
        """``circuit_executions`` and ``shots`` of the students' circuits, plus ``jobs`` (all,
        readout calibration included) and ``calibration_shots``."""
        calibration = self.counter.shots - self._shots
        return {"circuit_executions": self._executions, "shots": self._shots, "jobs": self.counter.jobs,
                "calibration_shots": calibration}

    def describe(self) -> dict[str, Any]:
        """Processor, gateset, placement and compiled-circuit size of the latest compile (no credentials)."""
        out: dict[str, Any] = {"processor": self.processor.describe(), "gateset": self.gateset,
                               "shots": self.shots, "readout_mitigation": self.readout_mitigation}
        if self.compiled is not None:
            out["qubits"] = [str(q) for q in self.compiled.region]
            out["compiled"] = self.compiled.stats.as_dict()
        if self.fidelity is not None:
            out["fidelity"] = self.fidelity.as_dict()
        if self.correction is not None:
            out["readout"] = self.correction.as_dict()
        return out
