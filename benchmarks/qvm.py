"""``qdistill bench``: Quantum Virtual Machine evaluation, native noisy kernel vs Cirq density matrices vs qsim.

Workload: the default KD student's circuit (``amplitude`` encoder — the Möttönen template,
data-dependent angles — and the ``hardware_efficient`` ansatz, depth 5, ``⟨Z⟩`` on every
qubit) compiled for ``weber`` (√iSWAP) exactly as ``qdistill evaluate`` compiles it, the
readout measurement appended, and the QVM's calibration noise inserted **once** (the same
noisy program every method receives from
:class:`qkernel.hardware.engine.PrenoisedSimulator`). Random, fixed features stand for test
images and random weights for a trained student: the work does not depend on the values.

Each method samples ``shots`` repetitions per image through ``run_sweep`` — what the QVM
calls — on the **same** images:

* ``native``: :class:`qkernel.hardware.NativeSampler` (one batched TF density-matrix
  program; its one-time compilation and tracing is timed separately as ``setup_s``);
* ``density_matrix``: ``cirq.DensityMatrixSimulator`` (complex128), the previous default;
* ``qsim``: ``qsimcirq.QSimSimulator``, one quantum trajectory per shot.

The references are slow (~1 min per 8-qubit image), so they run ``reference_images`` of the
images; per-image times are wall time ÷ images, per-1000 extrapolates linearly (plus the
native setup). CPU time (all threads of the process) is recorded too, with the load
average: on a shared machine it is the steadier measure of the work each method does. The ``⟨Z⟩`` estimates of every method are compared on the shared images
(``max_z_gap_sigma``: largest difference in units of its shot standard error).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from typing import Any

import cirq
import numpy as np

__all__ = ["QVM_METHODS", "run_qvm_benchmark"]

QVM_METHODS = ("native", "density_matrix", "qsim")


def _workload(n_qubits: int, processor: str, depth: int, seed: int) -> tuple[cirq.Circuit, list[cirq.ParamResolver], dict]:
    """The noisy measured program, one resolver per image (as the QVM receives them), and circuit facts."""
    import tensorflow as tf

    from qkernel import hardware as hw  # first: it silences google.api_core's import warning
    from qkernel.plugin.registry import get_registry
    from cirq_google.engine.virtual_engine_factory import load_median_device_calibration

    registry = get_registry()
    encoder = registry.create("encoder", "amplitude", n_qubits=n_qubits)
    ansatz = registry.create("ansatz", "hardware_efficient", n_qubits=n_qubits, depth=depth)
    qubits = cirq.LineQubit.range(n_qubits)
    calibration = load_median_device_calibration(processor)
    compiled = hw.compile_circuit(encoder.circuit(qubits) + ansatz.circuit(qubits), qubits, hw.load_device(processor),
                                  calibration=calibration)
    measured = compiled.measured(cirq.Circuit(cirq.measure(*qubits, key="m")))
    properties = hw.noise_properties(calibration)
    start = time.perf_counter()
    noisy = hw.add_noise(measured, hw.noise_model(properties))
    facts = {**compiled.stats.as_dict(), "noise_insertion_s": round(time.perf_counter() - start, 2),
             "estimated_fidelity": hw.estimate_fidelity(measured, properties).fidelity}
    rng = np.random.default_rng(seed)
    features = rng.normal(size=(256, 2**n_qubits)).astype(np.float32)
    data = encoder.symbol_values(tf.constant(features)).numpy()
    weights = rng.uniform(0, 2 * np.pi, len(ansatz.symbols()))
    symbols = encoder.symbols() + ansatz.symbols()
    resolvers = [cirq.ParamResolver(dict(zip(symbols, [*row.tolist(), *weights.tolist()]))) for row in data]
    return noisy, resolvers, facts


def _sampler(method: str, seed: int) -> cirq.Sampler:
    if method == "native":
        from qkernel.hardware import NativeSampler

        return NativeSampler(seed=seed)
    if method == "density_matrix":
        return cirq.DensityMatrixSimulator(dtype=np.complex128, seed=seed)
    import qsimcirq

    return qsimcirq.QSimSimulator(seed=seed)


def run_qvm_benchmark(
    *,
    qubits: Sequence[int] = (8, 4),
    processor: str = "weber",
    shots: int = 1000,
    images: int = 64,
    reference_images: int = 1,
    methods: Sequence[str] = QVM_METHODS,
    depth: int = 5,
    seed: int = 0,
    progress: Callable[[str], None] | None = None,
) -> list[dict[str, Any]]:
    """Time QVM evaluation per method (see the module docstring).

    Args:
        qubits: Student sizes.
        processor: ``weber`` or ``rainbow``.
        shots: Repetitions per image.
        images: Images the native method evaluates (at most 256).
        reference_images: Images each reference method evaluates (the first of the native ones).
        methods: Subset of :data:`QVM_METHODS`.
        depth: Ansatz depth.
        seed: Seed of the features, weights and sampling.
        progress: Called with a label before each measurement.

    Returns:
        One row per qubit count and method: ``kind="qvm_eval"``, ``n_qubits``, ``method``,
        ``images``, ``shots``, ``setup_s``, ``per_image_s``, ``per_image_cpu_s``, ``load_average``,
        ``per_1000_images_s``, ``speedup_vs_density_matrix`` (wall and ``cpu_`` time),
        ``max_z_gap_sigma`` and the compiled circuit's facts.
    """
    rows = []
    for n in qubits:
        if progress is not None:
            progress(f"QVM {n} qubits: compiling and inserting noise")
        noisy, resolvers, facts = _workload(n, processor, depth, seed)
        estimates: dict[str, np.ndarray] = {}
        for method in methods:
            count = images if method == "native" else reference_images
            if progress is not None:
                progress(f"QVM {n} qubits: {method}, {count} images × {shots} shots")
            sampler = _sampler(method, seed)
            setup = 0.0
            if method == "native":
                start = time.perf_counter()
                sampler.run_sweep(noisy, resolvers[-1:], repetitions=shots)  # compile + trace, another image
                setup = time.perf_counter() - start
            start, cpu = time.perf_counter(), time.process_time()
            results = sampler.run_sweep(noisy, resolvers[:count], repetitions=shots)
            elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
            estimates[method] = np.stack([1 - 2 * np.asarray(r.measurements["m"], float).mean(axis=0) for r in results])
            rows.append({"kind": "qvm_eval", "n_qubits": n, "processor": processor, "method": method, "images": count,
                         "shots": shots, "setup_s": round(setup, 2), "per_image_s": elapsed / count,
                         "per_image_cpu_s": cpu / count, "load_average": round(os.getloadavg()[0], 2),
                         "per_1000_images_s": setup + 1000 * elapsed / count, **facts})
        _compare(rows[-len(methods):], estimates, shots)
    return rows


def _compare(rows: list[dict[str, Any]], estimates: dict[str, np.ndarray], shots: int) -> None:
    """Speed-ups against the density-matrix path and ⟨Z⟩ agreement on the images all methods ran."""
    reference = next((r for r in rows if r["method"] == "density_matrix"), None)
    shared = min(len(e) for e in estimates.values())
    base = estimates.get("density_matrix", estimates.get("native"))[:shared]
    for r in rows:
        r["speedup_vs_density_matrix"] = None if reference is None else reference["per_image_s"] / r["per_image_s"]
        r["cpu_speedup_vs_density_matrix"] = (None if reference is None
                                              else reference["per_image_cpu_s"] / r["per_image_cpu_s"])
        z = estimates[r["method"]][:shared]
        sigma = np.sqrt(np.maximum(1 - base**2, 1e-3) / shots + np.maximum(1 - z**2, 1e-3) / shots)
        r["max_z_gap_sigma"] = float(np.max(np.abs(z - base) / sigma))
