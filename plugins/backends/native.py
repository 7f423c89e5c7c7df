"""The native backend: qkernel's batched TF state-vector kernel (default for training).

Amplitude encodings load the normalised features directly as the initial state (no
state-preparation circuit); other encoders run their circuit with per-sample data symbols.
Gradients of any order flow to the weights and the features.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import cirq
import tensorflow as tf

from qkernel.plugin.contracts import Ansatz, Encoder
from qkernel.sim.kernel import compile_circuit

__all__ = ["NativeBackend"]


class NativeBackend:
    """qkernel's TF state-vector kernel: fast, differentiable to any order (default for training).

    Args:
        jit_compile: Compile the circuit with XLA (default on).
    """

    name = "native"
    differentiable = True
    hardware = False

    def __init__(self, jit_compile: bool = True) -> None:
        self.jit_compile = bool(jit_compile)
        self._executions = tf.Variable(0, dtype=tf.int64, trainable=False, name="native_circuit_executions")

    def compile(self, encoder: Encoder, ansatz: Ansatz, observables: Sequence[cirq.PauliSum]) -> Any:
        """Build ``fn(features, weights) -> (B, len(observables))`` float32."""
        qubits = cirq.LineQubit.range(encoder.n_qubits)
        direct = encoder.state(tf.ones((1, encoder.n_features), tf.float32)) is not None
        circuit = ansatz.circuit(qubits) if direct else encoder.circuit(qubits) + ansatz.circuit(qubits)
        compiled = compile_circuit(
            circuit, qubits=qubits, data_symbols=() if direct else encoder.symbols(),
            weight_symbols=ansatz.symbols(), observables=observables, jit_compile=self.jit_compile,
        )
        executions = self._executions

        def fn(features: Any, weights: Any) -> tf.Tensor:
            features = tf.convert_to_tensor(features, tf.float32)
            weights = tf.cast(tf.convert_to_tensor(weights), tf.float32)
            if direct:
                out = compiled(weights, state=encoder.state(features))
            else:
                out = compiled(weights, data=encoder.symbol_values(features))
            executions.assign_add(tf.cast(tf.shape(features)[0], tf.int64))
            return out

        fn.compiled = compiled  # for introspection (tests, benchmarks)
        return fn

    def stats(self) -> dict[str, int]:
        """``circuit_executions``: samples simulated (a state-vector pass each; no shots)."""
        return {"circuit_executions": int(self._executions.numpy()), "shots": 0}
