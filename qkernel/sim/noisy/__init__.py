"""The noisy mode of the native kernel: density matrices and quantum trajectories in TensorFlow.

* :mod:`~qkernel.sim.noisy.program` — :func:`compile_noisy_circuit` and :class:`NoisyCircuit`
  (exact outcome distributions, shots, gradients);
* its steps: :mod:`~qkernel.sim.noisy.pieces` (operations → superoperators, unitaries,
  Kraus operators), :mod:`~qkernel.sim.noisy.fusion` (blocks of a few qubits),
  :mod:`~qkernel.sim.noisy.register` (the batched state in TensorFlow).

Noise models come from the caller (``circuit.with_noise(model)``); for Google processors,
:mod:`qkernel.hardware.noise` builds the Quantum Virtual Machine's own model.
"""

from __future__ import annotations

from qkernel.sim.noisy.program import METHODS, NoisyCircuit, compile_noisy_circuit

__all__ = ["METHODS", "NoisyCircuit", "compile_noisy_circuit"]
