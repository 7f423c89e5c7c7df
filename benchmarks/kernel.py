"""Throughput of the native kernel alone for one training step (forward + gradients).

Kernel-level helper used to tune :mod:`qkernel.sim.kernel` (and by its tests); ``qdistill bench``
measures whole backends instead (:func:`benchmarks.run_benchmarks`). The reference workload of
``/work/shared/REFERENCE.md`` is :func:`reference_circuit` with an amplitude-encoded
input state: 8 qubits, 5 layers of (RY on each qubit, RZ on each qubit, CNOT ring),
⟨Z⟩ on every qubit, gradients w.r.t. the weights and the input state.
"""

from __future__ import annotations

import time

import cirq
import numpy as np
import sympy
import tensorflow as tf

from qkernel.sim.kernel import CompiledCircuit

__all__ = ["benchmark_train_step", "reference_circuit"]


def reference_circuit(
    n_qubits: int = 8, layers: int = 5
) -> tuple[cirq.Circuit, tuple[sympy.Symbol, ...], list[cirq.PauliString]]:
    """The benchmark ansatz: ``layers`` x (RY each qubit, RZ each qubit, CNOT ring).

    Args:
        n_qubits: Number of qubits (``cirq.LineQubit.range(n_qubits)``).
        layers: Number of layers.

    Returns:
        ``(circuit, weight_symbols, observables)`` with ``2 * n_qubits * layers`` symbols and
        one ``Z`` observable per qubit.
    """
    qubits = cirq.LineQubit.range(n_qubits)
    symbols = sympy.symbols(f"theta0:{2 * n_qubits * layers}")
    circuit = cirq.Circuit()
    k = 0
    for _ in range(layers):
        circuit.append(cirq.ry(symbols[k + i]).on(q) for i, q in enumerate(qubits))
        k += n_qubits
        circuit.append(cirq.rz(symbols[k + i]).on(q) for i, q in enumerate(qubits))
        k += n_qubits
        if n_qubits > 1:
            circuit.append(cirq.CNOT(q, qubits[(i + 1) % n_qubits]) for i, q in enumerate(qubits))
    return circuit, tuple(symbols), [cirq.Z(q) for q in qubits]


def benchmark_train_step(
    compiled: CompiledCircuit,
    *,
    batch: int,
    steps: int,
    warmup: int = 3,
    repeats: int = 3,
    use_state: bool = True,
    jit_step: bool = False,
    seed: int = 0,
) -> float:
    """Samples per second of a training step through ``compiled``.

    One step, inside a :func:`tf.function`, is: forward pass on a batch, mean-squared error
    against fixed random targets, gradient w.r.t. the weights (applied as an SGD update) and
    w.r.t. the inputs (the L2-normalised input state, as for amplitude encoding behind a
    trained dense layer, and the data symbols' values if the circuit has any).

    Args:
        compiled: The compiled circuit.
        batch: Batch size.
        steps: Timed steps per repeat (after ``warmup`` untimed ones, which include
            tracing and compiling).
        warmup: Untimed steps.
        repeats: Timed repeats; the fastest is reported, which filters out load from
            other processes on a shared machine.
        use_state: Feed a random real input state; otherwise start from ``|0...0>``.
        jit_step: Also compile the whole step with XLA (the kernel's own ``jit_compile``
            setting is independent).
        seed: Seed of the random inputs.

    Returns:
        Samples per second, ``batch * steps / elapsed`` of the fastest repeat.
    """
    rng = np.random.default_rng(seed)
    weights = tf.Variable(rng.uniform(-np.pi, np.pi, len(compiled.weight_symbols)).astype(np.float32))
    state = None
    if use_state:
        amplitudes = rng.normal(size=(batch, 2**compiled.n_qubits))
        state = tf.constant(amplitudes / np.linalg.norm(amplitudes, axis=1, keepdims=True), tf.float32)
    data = None
    if compiled.data_symbols:
        data = tf.constant(rng.uniform(-np.pi, np.pi, (batch, len(compiled.data_symbols))), tf.float32)
    targets = tf.constant(rng.uniform(-1, 1, (batch, compiled.n_outputs)), tf.float32)

    @tf.function(jit_compile=jit_step)
    def step(state, data):
        inputs = [t for t in (state, data) if t is not None]
        with tf.GradientTape() as tape:
            tape.watch(inputs)
            out = compiled(weights, data=data, state=state)
            loss = tf.reduce_mean(tf.square(out - targets))
        grads = tape.gradient(loss, [weights, *inputs])
        weights.assign_sub(0.01 * grads[0])
        return loss, grads[1:]

    for _ in range(max(warmup, 1)):
        _block(step(state, data))
    best = float("inf")
    for _ in range(max(repeats, 1)):
        start = time.perf_counter()
        for _ in range(steps):
            result = step(state, data)
        _block(result)
        best = min(best, time.perf_counter() - start)
    return batch * steps / best


def _block(result) -> None:
    """Wait for the values (TF executes asynchronously on some devices)."""
    tf.nest.map_structure(lambda t: t.numpy(), result)
