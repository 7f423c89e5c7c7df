"""Built-in circuit-execution backends: ``tfq`` (differentiable), ``qsim`` and ``cirq`` (reference).

The native TF kernel registers itself elsewhere. Heavy simulator packages
(``tensorflow_quantum``, ``qsimcirq``) are imported only when a backend is constructed.
"""

from __future__ import annotations

from .cirq_sim import CirqBackend
from .qsim import QSimBackend
from .tfq import TFQBackend
from qkernel.hookspecs import hookimpl

__all__ = ["CirqBackend", "QSimBackend", "TFQBackend", "register_backends"]


@hookimpl
def register_backends() -> list[type]:
    """The built-in simulator backends."""
    return [TFQBackend, QSimBackend, CirqBackend]
