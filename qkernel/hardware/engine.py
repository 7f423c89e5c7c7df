"""Where circuits run: the Quantum Virtual Machine offline, or Google Quantum Engine online.

Both give a :class:`Processor`: a device to compile and validate against, its calibration
(used to choose qubits) and a ``cirq.Sampler``. Everything downstream is the same code path;
only how the processor is obtained differs.

* :func:`open_qvm` — ``cirq_google.engine.create_default_noisy_quantum_virtual_machine``:
  the device specification and a median calibration of ``rainbow`` or ``weber`` shipped
  with cirq-google, noise derived from that calibration. No network. The simulator it is
  given, :class:`PrenoisedSimulator`, inserts the noise channels once per compiled (still
  symbolic) program instead of once per parameter set — the noise model depends only on
  gate types, qubits and moments, never on angles. By default (``method="native"``) the
  noisy program runs on the native kernel's density-matrix mode
  (:class:`~qkernel.hardware.native_sampler.NativeSampler`: compiled once to TensorFlow,
  batched over parameter sets, shots drawn from each exact distribution); the references
  are Cirq's density-matrix simulator (``"density_matrix"``) and qsim's per-shot quantum
  trajectories (``"qsim"``), which sample the same distribution ~100–1000× slower.
* :func:`open_engine` — ``cirq_google.get_engine(project_id).get_processor(processor_id)``.
  Credentials come only from Google's application-default mechanism
  (``google.auth.default()``: ``GOOGLE_APPLICATION_CREDENTIALS``, ``gcloud auth
  application-default login``, or the metadata server on Google Cloud). They are checked
  before any request to the Engine, never logged and never written anywhere.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import cirq
import cirq_google
import numpy as np

from qkernel.errors import HardwareError
from qkernel.hardware.device import known_processors, load_device

__all__ = [
    "METHODS",
    "PrenoisedSimulator",
    "Processor",
    "check_credentials",
    "open_engine",
    "open_processor",
    "open_qvm",
]

#: How the QVM simulates noisy circuits (the first is the default).
METHODS = ("native", "density_matrix", "qsim")
#: Processor.simulator descriptions of the methods.
_DESCRIPTIONS = {"native": "native density matrix", "density_matrix": "Cirq density matrix",
                 "qsim": "qsim trajectories"}

_QVM_HINT = "to run offline on the Quantum Virtual Machine instead, leave out the project (e.g. --processor weber)"


@dataclass
class Processor:
    """A device, its calibration and a sampler: everything needed to compile and run.

    Attributes:
        name: Processor id (``"weber"``).
        kind: ``"qvm"`` (simulated, offline) or ``"engine"`` (Google Quantum Engine).
        device: Device to compile and validate against.
        sampler: Runs circuits (``run_sweep``: one job per call).
        calibration: Calibration metrics, or ``None`` if the processor has none.
        noise: How results are perturbed: ``"calibration"`` (QVM noise model),
            ``"none"`` (noiseless QVM) or ``"hardware"``.
        project_id: Cloud project of an Engine processor (``None`` on the QVM).
        simulator: How the QVM simulates (``"density matrix"``, ``"qsim trajectories"``, ``"qsim"``).
    """

    name: str
    kind: str
    device: cirq.Device
    sampler: cirq.Sampler
    calibration: Mapping[str, Any] | None
    noise: str
    project_id: str | None = None
    simulator: str = ""

    def describe(self) -> str:
        """One line for reports (no credentials)."""
        if self.kind == "qvm":
            noise = "calibration-based noise" if self.noise == "calibration" else "noiseless"
            return f"{self.name} Quantum Virtual Machine ({self.simulator}, {noise})"
        return f"{self.name} on Google Quantum Engine (project {self.project_id})"


class PrenoisedSimulator(cirq.Sampler):
    """A sampler that adds a noise model's channels once per program, then sweeps it.

    Args:
        noise: The noise model (``None``: noiseless).
        seed: Seed of the sampling (and of qsim's trajectories).
        method: ``"native"`` (the native kernel's batched density matrices; trajectories
            above 10 qubits), ``"density_matrix"`` (Cirq's, one exact mixed-state simulation per
            parameter set, complex128) or ``"qsim"`` (one quantum trajectory per shot); all
            sample every parameter set's shots from the same noisy distribution.

    Attributes:
        noisy_programs: How many programs noise was inserted into (a cache miss each).
    """

    def __init__(self, noise: cirq.NoiseModel | None = None, seed: int | None = None,
                 method: str = "native") -> None:
        if method not in METHODS:
            raise HardwareError(f"unknown QVM simulation method {method!r}; expected one of {', '.join(METHODS)}")
        self.noise = noise
        self.method = method
        if method == "qsim":
            import qsimcirq  # deferred: only for this method

            self._simulator: cirq.Sampler = qsimcirq.QSimSimulator(seed=seed)
        elif method == "native":
            from qkernel.hardware.native_sampler import NativeSampler

            self._simulator = NativeSampler(seed=seed)
        else:
            self._simulator = cirq.DensityMatrixSimulator(dtype=np.complex128, seed=seed)
        self._cache: list[tuple[cirq.AbstractCircuit, cirq.Circuit]] = []
        self.noisy_programs = 0

    def _noisy(self, program: cirq.AbstractCircuit) -> cirq.AbstractCircuit:
        if self.noise is None:
            return program
        for original, noisy in self._cache:
            if original is program or original == program:
                return noisy
        noisy = program.with_noise(self.noise)
        self.noisy_programs += 1
        self._cache = [(program, noisy), *self._cache[:3]]
        return noisy

    def run_sweep(
        self, program: cirq.AbstractCircuit, params: cirq.Sweepable, repetitions: int = 1
    ) -> Sequence[cirq.Result]:
        """Insert noise once (cached per program), then run every parameter set of ``params``."""
        return self._simulator.run_sweep(self._noisy(program), params, repetitions)


def open_qvm(
    processor_id: str, *, noise: bool = True, seed: int | None = None, method: str = "native"
) -> Processor:
    """The Quantum Virtual Machine of ``processor_id`` (offline).

    Args:
        processor_id: ``"rainbow"`` or ``"weber"`` (see :func:`~qkernel.hardware.device.known_processors`).
        noise: Apply the noise model derived from the processor's median calibration; ``False``
            samples the same validated circuits noiselessly (for checks).
        seed: Seed of the sampling and noise.
        method: How noisy circuits are simulated (see :class:`PrenoisedSimulator`).

    Raises:
        qkernel.errors.HardwareError: for a processor cirq-google has no data for, or an unknown method.
    """
    import qsimcirq  # deferred: only needed for the QVM

    from cirq_google.engine import virtual_engine_factory as factory
    from cirq_google.engine.simulated_local_processor import SimulatedLocalProcessor

    device = load_device(processor_id)  # raises for unknown processors
    if noise:
        engine = factory.create_default_noisy_quantum_virtual_machine(
            processor_id, PrenoisedSimulator, seed=seed, method=method)  # type: ignore[arg-type]
        processor = engine.get_processor(processor_id)
    else:
        calibration = factory.load_median_device_calibration(processor_id)
        processor = SimulatedLocalProcessor(
            processor_id=processor_id, sampler=qsimcirq.QSimSimulator(seed=seed), device=device,
            calibrations={calibration.timestamp // 1000: calibration},
        )
    return Processor(
        name=processor_id, kind="qvm", device=processor.get_device(), sampler=processor.get_sampler(),
        calibration=processor.get_current_calibration(), noise="calibration" if noise else "none",
        simulator=_DESCRIPTIONS.get(method, method) if noise else "qsim",
    )


def check_credentials() -> None:
    """Fail fast, before any network request, unless application-default credentials exist.

    Raises:
        qkernel.errors.HardwareError: naming how to provide credentials and the offline QVM.
    """
    import google.auth
    from google.auth.exceptions import DefaultCredentialsError

    try:
        google.auth.default()  # the credentials object is discarded: the Engine client loads its own
    except DefaultCredentialsError as exc:
        raise HardwareError(
            "no Google Cloud credentials found for Quantum Engine "
            f"({exc}). Provide application-default credentials with `gcloud auth application-default "
            f"login` or GOOGLE_APPLICATION_CREDENTIALS=<service-account key file>; {_QVM_HINT}"
        ) from None


def open_engine(processor_id: str, project_id: str) -> Processor:
    """A processor on Google Quantum Engine (needs credentials and the network).

    Raises:
        qkernel.errors.HardwareError: no credentials (checked first, offline), or the
            project cannot reach a processor of that name.
    """
    if not project_id:
        raise HardwareError(f"Quantum Engine needs a Google Cloud project id; {_QVM_HINT}")
    check_credentials()
    try:
        engine = cirq_google.get_engine(project_id)
        processor = engine.get_processor(processor_id)
        device = processor.get_device()
    except HardwareError:
        raise
    except Exception as exc:  # API errors (NotFound, PermissionDenied …) differ between client versions
        raise HardwareError(
            f"processor {processor_id!r} is not available to project {project_id!r} "
            f"({type(exc).__name__}: {exc}); check the name in the Cloud console; {_QVM_HINT}"
        ) from None
    try:
        calibration = processor.get_current_calibration()
    except Exception:  # placement falls back to the device graph alone
        calibration = None
    return Processor(
        name=processor_id, kind="engine", device=device, sampler=processor.get_sampler(),
        calibration=calibration, noise="hardware", project_id=project_id,
    )


def open_processor(
    processor_id: str, project_id: str | None = None, *, noise: bool = True, seed: int | None = None,
    method: str = "native",
) -> Processor:
    """:func:`open_engine` when a project is given, else :func:`open_qvm`.

    Raises:
        qkernel.errors.HardwareError: see the two functions.
    """
    if project_id:
        return open_engine(processor_id, project_id)
    if processor_id not in known_processors():
        raise HardwareError(
            f"unknown processor {processor_id!r}: the Quantum Virtual Machine has "
            f"{', '.join(known_processors())} (e.g. --processor weber); real processors need --project"
        )
    return open_qvm(processor_id, noise=noise, seed=seed, method=method)
