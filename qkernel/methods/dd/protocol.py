"""The one training protocol every distilled set, random real subset and full training set is judged by.

Literature protocol (REFERENCE C), as one function: a model trained **from a fresh
initialisation** with SGD (momentum, decoupled weight decay on classical kernels only — never
on circuit angles or Hermitian observables), the learning rate cut ×0.1 at half the epochs,
the same differentiable augmentation on every batch (:mod:`qkernel.methods.dd.augment`,
one draw per image), a fixed epoch budget and **no early stopping**: the final weights are
scored once on the test split. A distilled set, a random real subset of the same size and the
full training set differ only in the images and the epoch budget (``epochs`` for the small
sets, ``full_epochs`` for the full set).

One model and one optimizer serve every initialisation of an evaluation (each starts from
``factory(seed)``'s weights and a zeroed optimizer, as a fresh model would): tracing a quantum
model's step costs more than training it on a hundred images.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import tensorflow as tf

from qkernel.methods.dd.augment import augment, parse_strategy
from qkernel.methods.dd.config import DDEvalParams
from qkernel.methods.dd.synthetic import ModelFactory, initial_state, load_state
from qkernel.nn.training import accuracy, reset_optimizer

__all__ = ["COLLAPSE_FRACTION", "NO_DECAY", "Protocol", "Trainer"]

#: A run whose mean training loss over its last epoch is still this fraction of the labels' entropy (what
#: predicting the class frequencies scores: ``ln(classes)`` on a balanced set) learned nothing from the
#: images: it *collapsed* without diverging. Its score stands, flagged.
COLLAPSE_FRACTION = 0.95

#: Variables (by name fragment) that weight decay leaves alone: biases, circuit angles,
#: Hermitian observables and mixing weights are not penalised towards zero.
NO_DECAY = ("bias", "circuit_weights", "a_real", "a_imag", "alpha")


@dataclass(frozen=True)
class Protocol:
    """Optimiser, schedule, augmentation and budgets of the evaluation protocol (from ``dd.eval``)."""

    learning_rate: float
    momentum: float
    weight_decay: float
    batch_size: int
    epochs: int
    full_epochs: int
    augment: tuple[str, ...]

    @classmethod
    def from_params(cls, ev: DDEvalParams) -> Protocol:
        return cls(ev.learning_rate, ev.momentum, ev.weight_decay, ev.batch_size, ev.epochs, ev.full_epochs,
                   parse_strategy(ev.augment))

    def describe(self) -> str:
        aug = ",".join(self.augment) or "none"
        return (f"SGD lr {self.learning_rate:g} (x0.1 at half), momentum {self.momentum:g}, weight decay "
                f"{self.weight_decay:g}, batch {self.batch_size}, augmentation {aug}, {self.epochs} epochs "
                f"({self.full_epochs} on the full set), no early stopping")


class Trainer:
    """Trains fresh initialisations of one model under a :class:`Protocol` (one trace for all of them)."""

    def __init__(self, factory: ModelFactory, protocol: Protocol) -> None:
        self.factory = factory
        self.protocol = protocol
        self.model: tf.keras.Model | None = None
        self.optimizer: tf.keras.optimizers.Optimizer | None = None
        self._step: Callable | None = None
        #: Whether the last :meth:`train` collapsed (:data:`COLLAPSE_FRACTION`).
        self.collapsed = False

    def _start(self, seed: int) -> tf.keras.Model:
        if self.model is None:
            self.model = self.factory(seed)
            p = self.protocol
            self.optimizer = tf.keras.optimizers.SGD(p.learning_rate, momentum=p.momentum,
                                                     weight_decay=p.weight_decay or None)
            if p.weight_decay:
                self.optimizer.exclude_from_weight_decay(var_names=list(NO_DECAY))
            self.optimizer.build(self.model.trainable_variables)
            self._step = self._make_step()
        else:
            load_state(self.model, initial_state(self.factory, seed))
            reset_optimizer(self.optimizer)
        return self.model

    def _make_step(self) -> Callable:
        model, optimizer, strategy = self.model, self.optimizer, self.protocol.augment

        @tf.function(reduce_retracing=True)
        def step(x: tf.Tensor, y: tf.Tensor, seed: tf.Tensor) -> tf.Tensor:
            with tf.GradientTape() as tape:
                logits = model(augment(x, strategy, seed), training=True)  # one draw per image
                loss = tf.reduce_mean(tf.keras.losses.sparse_categorical_crossentropy(y, logits, from_logits=True))
            optimizer.apply_gradients(zip(tape.gradient(loss, model.trainable_variables), model.trainable_variables))
            return loss

        return step

    def train(self, x: np.ndarray, y: np.ndarray, seed: int, epochs: int) -> tf.keras.Model:
        """Train ``factory(seed)`` on ``(x, y)`` for ``epochs`` epochs; returns the model (final weights).

        Sets :attr:`collapsed` when the last epoch's mean training loss is still at chance level.

        Raises:
            qkernel.errors.ConfigError: if the loss becomes non-finite (naming the learning rate).
        """
        from qkernel.errors import ConfigError, graph_error_cause

        model = self._start(seed)
        batch = min(self.protocol.batch_size, len(x))
        n_batches = -(-len(x) // batch)
        rng = np.random.default_rng([seed, 7])
        losses: list[tf.Tensor] = []  # the last epoch's
        cause = ""
        try:
            for epoch in range(epochs):
                decay = 0.1 if epoch >= epochs // 2 else 1.0
                self.optimizer.learning_rate.assign(self.protocol.learning_rate * decay)
                order = rng.permutation(len(x))
                losses = []
                for b in range(n_batches):
                    idx = order[b * batch:(b + 1) * batch]
                    losses.append(self._step(tf.convert_to_tensor(x[idx]), tf.convert_to_tensor(y[idx]),
                                             tf.constant([seed, epoch * n_batches + b], tf.int32)))
        except tf.errors.InvalidArgumentError as exc:  # e.g. an encoder's finiteness check in the graph
            losses, cause = [tf.constant(float("nan"))], graph_error_cause(exc.message)
        loss = float(np.mean([float(v) for v in losses])) if losses else 0.0  # over the last epoch
        if not np.isfinite(loss):
            raise ConfigError(f"evaluation training diverged ({cause or f'loss {loss}'}); lower "
                              f"dd.eval.learning_rate (now {self.protocol.learning_rate})")
        freq = np.unique(y, return_counts=True)[1] / len(y)
        chance = float(-(freq * np.log(freq)).sum())  # the labels' entropy
        self.collapsed = chance > 0 and loss >= COLLAPSE_FRACTION * chance
        return model

    def score(self, x: np.ndarray, y: np.ndarray, seed: int, epochs: int, x_test: np.ndarray,
              y_test: np.ndarray) -> float:
        """Test accuracy of ``factory(seed)`` trained on ``(x, y)`` (the test split touched once)."""
        return accuracy(self.train(x, y, seed, epochs), x_test, y_test)
