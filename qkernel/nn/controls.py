"""Classical controls of the quantum student: does the circuit do anything a classical layer could not?

The quantum student is ``reducer → [encoder + ansatz + readout] → dense head``. A control keeps
the reducer (with its fitted state) and the head, and replaces the bracketed quantum part:

* ``matched`` — :class:`MatchedLayer`, a classical layer with the same inputs (the reducer's
  ``n_features``), the same number of outputs in the same range ([−1, 1], like ⟨Z⟩), and
  **exactly** the quantum part's trainable-parameter count;
* ``none`` — nothing: the reducer's features go straight into the head.

:class:`ClassicalStudent` is the model; the ``control_matched`` and ``control_none`` model
plugins (``plugins/controls.py``) build it, so a control is chosen by name like any model.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
import tensorflow as tf

from qkernel.errors import InputError
from qkernel.nn.layers import parameter_counts
from qkernel.nn.readouts import readout_head, readout_observables
from qkernel.nn.student import StudentParts

__all__ = ["ClassicalStudent", "MatchedLayer", "circuit_part_shape", "quantum_part_shape"]


def quantum_part_shape(parts: StudentParts) -> tuple[int, int]:
    """``(trainable parameters, outputs)`` of the student's quantum part (ansatz angles + readout)."""
    return circuit_part_shape(parts.ansatz, parts.readout, parts.encoder.n_qubits)


def circuit_part_shape(ansatz: Any, readout: str, n_qubits: int) -> tuple[int, int]:
    """``(trainable parameters, outputs)`` of an ansatz with its readout on ``n_qubits`` qubits.

    Counted without compiling the circuit: the ansatz has one trainable angle per symbol;
    a readout layer (e.g. the trainable Hermitian) adds its trainable weights and sets the width.
    """
    width = len(readout_observables(readout, n_qubits))
    n_params = len(ansatz.symbols())
    head = readout_head(readout, n_qubits, seed=0)
    if head is not None:
        head.build((None, width))
        n_params += parameter_counts(head)["total"]
        width = int(head.compute_output_shape((None, width))[-1])
    return n_params, width


class MatchedLayer(tf.keras.layers.Layer):
    """``tanh(W · P x + b)``: ``n_inputs`` features → ``n_outputs`` values in [−1, 1], ``n_params`` trainable.

    ``P`` is a fixed (non-trainable, seeded) random projection to ``k = ⌈n_params / n_outputs⌉ − 1``
    dimensions with orthonormal rows or columns; ``W`` (``k × n_outputs``) and ``b`` are filled, in
    that order, from one trainable vector of exactly ``n_params`` values (entries past it are zero
    when ``n_params`` is not a multiple of ``n_outputs``). A trainable classical map that touches
    each of 256 inputs needs at least 256 weights, more than an 8-qubit circuit has; the fixed
    projection is what lets the control see every input with the circuit's budget.

    Args:
        n_inputs: Input width (the reducer's ``n_features``).
        n_outputs: Output width (the quantum part's).
        n_params: Trainable parameters (the quantum part's); more than ``n_outputs``.
        seed: Seed of the projection and the initial weights.

    Raises:
        InputError: if ``n_params`` does not exceed ``n_outputs`` or a width is not positive.
    """

    def __init__(self, n_inputs: int, n_outputs: int, n_params: int, seed: int = 0, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if min(n_inputs, n_outputs) < 1 or n_params <= n_outputs:
            raise InputError(f"MatchedLayer: needs positive widths and more parameters than outputs; got "
                             f"{n_inputs} inputs, {n_outputs} outputs, {n_params} parameters")
        self.n_inputs, self.n_outputs, self.n_params = int(n_inputs), int(n_outputs), int(n_params)
        self.k = -(-self.n_params // self.n_outputs) - 1
        rng = np.random.default_rng(seed)
        gauss = rng.standard_normal((max(self.n_inputs, self.k), min(self.n_inputs, self.k)))
        q, _ = np.linalg.qr(gauss)  # orthonormal columns
        projection = q if self.n_inputs >= self.k else q.T
        limit = np.sqrt(6.0 / (self.k + self.n_outputs))  # Glorot-uniform on W, zero bias
        flat = np.concatenate([rng.uniform(-limit, limit, self.k * self.n_outputs), np.zeros(self.n_outputs)])
        self.projection = self.add_weight(name="projection", shape=projection.shape, trainable=False,
                                          initializer=tf.keras.initializers.Constant(projection))
        self.weights_flat = self.add_weight(name="weights", shape=(self.n_params,), trainable=True,
                                            initializer=tf.keras.initializers.Constant(flat[: self.n_params]))

    def call(self, features: tf.Tensor) -> tf.Tensor:
        pad = (self.k + 1) * self.n_outputs - self.n_params
        full = tf.reshape(tf.concat([self.weights_flat, tf.zeros([pad], self.weights_flat.dtype)], 0),
                          (self.k + 1, self.n_outputs))
        return tf.tanh(tf.matmul(features @ self.projection, full[: self.k]) + full[self.k])

    def compute_output_shape(self, input_shape: Any) -> tf.TensorShape:
        return tf.TensorShape([input_shape[0], self.n_outputs])


class ClassicalStudent(tf.keras.Model):
    """The quantum student with its quantum part replaced by :class:`MatchedLayer` (``matched``) or removed (``none``).

    Args:
        parts: The quantum student's parts (its reducer, fitted if it needs fitting, is used as is).
        input_shape: Image shape.
        num_classes: Logits out.
        seed: Seed of every initialisation.
        middle: ``matched`` or ``none``.
    """

    def __init__(self, parts: StudentParts, input_shape: tuple[int, ...], num_classes: int, seed: int,
                 middle: Literal["matched", "none"]) -> None:
        super().__init__(name=f"control_{middle}")
        if middle not in ("matched", "none"):
            raise InputError(f"ClassicalStudent: middle must be 'matched' or 'none', got {middle!r}")
        self.parts, self.middle_kind = parts, middle
        self.reduce = parts.reducer.layer(tuple(input_shape))
        n_params, width = quantum_part_shape(parts)
        self.middle = (MatchedLayer(parts.encoder.n_features, width, n_params, seed=seed, name="matched")
                       if middle == "matched" else None)
        self.head = tf.keras.layers.Dense(
            num_classes, kernel_initializer=tf.keras.initializers.GlorotUniform(seed=seed), name="head"
        )
        self.build((None, *input_shape))

    def call(self, images: tf.Tensor, training: bool = False) -> tf.Tensor:
        features = self.reduce(images)
        return self.head(features if self.middle is None else self.middle(features))

    def parameter_counts(self) -> dict[str, int]:
        """Trainable parameters: no ``quantum`` ones; ``middle`` is the stand-in layer's (0 for ``none``)."""
        middle = 0 if self.middle is None else parameter_counts(self.middle)["total"]
        return {**parameter_counts(self), "middle": middle}
