"""``qdistill bench``: one dataset-distillation outer step of quantum LeNet, native vs PennyLane.

Workload (the DD paper's setting, REFERENCE B): quantum LeNet (6 qubits, 3 strongly
entangling layers, trainable Hermitian readout); ``synthetic`` learnable images, ``inner``
unrolled SGD steps on them, the outer cross-entropy on a real batch of ``real_batch`` images,
and the second-order gradient to the images and the learned rates.

* ``native``: :func:`qkernel.methods.dd.performance_matching.make_outer_step` (one ``tf.function``; the circuit runs in
  qkernel's kernel, XLA on).
* ``pennylane``: :mod:`benchmarks.dd_pennylane` (``default.qubit`` + Torch backprop), with
  the circuit weights passed explicitly so that they, too, are trained — the published
  ``TorchLayer`` + ``functional_call`` combination silently gives them no gradient.

Both compute the same loss and gradients from the same weights (checked before timing).
Timing is the median of single, synchronous steps after one warm-up step; PennyLane is timed
with 1 thread and with every core, and its faster setting is reported.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable
from typing import Any

import numpy as np
import tensorflow as tf

from qkernel.methods.dd import performance_matching as dd
from benchmarks.suite import median_seconds
from qkernel.nn.functional import FunctionalModel
from qkernel.plugin.registry import get_registry

__all__ = ["DDWorkload", "native_outer_step", "run_dd_benchmark"]


class DDWorkload:
    """Model, weights and data of the benchmark, shared by both implementations (fixed seed)."""

    def __init__(self, synthetic: int = 100, inner: int = 1, real_batch: int = 256, readout: str = "hermitian",
                 seed: int = 0) -> None:
        tf.keras.utils.set_random_seed(seed)
        self.model = get_registry().create("model", "quantum_lenet", input_shape=(28, 28), num_classes=10,
                                           readout=readout)
        self.readout = readout
        rng = np.random.default_rng(seed)
        self.syn_x = rng.random((synthetic, 28, 28), dtype=np.float32)
        self.syn_y = np.arange(synthetic) % 10
        self.raw_rates = np.full(inner, np.log(np.expm1(0.02)), np.float32)
        self.real_x = rng.random((real_batch, 28, 28), dtype=np.float32)
        self.real_y = rng.integers(0, 10, real_batch)


def native_outer_step(work: DDWorkload) -> Callable[[], tuple[float, np.ndarray, np.ndarray]]:
    """``run()`` performs one outer step and returns the loss and the gradients to images and rates."""
    fm = FunctionalModel(work.model)
    images = tf.Variable(work.syn_x)
    rates = tf.Variable(work.raw_rates)
    grads = dd.make_outer_step(fm, images, tf.constant(work.syn_y), rates, optimizer=None)
    w0 = fm.current()
    x, y = tf.constant(work.real_x), tf.constant(work.real_y)

    def run() -> Any:
        loss, (g_images, g_rates) = grads(w0, x, y)
        return float(loss), g_images.numpy(), g_rates.numpy()

    return run


def torch_threads() -> int:
    """Torch's default thread count (every core)."""
    import os

    return max(1, os.cpu_count() or 1)


def run_dd_benchmark(synthetic: int = 100, inner: int = 1, real_batch: int = 256, steps: int = 5,
                     readout: str = "hermitian") -> dict[str, Any]:
    """Median seconds per outer step, native and PennyLane (if installed), and their agreement.

    Returns:
        ``{"synthetic", "inner", "real_batch", "native_s", "pennylane_s", "speedup", "max_grad_gap", "note"}``.
    """
    work = DDWorkload(synthetic, inner, real_batch, readout)
    native_run = native_outer_step(work)
    # One warm-up call (tracing, XLA compilation), then exactly ``steps`` timed steps.
    native_s = median_seconds(native_run, steps=steps, time_budget=0.0, min_steps=steps, max_steps=steps)
    row: dict[str, Any] = {"synthetic": synthetic, "inner": inner, "real_batch": real_batch, "readout": readout,
                           "native_s": native_s, "pennylane_s": None, "speedup": None, "max_grad_gap": None,
                           "note": ""}
    try:
        from benchmarks import dd_pennylane

        reference = dd_pennylane.DDReference.from_keras(work.model)
    except ImportError as exc:
        row["note"] = f"PennyLane reference skipped: {exc}"
        return row
    loss, g_images, g_rates = native_run()
    ref_loss, ref_images, ref_rates = reference.outer_step(
        None, work.syn_x, work.syn_y, work.raw_rates, work.real_x, work.real_y)
    scale = max(float(np.max(np.abs(g_images))), 1e-12)
    row["max_grad_gap"] = float(max(abs(loss - ref_loss), np.max(np.abs(g_images - ref_images)) / scale,
                                    np.max(np.abs(g_rates - ref_rates)) / max(float(np.max(np.abs(g_rates))), 1e-12)))
    # Torch on 2 cores is often slower with 2 threads than with 1: PennyLane gets its faster setting.
    by_threads = {}
    for threads in sorted({1, torch_threads()}):
        times = dd_pennylane.time_outer_step(reference, n_synthetic=synthetic, inner_steps=inner,
                                             real_batch=real_batch, steps=steps, warmup=1, threads=threads)
        by_threads[threads] = statistics.median(times)
    row["pennylane_threads"] = min(by_threads, key=by_threads.get)
    row["pennylane_s"] = by_threads[row["pennylane_threads"]]
    row["speedup"] = row["pennylane_s"] / native_s
    return row
