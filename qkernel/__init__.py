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

__all__ = ["__version__", "code_version"]


def code_version() -> str:
    """Short hash of qdistill's own source (``qkernel`` and ``plugins``), part of every cache key.

    A change to any library or plugin file invalidates cached flow results.
    """
    import hashlib
    from pathlib import Path

    digest = hashlib.sha256()
    root = Path(__file__).resolve().parents[1]
    for package in ("qkernel", "plugins"):
        for file in sorted((root / package).rglob("*.py")):
            digest.update(str(file.relative_to(root)).encode())
            digest.update(file.read_bytes())
    return digest.hexdigest()[:16]
