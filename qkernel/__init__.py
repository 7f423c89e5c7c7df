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

__all__ = ["__version__", "code_version", "configure_tensorflow"]


def configure_tensorflow() -> bool:
    """Run TensorFlow's independent ops one at a time (``inter_op_parallelism_threads = 1``).

    On small CPU machines TensorFlow's default of one inter-op thread per core makes the
    unrolled ``tf.while_loop`` of dataset distillation 2–8× slower and erratic (its threads
    spin against the intra-op pool); measured here, one DD outer step of quantum LeNet has a
    median of 0.13 s instead of 0.45–0.56 s. Intra-op parallelism (inside each op) is kept.
    It only takes effect before TensorFlow's runtime starts: the CLI calls this first.

    Returns:
        Whether the setting was applied (``False`` once the runtime is running).
    """
    import tensorflow as tf

    try:
        tf.config.threading.set_inter_op_parallelism_threads(1)
    except RuntimeError:  # the runtime already started; keep its configuration
        return False
    return True


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
