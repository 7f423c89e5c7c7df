"""Judging a distilled set under one protocol: fresh models on it, random real subsets, the full set.

Every comparison trains fresh initialisations with the same :mod:`qkernel.methods.dd.protocol`
(optimiser, schedule, augmentation; fixed budget, no early stopping) and scores the final
weights once on the full test split:

* :func:`evaluate_distilled` — fresh initialisations (never seen while distilling) on the set;
* :func:`evaluate_random_real` — random class-balanced real subsets of the same size, one fresh
  initialisation each, paired with the distilled ones;
* :func:`evaluate_full` — the whole training split;
* :func:`evaluate_known_init` — Wang et al.'s fixed-init setting, reported apart as "known init";
* :func:`quantum_cost` — circuit executions needed to train on the distilled set vs the full
  set: in simulation (one state-vector pass per sample) and on hardware, where every
  gradient needs parameter-shift circuits in every measurement setting, times the shots.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import tensorflow as tf

from qkernel.data import PreparedDataset
from qkernel.methods.dd.protocol import Trainer
from qkernel.methods.dd.synthetic import (
    Distilled, ModelFactory, balanced_labels, decode, encode, random_real_subset,
)
from qkernel.methods.dd.unrolled import train_on
from qkernel.nn.functional import FunctionalModel
from qkernel.nn.layers import QuantumLayer
from qkernel.nn.training import accuracy
from qkernel.sim.observables import measurement_plan

__all__ = [
    "EVAL_SEED_OFFSET", "evaluate_distilled", "evaluate_full", "evaluate_known_init", "evaluate_random_real",
    "quantum_cost", "summary",
]

#: Evaluation initialisations use seeds from here on, away from the distillation pool.
EVAL_SEED_OFFSET = 100_000


def summary(values: Sequence[float], collapsed: Sequence[int] = ()) -> dict[str, Any]:
    """``{"mean", "std", "values"}`` of accuracies (fractions), or empty values for none; ``"collapsed"``: the
    indices of runs whose training stayed at chance level (:data:`~qkernel.methods.dd.protocol.COLLAPSE_FRACTION`),
    only when there are any — their scores count, flagged."""
    arr = np.asarray(values, dtype=np.float64)
    if arr.size == 0:
        return {"mean": None, "std": None, "values": []}
    flagged = {"collapsed": list(collapsed)} if len(collapsed) else {}
    return {"mean": float(arr.mean()), "std": float(arr.std()), "values": [float(v) for v in arr], **flagged}


def evaluate_distilled(
    trainer: Trainer, distilled: Distilled, data: PreparedDataset, inits: int, seed: int,
    on_init: Callable[[int, float], None] | None = None,
) -> dict[str, Any]:
    """Fresh initialisations trained on the distilled set under the protocol; their test accuracies.

    Args:
        trainer: The protocol's trainer for the model being evaluated.
        inits: Fresh initialisations, seeds ``seed + EVAL_SEED_OFFSET + k`` (never seen while
            distilling), each complete: a fixed Hermitian readout is drawn anew too. The random
            real subsets use the same seeds, so the two are paired.
        on_init: Called with ``(k, accuracy)`` after initialisation ``k``.
    """
    x, y = distilled.training_set()
    y = y.astype(data.y["train"].dtype)
    epochs = trainer.protocol.epochs
    return _scores(lambda k, s: trainer.score(x, y, s, epochs, data.x["test"], data.y["test"]), trainer, inits, seed,
                   on_init)


def evaluate_random_real(
    trainer: Trainer, data: PreparedDataset, per_class: int, draws: int, seed: int,
    on_init: Callable[[int, float], None] | None = None, factor: int = 1,
) -> dict[str, Any]:
    """``draws`` random class-balanced real subsets of ``per_class`` images per class, each trained from
    a fresh initialisation under the protocol (draw ``k`` pairs with distilled initialisation ``k``).

    ``factor`` > 1: the subsets are stored as a multi-formed set of ``per_class`` images per class would be
    (``factor²`` real images shrunk into each, :func:`~qkernel.methods.dd.synthetic.encode`) and trained on
    decoded — the same storage and training images as the distilled set, without distilling.
    """
    y = balanced_labels(data.num_classes, per_class * factor**2).astype(data.y["train"].dtype)

    def score(k: int, init_seed: int) -> float:
        x = random_real_subset(data.x["train"], data.y["train"], data.num_classes, per_class * factor**2,
                               np.random.default_rng([seed, 3, k]))
        x = decode(encode(x, factor), factor).numpy() if factor > 1 else x
        return trainer.score(x, y, init_seed, trainer.protocol.epochs, data.x["test"], data.y["test"])

    return {**_scores(score, trainer, draws, seed, on_init), "images": per_class * data.num_classes}


def evaluate_full(
    trainer: Trainer, data: PreparedDataset, inits: int, seed: int, on_init: Callable[[int, float], None] | None = None,
) -> dict[str, Any]:
    """The whole training split, trained from fresh initialisations under the protocol (``full_epochs``)."""
    epochs = trainer.protocol.full_epochs
    score = lambda k, s: trainer.score(data.x["train"], data.y["train"], s, epochs,  # noqa: E731
                                       data.x["test"], data.y["test"])
    return {**_scores(score, trainer, inits, seed, on_init), "images": len(data.y["train"]), "epochs": epochs}


def _scores(score: Callable[[int, int], float], trainer: Trainer, n: int, seed: int,
            on_init: Callable[[int, float], None] | None) -> dict[str, Any]:
    accs, collapsed = [], []
    for k in range(n):
        accs.append(score(k, seed + EVAL_SEED_OFFSET + k))
        if trainer.collapsed:
            collapsed.append(k)
        if on_init is not None:
            on_init(k, accs[-1])
    return summary(accs, collapsed)


def evaluate_known_init(factory: ModelFactory, distilled: Distilled, data: PreparedDataset) -> dict[str, Any] | None:
    """The one initialisation a set was distilled for, trained with the learned rates (Wang et al.'s
    fixed-init setting) — reported apart as "known init", never as the headline; ``None`` when the set
    was distilled for fresh initialisations or has no learned rates."""
    if distilled.known_init is None or distilled.learning_rates is None or not len(distilled.learning_rates):
        return None
    fm = FunctionalModel(factory(distilled.known_init))
    fm.assign(train_on(fm, fm.current(), distilled.images, distilled.labels, distilled.learning_rates,
                       distilled.steps))
    return summary([accuracy(fm.model, data.x["test"], data.y["test"])])


def quantum_layers(model: tf.keras.Model) -> list[QuantumLayer]:
    """The model's quantum layers (empty for a classical model)."""
    return [layer for layer in model.layers if isinstance(layer, QuantumLayer)]


def quantum_cost(
    model: tf.keras.Model, n_distilled: int, distilled_epochs: int, n_train: int, full_epochs: int, shots: int,
) -> dict[str, Any] | None:
    """Circuit executions to train on the distilled set vs the full training set (``None`` if classical).

    Simulation: one execution per sample per pass (the backward pass reuses the state).
    Hardware with the parameter-shift rule: per sample and gradient step, in each of the
    ``settings`` measurement bases the readout needs (⟨X⟩,⟨Y⟩,⟨Z⟩ for Hermitian readouts:
    3; ⟨Z⟩: 1), one unshifted circuit plus two shifted circuits for every circuit angle —
    the trained ansatz angles and the data-dependent encoding angles (the gradient must
    reach the classical layers before the circuit) — each run ``shots`` times.

    Args:
        model: A built model.
        n_distilled: Synthetic images.
        distilled_epochs: Epochs of training on them (each image is used once per epoch).
        n_train: Real training images.
        full_epochs: Epochs of full-set training being compared.
        shots: Shots per circuit.
    """
    layers = quantum_layers(model)
    if not layers:
        return None
    per_sample = 0
    detail = []
    for layer in layers:
        angles = len(layer.ansatz.symbols())
        encoding = len(layer.encoder.symbols())
        qubits = sorted({q for o in layer.observables for q in o.qubits})
        settings = len(measurement_plan(layer.observables, qubits).settings)
        circuits = settings * (1 + 2 * (angles + encoding))
        per_sample += circuits
        detail.append({"layer": layer.name, "ansatz_angles": angles, "encoding_angles": encoding,
                       "settings": settings, "circuits_per_sample_gradient": circuits})

    def block(samples_per_epoch: int, epochs: int) -> dict[str, int]:
        return {
            "simulation_executions_per_epoch": samples_per_epoch,
            "simulation_executions": samples_per_epoch * epochs,
            "hardware_circuits_per_epoch": samples_per_epoch * per_sample,
            "hardware_shots_per_epoch": samples_per_epoch * per_sample * shots,
            "hardware_circuits": samples_per_epoch * epochs * per_sample,
            "hardware_shots": samples_per_epoch * epochs * per_sample * shots,
        }

    distilled = block(n_distilled, distilled_epochs)
    full = block(n_train, full_epochs)
    return {
        "layers": detail, "shots": shots, "distilled": distilled, "full": full,
        "reduction": full["simulation_executions"] / max(1, distilled["simulation_executions"]),
    }
