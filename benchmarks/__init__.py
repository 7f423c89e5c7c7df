"""Benchmarks: train-step throughput of the student's quantum part (``qdistill bench``).

* :func:`run_benchmarks` times one training step (forward, ``sum`` of ``⟨Z⟩``, gradients to
  the weights and the features) through the ``native`` and ``tfq`` backends and the PennyLane
  reference, plus exact evaluation through ``qsim``; see :mod:`benchmarks.suite`.
* :func:`format_rows` and :func:`add_ratios` turn the rows into a table (the CLI prints it).
* :mod:`benchmarks.pennylane_ref` is the PennyLane + Torch peer (optional ``bench`` extra).
* :mod:`benchmarks.kernel` times the native kernel alone, for tuning :mod:`qkernel.sim.kernel`.
* :mod:`benchmarks.qvm` times Quantum Virtual Machine evaluation: the native noisy kernel
  against Cirq's density matrices and qsim's trajectories (a ``qdistill bench`` table).
* :mod:`benchmarks.noise_aware` scores noise-aware against noiseless students on the QVM.
"""

from __future__ import annotations

import qkernel  # noqa: F401  (sets the environment before TensorFlow loads: quiet logs, legacy Keras)
from benchmarks.suite import add_ratios, format_rows, run_benchmarks

__all__ = ["add_ratios", "format_rows", "run_benchmarks"]
