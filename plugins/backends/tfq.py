"""TensorFlow Quantum backend: differentiable expectations via ``tfq.layers.Expectation``.

The composed circuit is serialized once at compile time; each call tiles it over the batch
and feeds ``concat(encoder.symbol_values(features), tiled weights)`` as symbol values, so
gradients reach both the features (through the encoder's TF map, e.g. the amplitude
template angles) and the weights. TFQ simulates in float32 (qsim inside).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import cirq
import tensorflow as tf

from .cirq_sim import build_program, check_weights
from qkernel.plugin.contracts import Ansatz, Encoder
from qkernel.errors import ConfigError

__all__ = ["TFQBackend"]

_DIFFERENTIATORS = ("adjoint", "parameter_shift")


class TFQBackend:
    """TensorFlow Quantum (qsim, float32): differentiable expectation values for training.

    Args:
        differentiator: ``"adjoint"`` (default; exact gradients, one backward pass) or
            ``"parameter_shift"``.
    """

    name = "tfq"
    differentiable = True
    hardware = False

    def __init__(self, differentiator: str = "adjoint") -> None:
        if differentiator not in _DIFFERENTIATORS:
            raise ConfigError(
                f"tfq backend: differentiator must be one of {', '.join(_DIFFERENTIATORS)}; got {differentiator!r}"
            )
        import tensorflow_quantum as tfq  # deferred: slow to import, only needed here

        self._tfq = tfq
        self.differentiator = differentiator
        self._executions = tf.Variable(0, dtype=tf.int64, trainable=False, name="tfq_circuit_executions")

    def _new_differentiator(self) -> Any:
        # A TFQ differentiator instance can back only one differentiable op: one per compile.
        if self.differentiator == "adjoint":
            return self._tfq.differentiators.Adjoint()
        return self._tfq.differentiators.ParameterShift()

    def compile(self, encoder: Encoder, ansatz: Ansatz, observables: Sequence[cirq.PauliSum]) -> Any:
        """Build ``fn(features, weights) -> (B, len(observables))`` float32, differentiable in both."""
        program = build_program(encoder, ansatz, observables)
        tfq = self._tfq
        layer = tfq.layers.Expectation(differentiator=self._new_differentiator())
        circuit = tfq.convert_to_tensor([program.circuit])
        operators = tfq.convert_to_tensor([list(program.observables)])
        names = tf.constant([str(s) for s in program.symbols])
        executions = self._executions

        def fn(features: Any, weights: Any) -> tf.Tensor:
            w = tf.cast(tf.convert_to_tensor(weights), tf.float32)
            check_weights(program, w)
            data = tf.cast(encoder.symbol_values(features), tf.float32)
            batch = tf.shape(data)[0]
            values = tf.concat([data, tf.tile(w[tf.newaxis, :], tf.stack([batch, 1]))], axis=1)
            out = layer(
                tf.tile(circuit, [batch]),
                symbol_names=names,
                symbol_values=values,
                operators=tf.tile(operators, tf.stack([batch, 1])),
            )
            executions.assign_add(tf.cast(batch, tf.int64))
            return out

        return fn

    def stats(self) -> dict[str, int]:
        """``circuit_executions``: one per sample evaluated (gradients not counted separately)."""
        return {"circuit_executions": int(self._executions.numpy()), "shots": 0}
