"""Call a Keras model with weights given as tensors: the basis of unrolled (meta-)training.

Dataset distillation differentiates the loss of weights that are themselves the result of
gradient steps, ``w_{t+1} = w_t − η_t ∇L(w_t)``; those weights are tensors on a tape, not
variables. :class:`FunctionalModel` finds, once, which layer attribute holds each trainable
variable (``conv1.kernel``, ``pqc.circuit_weights``, ``hermitian.a_real`` …) and, for one
call, points those attributes at the given tensors. Any model whose layers read their
weights from attributes works: built-in Keras layers, qkernel's quantum layers and readouts,
user layers written the same way.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import tensorflow as tf

from qkernel.errors import ConfigError

__all__ = ["FunctionalModel"]


def _layers(model: tf.keras.Model) -> list[tf.Module]:
    seen: dict[int, tf.Module] = {}
    stack: list[Any] = [model]
    while stack:
        module = stack.pop()
        if id(module) in seen:
            continue
        seen[id(module)] = module
        stack.extend(getattr(module, "layers", []))
        stack.extend(getattr(module, "_self_tracked_trackables", []))
    return list(seen.values())


class FunctionalModel:
    """A Keras model as a pure function ``f(weights, x)`` of its trainable weights.

    Args:
        model: A built model. Its non-trainable variables are used as they are (constants).

    Raises:
        ConfigError: if a trainable variable is not held by any layer attribute (such a
            model cannot be called with substituted weights), or the model has state that
            updates during training (batch-norm statistics), which unrolled steps would ignore.
    """

    def __init__(self, model: tf.keras.Model) -> None:
        self.model = model
        self.variables: list[tf.Variable] = list(model.trainable_variables)
        index = {id(v): k for k, v in enumerate(self.variables)}
        self._slots: list[tuple[Any, str, int]] = []
        found: set[int] = set()
        for layer in _layers(model):
            if isinstance(layer, tf.keras.layers.BatchNormalization):
                raise ConfigError(
                    f"model {model.name!r}: layer {layer.name!r} keeps running statistics; unrolled "
                    "training needs a model without batch normalisation"
                )
            for attr, value in vars(layer).items():
                if isinstance(value, tf.Variable) and id(value) in index:
                    self._slots.append((layer, attr, index[id(value)]))
                    found.add(index[id(value)])
        missing = [self.variables[k].name for k in range(len(self.variables)) if k not in found]
        if missing:
            raise ConfigError(
                f"model {model.name!r}: trainable variables {missing} are not stored as layer attributes, "
                "so the model cannot be called with given weights; keep each weight in an attribute "
                "(self.kernel = self.add_weight(...))"
            )

    @property
    def shapes(self) -> list[tf.TensorShape]:
        """Shapes of the trainable weights, in ``model.trainable_variables`` order."""
        return [v.shape for v in self.variables]

    def names(self) -> list[str]:
        """Names of the trainable weights (``conv1/kernel:0`` …)."""
        return [v.name for v in self.variables]

    def current(self) -> list[tf.Tensor]:
        """The model's current weights as tensors (copies)."""
        return [tf.identity(v) for v in self.variables]

    def assign(self, weights: Sequence[tf.Tensor]) -> None:
        """Write ``weights`` into the model's variables."""
        for v, w in zip(self.variables, weights, strict=True):
            v.assign(w)

    def __call__(self, weights: Sequence[tf.Tensor], x: tf.Tensor, training: bool = False) -> tf.Tensor:
        """Model output for ``x`` with the trainable weights replaced by ``weights``.

        Gradients flow to ``weights`` (to any order), not to the model's variables.
        """
        weights = list(weights)
        if len(weights) != len(self.variables):
            raise ConfigError(
                f"model {self.model.name!r} has {len(self.variables)} trainable weights; received {len(weights)}"
            )
        saved = [(layer, attr, getattr(layer, attr)) for layer, attr, _ in self._slots]
        try:
            for layer, attr, k in self._slots:
                object.__setattr__(layer, attr, weights[k])
            return self.model(x, training=training)
        finally:
            for layer, attr, value in saved:
                object.__setattr__(layer, attr, value)
