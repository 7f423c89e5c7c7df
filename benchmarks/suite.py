"""``qdistill bench``: train-step throughput of the student's quantum part, per backend.

Workload (one training step of the KD student's quantum part): random features
``(B, F)`` (``F = 2**n`` for amplitude, ``n`` for angle; fixed seed) → encoder
(``amplitude``, or ``angle`` about ``y``) → ``hardware_efficient`` ansatz, depth 5 →
``⟨Z⟩`` on each qubit → ``loss = sum(outputs)`` → gradients w.r.t. the circuit weights *and*
the features (a trainable reducer sits before the encoder in the student).

* ``native``, ``tfq`` (any differentiable registered backend): the plugin's ``compile``; the
  step runs inside one ``tf.function`` (backend defaults: native XLA-compiles its circuit,
  TFQ uses the adjoint differentiator; encoder validation on, as in the student).
* ``pennylane``: :class:`benchmarks.pennylane_ref.PennyLaneReference` (``default.qubit``,
  Torch backprop, broadcasting, float32). Skipped with a note if not installed.
* Evaluation rows (``kind="eval"``): exact expectations, no gradient, through the ``qsim``
  backend (amplitude via the state-preparation template).

Timing: one untimed warm-up step (tracing, XLA compilation; evaluation warms up on a slice
of 8 samples, as it has nothing to compile), then single steps, each timed to completion,
until at least ``min_steps`` steps and ``time_budget`` seconds have passed (or ``max_steps``),
or exactly ``steps`` steps if given. The reported throughput is ``batch / median step time``:
the median ignores the occasional step slowed by another process on a shared machine, and
slow backends still get ``min_steps`` timed steps.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import cirq
import numpy as np
import tensorflow as tf

from benchmarks import pennylane_ref
from qkernel.errors import ConfigError
from qkernel.sim.observables import z_each
from qkernel.plugin.registry import get_registry

__all__ = [
    "ANSATZ",
    "DEPTH",
    "Progress",
    "add_ratios",
    "compare_with_native",
    "feature_width",
    "format_rows",
    "median_seconds",
    "run_benchmarks",
    "sample_features",
    "sample_weights",
]

ANSATZ = "hardware_efficient"
DEPTH = 5
PENNYLANE = "pennylane"
#: Eval batches beyond the first run only if one call is projected to take at most this long (s).
EVAL_MAX_CALL_SECONDS = 8.0
#: Largest disagreement tolerated between the PennyLane reference and native before timing it.
REFERENCE_ATOL = 1e-4

#: ``progress(description, completed, total)``: called before each measurement and once at the end.
Progress = Callable[[str, int, int], None]

_COLUMNS = ("qubits", "encoder", "batch", "backend", "samples/s", "×tfq", "×PennyLane")
_BACKEND_ORDER = {"native": 0, "tfq": 1, PENNYLANE: 2}


def _encoder_options(encoder: str) -> dict[str, Any]:
    return {"axis": "y"} if encoder == "angle" else {}


def feature_width(n_qubits: int, encoder: str) -> int:
    """Features per sample: ``2**n`` for amplitude, ``n`` for angle encoding."""
    return 2**n_qubits if encoder == "amplitude" else n_qubits


def sample_features(n_qubits: int, encoder: str, batch: int, seed: int = 0) -> np.ndarray:
    """Fixed random float32 features ``(batch, F)`` for the workload.

    Amplitude features are standard normal (any nonzero row is a valid state after
    normalisation); angle features are uniform in ``[0, π]``, the range the encoder expects.
    """
    rng = np.random.default_rng([seed, n_qubits, batch, 0 if encoder == "amplitude" else 1])
    if encoder == "amplitude":
        return rng.normal(size=(batch, 2**n_qubits)).astype(np.float32)
    return rng.uniform(0.0, np.pi, size=(batch, n_qubits)).astype(np.float32)


def sample_weights(n_qubits: int, seed: int = 0) -> np.ndarray:
    """Fixed random float32 ansatz weights ``(2·n·DEPTH,)``, uniform in ``[−π, π]``."""
    rng = np.random.default_rng([seed, n_qubits, 2])
    return rng.uniform(-np.pi, np.pi, size=2 * n_qubits * DEPTH).astype(np.float32)


def _circuit_fn(backend: Any, n_qubits: int, encoder: str) -> Callable[[Any, Any], tf.Tensor]:
    registry = get_registry()
    enc = registry.create("encoder", encoder, n_qubits=n_qubits, **_encoder_options(encoder))
    ansatz = registry.create("ansatz", ANSATZ, n_qubits=n_qubits, depth=DEPTH)
    return backend.compile(enc, ansatz, z_each(cirq.LineQubit.range(n_qubits)))


def _tf_train_step(fn: Callable[[Any, Any], tf.Tensor], n_features: int, weights: np.ndarray) -> Callable[[tf.Tensor], Any]:
    """``step(features)``: forward, sum, gradients w.r.t. weights and features, in one ``tf.function``."""
    w = tf.Variable(weights, name="bench_weights")

    @tf.function(input_signature=[tf.TensorSpec([None, n_features], tf.float32)])
    def step(features: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
        with tf.GradientTape() as tape:
            tape.watch(features)
            loss = tf.reduce_sum(fn(features, w))
        grad_w, grad_x = tape.gradient(loss, [w, features])
        return loss, grad_w, grad_x

    return step


def median_seconds(run: Callable[[], Any], *, steps: int | None, time_budget: float, min_steps: int,
                   max_steps: int, warmup: Callable[[], Any] | None = None) -> float:
    """Median duration of ``run()`` after one call of ``warmup`` (default ``run``); see the module docstring."""
    (warmup or run)()
    times: list[float] = []
    start = time.perf_counter()
    while True:
        t0 = time.perf_counter()
        run()
        times.append(time.perf_counter() - t0)
        if steps is not None:
            if len(times) >= steps:
                break
        elif len(times) >= max_steps or (len(times) >= min_steps and time.perf_counter() - start >= time_budget):
            break
    return statistics.median(times)


def _row(kind: str, n_qubits: int, encoder: str, batch: int, backend: str, rate: float | None,
         note: str | None = None) -> dict[str, Any]:
    return {
        "kind": kind, "n_qubits": n_qubits, "encoder": encoder, "batch": batch, "backend": backend,
        "samples_per_s": None if rate is None else round(rate, 1),
        "vs_tfq": None, "vs_pennylane": None, "note": note,
    }


def compare_with_native(reference: pennylane_ref.PennyLaneReference, native_fn: Callable[[Any, Any], tf.Tensor],
                        batch: int = 4, seed: int = 1) -> float:
    """Largest ``|PennyLane − native|`` over the outputs of a small batch (same features, weights)."""
    features = sample_features(reference.n_qubits, reference.encoder, batch, seed=seed)
    weights = sample_weights(reference.n_qubits, seed=seed)
    ours = native_fn(tf.constant(features), tf.constant(weights)).numpy()
    return float(np.max(np.abs(reference.forward(features, weights) - ours)))


def run_benchmarks(
    *,
    qubits: Sequence[int] = (4, 8),
    encoders: Sequence[str] = ("amplitude", "angle"),
    batches: Sequence[int] = (256, 1024),
    backends: Sequence[str] = ("native", "tfq", PENNYLANE),
    steps: int | None = None,
    progress: Progress | None = None,
    eval_backends: Sequence[str] = ("qsim",),
    backend_options: Mapping[str, Mapping[str, Any]] | None = None,
    time_budget: float = 2.0,
    min_steps: int = 2,
    max_steps: int = 200,
    seed: int = 0,
) -> list[dict[str, Any]]:
    """Measure train-step throughput per backend, then evaluation throughput.

    Args:
        qubits: Qubit counts.
        encoders: ``"amplitude"`` and/or ``"angle"``.
        batches: Batch sizes. Evaluation runs the first, and each larger one only while a
            call is projected to take at most :data:`EVAL_MAX_CALL_SECONDS`.
        backends: Differentiable registered backends and/or ``"pennylane"``.
        steps: Timed steps per measurement; ``None`` for adaptive (``time_budget``).
        progress: Optional :data:`Progress` callback.
        eval_backends: Registered backends timed for evaluation only (``kind="eval"``).
        backend_options: Constructor options per registered backend name, e.g.
            ``{"native": {"jit_compile": False}, "tfq": {"differentiator": "parameter_shift"}}``
            (default: each backend's defaults, as the student uses them).
        time_budget: Seconds per measurement in adaptive mode.
        min_steps: Fewest timed steps per measurement in adaptive mode.
        max_steps: Cap on timed steps in adaptive mode.
        seed: Seed of the random features and weights.

    Returns:
        Rows ``{"kind", "n_qubits", "encoder", "batch", "backend", "samples_per_s", "vs_tfq",
        "vs_pennylane", "note"}``, ratios filled by :func:`add_ratios`. A backend that could
        not run (PennyLane not installed) has ``samples_per_s=None`` and a ``note``.

    Raises:
        ConfigError: an unknown encoder or backend, or a backend that cannot train.
    """
    registry = get_registry()
    for name in encoders:
        if name not in pennylane_ref.ENCODERS:
            raise ConfigError(f"bench: encoder must be one of {', '.join(pennylane_ref.ENCODERS)}; got {name!r}")
    trainable = [n for n in registry.names("backend") if registry.get("backend", n).factory.differentiable]
    for name in backends:
        if name != PENNYLANE and name not in trainable:
            raise ConfigError(f"bench: train backends are {', '.join([*trainable, PENNYLANE])}; got {name!r}")
    for name in eval_backends:
        registry.get("backend", name)  # unknown names raise, listing the registered ones
    batches = sorted(batches)

    total = len(qubits) * len(encoders) * (len(batches) * len(backends) + len(batches) * len(eval_backends))
    done = 0

    def report(label: str) -> None:
        if progress is not None:
            progress(label, done, total)

    instances: dict[str, Any] = {}
    compiled: dict[tuple[str, int, str], Callable[[Any, Any], tf.Tensor]] = {}

    def circuit_fn(name: str, n: int, encoder: str) -> Callable[[Any, Any], tf.Tensor]:
        """The backend's compiled ``fn(features, weights)``, built once per backend, qubits and encoder."""
        if name not in instances:
            instances[name] = registry.create("backend", name, **(backend_options or {}).get(name, {}))
        if (name, n, encoder) not in compiled:
            compiled[name, n, encoder] = _circuit_fn(instances[name], n, encoder)
        return compiled[name, n, encoder]

    reference_error: str | None = None
    if PENNYLANE in backends:
        try:
            pennylane_ref.require()
        except pennylane_ref.ReferenceUnavailableError as exc:
            reference_error = f"skipped: {exc}"

    def prepare(name: str, n: int, encoder: str, weights: np.ndarray) -> Callable[[np.ndarray], Callable[[], Any]] | str:
        """``make_run(features)`` for one backend, qubit count and encoder, or why it is skipped."""
        if name == PENNYLANE:
            if reference_error:
                return reference_error
            reference = pennylane_ref.PennyLaneReference(n, encoder, DEPTH)
            gap = compare_with_native(reference, circuit_fn("native", n, encoder))
            if gap > REFERENCE_ATOL:
                return f"skipped: PennyLane differs from native by {gap:.2e} (> {REFERENCE_ATOL})"
            return lambda features: reference.train_step(features, weights)
        step = _tf_train_step(circuit_fn(name, n, encoder), feature_width(n, encoder), weights)

        def make_run(features: np.ndarray) -> Callable[[], Any]:
            x = tf.constant(features)
            return lambda: tf.nest.map_structure(lambda t: t.numpy(), step(x))

        return make_run

    rows: list[dict[str, Any]] = []
    timing = {"steps": steps, "time_budget": time_budget, "min_steps": min_steps, "max_steps": max_steps}
    for n in qubits:
        for encoder in encoders:
            weights = sample_weights(n, seed)
            runners: dict[str, Any] = {}
            for batch in batches:
                features = sample_features(n, encoder, batch, seed)
                for name in backends:
                    report(f"train {n}q {encoder} B={batch} {name}")
                    if name not in runners:
                        runners[name] = prepare(name, n, encoder, weights)
                    if isinstance(runners[name], str):
                        rows.append(_row("train", n, encoder, batch, name, None, runners[name]))
                    else:
                        seconds = median_seconds(runners[name](features), **timing)
                        rows.append(_row("train", n, encoder, batch, name, batch / seconds))
                    done += 1
            for name in eval_backends:
                fn = circuit_fn(name, n, encoder)
                rate = None
                for batch in batches:
                    report(f"eval {n}q {encoder} B={batch} {name}")
                    if rate is not None and batch / rate > EVAL_MAX_CALL_SECONDS:
                        done += 1
                        continue
                    features = sample_features(n, encoder, batch, seed)
                    rate = batch / median_seconds(lambda: fn(features, weights), warmup=lambda: fn(features[:8], weights),
                                                   **timing)
                    rows.append(_row("eval", n, encoder, batch, name, rate))
                    done += 1
    report("done")
    return add_ratios(rows)


def add_ratios(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Fill ``vs_tfq`` / ``vs_pennylane`` of native train rows: native samples/s ÷ theirs.

    Rows are matched on kind, qubits, encoder and batch; other rows, and pairs where either
    side has no throughput, get ``None``. Returns ``rows`` (updated in place).
    """
    rates = {(r["kind"], r["n_qubits"], r["encoder"], r["batch"], r["backend"]): r["samples_per_s"] for r in rows}
    for r in rows:
        r["vs_tfq"] = r["vs_pennylane"] = None
        if r["kind"] != "train" or r["backend"] != "native" or not r["samples_per_s"]:
            continue
        key = (r["kind"], r["n_qubits"], r["encoder"], r["batch"])
        for other, field in (("tfq", "vs_tfq"), (PENNYLANE, "vs_pennylane")):
            theirs = rates.get((*key, other))
            if theirs:
                r[field] = round(r["samples_per_s"] / theirs, 2)
    return rows


def _rate(value: float | None) -> str:
    if value is None:
        return "—"
    if value >= 1e4:
        return f"{value / 1e3:.1f}k"
    if value >= 1e3:
        return f"{value / 1e3:.2f}k"
    return f"{value:.0f}" if value >= 10 else f"{value:.1f}"


def _ratio(value: float | None) -> str:
    if value is None:
        return "—"
    return f"{value:.0f}×" if value >= 10 else f"{value:.1f}×"


def format_rows(rows: Sequence[dict[str, Any]]) -> tuple[tuple[str, ...], list[list[str]]]:
    """Column names and display cells, sorted train before eval, then qubits, encoder, batch, backend.

    Eval rows show their backend as ``"<name> eval"``; missing values show as ``—``.
    """
    def key(r: dict[str, Any]) -> tuple:
        return (r["kind"] != "train", r["n_qubits"], r["encoder"], r["batch"],
                _BACKEND_ORDER.get(r["backend"], len(_BACKEND_ORDER)), r["backend"])

    cells = []
    for r in sorted(rows, key=key):
        backend = r["backend"] if r["kind"] == "train" else f"{r['backend']} eval"
        cells.append([str(r["n_qubits"]), r["encoder"], str(r["batch"]), backend, _rate(r["samples_per_s"]),
                      _ratio(r["vs_tfq"]), _ratio(r["vs_pennylane"])])
    return _COLUMNS, cells
