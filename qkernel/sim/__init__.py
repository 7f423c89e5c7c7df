"""Circuit simulation: Cirq circuits compiled into batched, differentiable TensorFlow programs.

* :mod:`qkernel.sim.kernel` — :func:`compile_circuit` and :class:`CompiledCircuit`;
  its compilation steps, in the order a circuit goes through them, are
  :mod:`~qkernel.sim.lowering` (operations to primitives), :mod:`~qkernel.sim.schedule`
  (primitives to phase-permutation and dense stages), :mod:`~qkernel.sim.plans` (stages to
  TensorFlow ops, with :mod:`~qkernel.sim.angles`, :mod:`~qkernel.sim.sympy_tf` and
  :mod:`~qkernel.sim.tfops`) and :mod:`~qkernel.sim.paulis` (observables to weights);
* :mod:`qkernel.sim.observables` — Pauli observables and their estimation from samples;
* :mod:`qkernel.sim.stateprep` — amplitude encoding as a circuit (the Möttönen template).
"""

from __future__ import annotations

from qkernel.sim.kernel import SUPPORTED_FAMILIES, CompiledCircuit, compile_circuit, sympy_to_tf

__all__ = ["SUPPORTED_FAMILIES", "CompiledCircuit", "compile_circuit", "sympy_to_tf"]
