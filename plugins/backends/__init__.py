"""Built-in circuit-execution backends: ``native`` and ``tfq`` (differentiable), ``qsim`` and ``cirq`` (reference),
``google`` (Google processors: the Quantum Virtual Machine offline, Quantum Engine online), ``noisy`` (the
native kernel under a processor's calibration noise, differentiable: noise-aware training).

``native`` is qkernel's own kernel (the default for training). Heavy simulator packages
(``tensorflow_quantum``, ``qsimcirq``) are imported only when a backend is constructed.
"""

from __future__ import annotations

from .cirq_sim import CirqBackend
from .google import GoogleBackend
from .native import NativeBackend
from .noisy import NoisyBackend
from .qsim import QSimBackend
from .tfq import TFQBackend
from qkernel.plugin.hookspecs import hookimpl

__all__ = ["CirqBackend", "GoogleBackend", "NativeBackend", "NoisyBackend", "QSimBackend", "TFQBackend",
           "register_backends"]


@hookimpl
def register_backends() -> list[type]:
    """The built-in backends: simulators, Google hardware and its noisy emulation."""
    return [NativeBackend, TFQBackend, QSimBackend, CirqBackend, GoogleBackend, NoisyBackend]
