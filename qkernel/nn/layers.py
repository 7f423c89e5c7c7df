"""The Keras layer around a circuit backend: features in, expectation values out (readouts: :mod:`qkernel.nn.readouts`)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import cirq
import tensorflow as tf

from qkernel.plugin.contracts import Ansatz, Backend, Encoder
from qkernel.errors import ConfigError
from qkernel.nn.readouts import HermitianReadout

class QuantumLayer(tf.keras.layers.Layer):
    """Encoder + ansatz circuit evaluated by a backend: features ``(B, F)`` → expectations ``(B, M)``.

    The ansatz angles are this layer's trainable weights, initialised uniformly in
    ``[0, 2π)`` from ``seed``.

    Args:
        encoder: The data encoder.
        ansatz: The trainable circuit (same qubit count as the encoder).
        observables: Pauli observables measured at the end.
        backend: The backend that compiles and runs the circuit.
        seed: Seed of the weight initialisation.

    Raises:
        ConfigError: if encoder and ansatz act on different numbers of qubits.
    """

    def __init__(
        self,
        encoder: Encoder,
        ansatz: Ansatz,
        observables: Sequence[cirq.PauliSum],
        backend: Backend,
        seed: int | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if encoder.n_qubits != ansatz.n_qubits:
            raise ConfigError(
                f"encoder {encoder.name!r} acts on {encoder.n_qubits} qubits but ansatz {ansatz.name!r} "
                f"on {ansatz.n_qubits}; they must match"
            )
        self.encoder, self.ansatz, self.backend = encoder, ansatz, backend
        self.observables = list(observables)
        self._fn = backend.compile(encoder, ansatz, self.observables)
        self.circuit_weights = self.add_weight(
            name="circuit_weights",
            shape=(len(ansatz.symbols()),),
            initializer=tf.keras.initializers.RandomUniform(0.0, 2 * math.pi, seed=seed),
            trainable=True,
        )

    def call(self, features: tf.Tensor) -> tf.Tensor:
        return self._fn(features, self.circuit_weights)

    def compute_output_shape(self, input_shape: Any) -> tf.TensorShape:
        return tf.TensorShape([input_shape[0], len(self.observables)])

    def _keras_tensor_symbolic_call(self, inputs: Any, input_masks: Any, args: Any, kwargs: Any) -> Any:
        """Functional-model construction: the output shape is known, so tf-keras' trial call in a scratch
        graph — tracing the whole circuit, ~0.5 s for every model built — is skipped."""
        from tf_keras.src.engine.keras_tensor import KerasTensor

        self._set_save_spec(inputs, args, kwargs)
        return KerasTensor(tf.TensorSpec(self.compute_output_shape(inputs.shape), self.compute_dtype))


def parameter_counts(model: tf.keras.layers.Layer) -> dict[str, int]:
    """Trainable parameters of ``model``: ``quantum`` (the angles of every :class:`QuantumLayer` in it and the
    entries of its trainable Hermitian observables), ``classical`` (the rest) and ``total``."""
    def size(variables: Sequence[tf.Variable]) -> int:
        return sum(int(math.prod(v.shape)) for v in variables)

    quantum = sum(size(m.trainable_weights) for m in model.submodules if isinstance(m, QuantumLayer | HermitianReadout))
    total = size(model.trainable_weights)
    return {"quantum": quantum, "classical": total - quantum, "total": total}
