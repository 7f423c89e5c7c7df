"""Conformance checks a plugin author runs against their plugin (qdistill runs them on its own).

Usage in a third-party test suite::

    from qkernel.plugin.testing import check_plugin

    def test_my_encoder_conforms():
        check_plugin("encoder", "my-encoder")          # registered through entry points

Each check raises :class:`AssertionError` naming the plugin, what was expected and what was
received. Circuit plugins are simulated by the native kernel and by Cirq's reference
simulator, which must agree.
"""

from __future__ import annotations

from typing import Any

import cirq
import numpy as np
import tensorflow as tf

from qkernel.plugin.contracts import Ansatz, Backend, DatasetSource, Encoder, Reducer
from qkernel.errors import InputError
from qkernel.sim.observables import z_each
from qkernel.plugin.registry import Registry, get_registry

__all__ = ["check_plugin", "check_encoder", "check_ansatz", "check_backend", "check_reducer", "check_dataset"]

ATOL = 1e-5


def _fail(kind: str, name: str, what: str) -> AssertionError:
    return AssertionError(f"{kind} plugin {name!r}: {what}")


def _symbols_of(circuit: cirq.Circuit) -> set:
    return {s for op in circuit.all_operations() for s in cirq.parameter_symbols(op)}


def _expectations(backend: Backend, encoder: Encoder, ansatz: Ansatz, x: np.ndarray, w: np.ndarray) -> np.ndarray:
    fn = backend.compile(encoder, ansatz, z_each(cirq.LineQubit.range(encoder.n_qubits)))
    return np.asarray(fn(tf.constant(x, tf.float32), tf.constant(w, tf.float32)))


def _features(encoder: Encoder, batch: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).uniform(0.1, 1.0, size=(batch, encoder.n_features)).astype(np.float32)


def check_encoder(name: str, registry: Registry | None = None, n_qubits: int = 4) -> None:
    """An encoder honours :class:`~qkernel.plugin.contracts.Encoder` and simulates identically everywhere."""
    registry = registry or get_registry()
    enc = registry.create("encoder", name, n_qubits=n_qubits)
    if not isinstance(enc, Encoder):
        raise _fail("encoder", name, f"{type(enc).__name__} lacks members of the Encoder protocol")
    if enc.n_qubits != n_qubits:
        raise _fail("encoder", name, f"n_qubits is {enc.n_qubits}, built for {n_qubits}")
    qubits = cirq.LineQubit.range(n_qubits)
    symbols = enc.symbols()
    if len(set(symbols)) != len(symbols) or _symbols_of(enc.circuit(qubits)) - set(symbols):
        raise _fail("encoder", name, "circuit symbols must be exactly the unique symbols() it declares")
    x = _features(enc, 3, 0)
    values = np.asarray(enc.symbol_values(tf.constant(x)))
    if values.shape != (3, len(symbols)):
        raise _fail("encoder", name, f"symbol_values gave shape {values.shape}, expected {(3, len(symbols))}")
    try:
        enc.symbol_values(tf.constant(np.ones((2, enc.n_features + 1), np.float32)))
    except (InputError, tf.errors.InvalidArgumentError):
        pass
    else:
        raise _fail("encoder", name, f"accepted {enc.n_features + 1} features per sample; expected an InputError")
    state = enc.state(tf.constant(x))
    if state is not None:  # the direct state must equal what the circuit prepares
        sim = cirq.Simulator(dtype=np.complex128)
        for i in range(len(x)):
            resolver = cirq.ParamResolver({s: float(v) for s, v in zip(symbols, values[i])})
            prepared = sim.simulate(cirq.resolve_parameters(enc.circuit(qubits), resolver), qubit_order=qubits)
            if not np.allclose(prepared.final_state_vector, np.asarray(state[i]), atol=1e-4):
                raise _fail("encoder", name, "state() differs from the state its circuit prepares")
    ansatz = registry.create("ansatz", "hardware_efficient", n_qubits=n_qubits, depth=1)
    _agree("encoder", name, enc, ansatz, registry)


def check_ansatz(name: str, registry: Registry | None = None, n_qubits: int = 4, depth: int = 2) -> None:
    """An ansatz honours :class:`~qkernel.plugin.contracts.Ansatz`, simulates identically and trains."""
    registry = registry or get_registry()
    ans = registry.create("ansatz", name, n_qubits=n_qubits, depth=depth)
    if not isinstance(ans, Ansatz):
        raise _fail("ansatz", name, f"{type(ans).__name__} lacks members of the Ansatz protocol")
    symbols = ans.symbols()
    circuit_symbols = _symbols_of(ans.circuit(cirq.LineQubit.range(n_qubits)))
    if len(set(symbols)) != len(symbols) or circuit_symbols != set(symbols):
        raise _fail("ansatz", name, "circuit symbols must be exactly the unique symbols() it declares")
    enc = registry.create("encoder", "angle", n_qubits=n_qubits)
    _agree("ansatz", name, enc, ans, registry)
    native = registry.create("backend", "native").compile(
        enc, ans, [o for o in z_each(cirq.LineQubit.range(n_qubits))])
    w = tf.Variable(np.random.default_rng(1).uniform(0, 2 * np.pi, len(symbols)).astype(np.float32))
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(native(tf.constant(_features(enc, 4, 2)), w) ** 2)
    grad = tape.gradient(loss, w).numpy()
    if np.count_nonzero(np.abs(grad) > 1e-7) == 0:
        raise _fail("ansatz", name, "no weight receives gradient through ⟨Z⟩ readouts")


def _agree(kind: str, name: str, enc: Encoder, ans: Ansatz, registry: Registry) -> None:
    x = _features(enc, 3, 3)
    w = np.random.default_rng(4).uniform(0, 2 * np.pi, len(ans.symbols())).astype(np.float32)
    native = _expectations(registry.create("backend", "native"), enc, ans, x, w)
    reference = _expectations(registry.create("backend", "cirq"), enc, ans, x, w)
    err = float(np.max(np.abs(native - reference)))
    if err > ATOL:
        raise _fail(kind, name, f"native kernel and cirq disagree by {err:.2e} (tolerance {ATOL})")


def check_backend(name: str, registry: Registry | None = None, n_qubits: int = 3) -> None:
    """A backend returns ``(batch, observables)`` expectations that match Cirq's reference.

    A backend whose default results are noisy by design (hardware, device noise models) is
    built with the options its factory lists in ``conformance_options`` (e.g. noiseless), so
    the check still compares its compiled circuits with the reference.
    """
    registry = registry or get_registry()
    options = dict(getattr(registry.get("backend", name).factory, "conformance_options", {}))
    backend = registry.create("backend", name, **options)
    if not isinstance(backend, Backend):
        raise _fail("backend", name, f"{type(backend).__name__} lacks members of the Backend protocol")
    enc = registry.create("encoder", "amplitude", n_qubits=n_qubits)
    ans = registry.create("ansatz", "hardware_efficient", n_qubits=n_qubits, depth=2)
    x, w = _features(enc, 4, 5), np.random.default_rng(6).uniform(0, 6, len(ans.symbols())).astype(np.float32)
    got = _expectations(backend, enc, ans, x, w)
    want = _expectations(registry.create("backend", "cirq"), enc, ans, x, w)
    tolerance = 5 * ATOL if not getattr(backend, "shots", None) else 0.1
    if got.shape != want.shape or float(np.max(np.abs(got - want))) > tolerance:
        raise _fail("backend", name, f"expectations differ from cirq's by more than {tolerance}")
    stats = backend.stats()
    if not isinstance(stats, dict) or stats.get("circuit_executions", 0) <= 0:
        raise _fail("backend", name, f"stats() must count circuit_executions, got {stats!r}")


def check_reducer(name: str, registry: Registry | None = None, n_features: int = 16) -> None:
    """A reducer maps images to ``n_features`` finite values, fitted on training data only."""
    registry = registry or get_registry()
    red = registry.create("reducer", name, n_features=n_features)
    if not isinstance(red, Reducer):
        raise _fail("reducer", name, f"{type(red).__name__} lacks members of the Reducer protocol")
    images = np.random.default_rng(7).random((40, 28, 28), dtype=np.float32)
    red.fit(images)
    out = np.asarray(red.layer((28, 28))(images[:5]))
    if out.shape != (5, n_features) or not np.isfinite(out).all():
        raise _fail("reducer", name, f"layer output has shape {out.shape} (expected {(5, n_features)}) or non-finite values")
    if not red.trainable:  # a fixed reducer is fully described by its state
        clone = registry.create("reducer", name, n_features=n_features)
        clone.load_state(red.state())
        if not np.allclose(np.asarray(clone.layer((28, 28))(images[:5])), out, atol=1e-6):
            raise _fail("reducer", name, "load_state(state()) does not reproduce the fitted reducer")


def check_dataset(name: str, registry: Registry | None = None) -> None:
    """A dataset declares its shape and classes, and loads valid arrays where it is available."""
    from qkernel.data.prepare import validate_raw

    registry = registry or get_registry()
    src = registry.create("dataset", name)
    if not isinstance(src, DatasetSource):
        raise _fail("dataset", name, f"{type(src).__name__} lacks members of the DatasetSource protocol")
    if len(src.class_names) < 2 or len(src.image_shape) not in (2, 3):
        raise _fail("dataset", name, "needs at least two class names and an (H, W[, C]) image shape")
    if src.locate(None) is not None:
        validate_raw(src, src.load(None, download=False))


_CHECKS: dict[str, Any] = {
    "encoder": check_encoder, "ansatz": check_ansatz, "backend": check_backend,
    "reducer": check_reducer, "dataset": check_dataset,
}


def check_plugin(kind: str, name: str, registry: Registry | None = None) -> None:
    """Run the conformance checks of ``kind`` on the registered plugin ``name``.

    Models have no generic check (their contract is a Keras model); other kinds raise
    :class:`AssertionError` on the first violation.
    """
    if kind in _CHECKS:
        _CHECKS[kind](name, registry)
