"""qkernel: the qdistill library.

Circuits, encoder/ansatz contracts, the batched differentiable state-vector kernel,
backends, models, losses, distillation algorithms and data loading. Importing this
package sets the process environment TensorFlow Quantum, Prefect and DVC need
(see :mod:`qkernel._env`) before any of them is imported.
"""

from __future__ import annotations

from qkernel import _env

_env.apply()

__version__ = "0.1.0"

__all__ = ["__version__"]
