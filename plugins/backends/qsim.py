"""qsim backend: ``qsimcirq.QSimSimulator``, exact or sampled, optionally noisy.

* ``shots=None`` (exact): ``simulate_expectation_values_sweep`` over the batch.
* ``shots=N`` (sampled): the observables' Pauli terms are grouped into qubit-wise commuting
  measurement settings (:func:`qkernel.sim.observables.measurement_plan`); for each setting the
  circuit, a basis change and a measurement of every qubit run as one ``run_sweep`` over
  the batch with ``N`` repetitions, and each term is estimated from parities. An optional
  ``cirq.NoiseModel`` is applied (qsim samples noisy circuits by quantum trajectories).

qsim computes in single precision, so exact values agree with complex128 references to
about 1e-6.
"""

from __future__ import annotations

import os
from collections.abc import Callable

import cirq
import numpy as np

from .cirq_sim import Program, SweepBackend
from qkernel.errors import ConfigError
from qkernel.sim.observables import measurement_plan

__all__ = ["QSimBackend"]


class QSimBackend(SweepBackend):
    """qsim state-vector simulator (CPU): exact expectations, or shot estimates with optional noise.

    Args:
        shots: ``None`` for exact expectation values, or repetitions per sample and
            measurement setting.
        noise: A ``cirq.NoiseModel``, or a float ``p`` as shorthand for single-qubit
            depolarizing noise ``cirq.depolarize(p)`` after every moment (a value
            ``params.yaml`` can hold). Sampled mode only: exact noisy expectations need a
            density-matrix simulator, which qsim is not.
        seed: Seed of the sampling (reproducible estimates).
        cpu_threads: qsim threads (default: all CPUs).

    Attributes:
        last_standard_errors: In sampled mode, the standard errors ``(B, M)`` of the most
            recent call's estimates; ``None`` otherwise.
    """

    name = "qsim"

    def __init__(
        self,
        shots: int | None = None,
        noise: cirq.NoiseModel | float | None = None,
        seed: int | None = None,
        cpu_threads: int | None = None,
    ) -> None:
        super().__init__()
        if shots is not None and (isinstance(shots, bool) or not isinstance(shots, (int, np.integer)) or shots < 1):
            raise ConfigError(f"qsim backend: shots must be None (exact) or an integer >= 1; got {shots!r}")
        if noise is not None and shots is None:
            raise ConfigError("qsim backend: a noise model needs sampled mode (set shots=N); exact mode is noiseless")
        if isinstance(noise, (float, int)) and not isinstance(noise, bool):
            if not 0.0 <= noise <= 1.0:
                raise ConfigError(f"qsim backend: depolarizing probability noise must be in [0, 1]; got {noise!r}")
            noise = cirq.ConstantQubitNoiseModel(cirq.depolarize(float(noise)))
        if noise is not None and not isinstance(noise, cirq.NoiseModel):
            raise ConfigError(
                f"qsim backend: noise must be a cirq.NoiseModel, a depolarizing probability or None; "
                f"got {type(noise).__name__}"
            )
        import qsimcirq  # deferred: only needed when this backend is used

        self.shots = None if shots is None else int(shots)
        self.noise = noise
        threads = int(cpu_threads or os.cpu_count() or 1)
        self._simulator = qsimcirq.QSimSimulator(
            qsim_options=qsimcirq.QSimOptions(cpu_threads=threads), seed=seed, noise=noise
        )
        self.last_standard_errors: np.ndarray | None = None

    def _executor(self, program: Program) -> Callable[[list[cirq.ParamResolver]], np.ndarray]:
        if self.shots is None:
            return super()._executor(program)

        plan = measurement_plan(program.observables, program.qubits)
        circuits = [program.circuit + plan.measurement_circuit(s, key="m") for s in range(len(plan.settings))]
        shots = self.shots

        def sampled(resolvers: list[cirq.ParamResolver]) -> np.ndarray:
            bits = []
            for circuit in circuits:
                results = self._simulator.run_sweep(circuit, resolvers, repetitions=shots)
                bits.append(np.stack([r.measurements["m"] for r in results]))
                self._executions += len(resolvers)
                self._shots += len(resolvers) * shots
            values, errors = plan.estimate(bits)
            self.last_standard_errors = errors
            return values

        return sampled
