"""qkernel: the qdistill library.

Circuits, encoder/ansatz contracts, the batched differentiable state-vector kernel,
backends, models, losses, distillation algorithms and data loading. Importing this
package sets the process environment TensorFlow Quantum, Prefect and DVC need
(see :mod:`qkernel._env`) before any of them is imported.
"""

from __future__ import annotations

import os

from qkernel import _env

_env.apply()

__version__ = "0.1.0"

__all__ = ["__version__", "code_version", "configure_tensorflow", "threads_per_task"]


def configure_tensorflow(intra_op_threads: int | None = None) -> bool:
    """Run TensorFlow's independent ops one at a time (``inter_op_parallelism_threads = 1``).

    On small CPU machines TensorFlow's default of one inter-op thread per core makes the
    unrolled ``tf.while_loop`` of dataset distillation 2–8× slower and erratic (its threads
    spin against the intra-op pool); measured here, one DD outer step of quantum LeNet has a
    median of 0.13 s instead of 0.45–0.56 s. It only takes effect before TensorFlow's runtime
    starts: the CLI calls this first.

    Args:
        intra_op_threads: Threads each op may use (default: TensorFlow's, one per core). The
            flows run several tasks side by side, one core each (:func:`threads_per_task`):
            there, ops split over every core hand work between threads more than they compute —
            the default ``qdistill run`` took 4:21 wall and 421 CPU-s with two threads per op on
            two cores, 3:48 and 373 CPU-s with one.

    Returns:
        Whether the settings were applied (``False`` once the runtime is running).
    """
    import tensorflow as tf

    try:
        tf.config.threading.set_inter_op_parallelism_threads(1)
        if intra_op_threads is not None:
            tf.config.threading.set_intra_op_parallelism_threads(intra_op_threads)
    except RuntimeError:  # the runtime already started; keep its configuration
        return False
    return True


def threads_per_task(concurrent_tasks: int) -> int:
    """Intra-op threads for each of ``concurrent_tasks`` TensorFlow tasks sharing this machine's cores."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    return max(1, cores // concurrent_tasks)


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
