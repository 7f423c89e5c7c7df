"""Judging a distilled set: fresh models trained on it, random real images, the full set, quantum cost.

* :func:`evaluate_distilled` — fresh initialisations (never seen while distilling) trained on
  the distilled images with the learned rates, scored on the full test split; in fixed-init
  mode also the one initialisation distilled for;
* :func:`evaluate_real` — the same model trained with Adam (early stopping on validation)
  on ``k`` random real images per class, or on the whole training split;
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
from qkernel.errors import ConfigError
from qkernel.methods.dd.config import DDEvalParams
from qkernel.methods.dd.synthetic import (
    Distilled, ModelFactory, balanced_labels, initial_state, load_state, random_real_subset,
)
from qkernel.methods.dd.unrolled import train_on
from qkernel.nn.functional import FunctionalModel
from qkernel.nn.layers import QuantumLayer
from qkernel.nn.training import accuracy, fit, reset_optimizer
from qkernel.sim.observables import measurement_plan

__all__ = ["EVAL_SEED_OFFSET", "evaluate_distilled", "evaluate_real", "quantum_cost", "summary"]

#: Evaluation initialisations use seeds from here on, away from the distillation pool.
EVAL_SEED_OFFSET = 100_000


def summary(values: Sequence[float]) -> dict[str, Any]:
    """``{"mean", "std", "values"}`` of accuracies (fractions), or empty values for none."""
    arr = np.asarray(values, dtype=np.float64)
    if arr.size == 0:
        return {"mean": None, "std": None, "values": []}
    return {"mean": float(arr.mean()), "std": float(arr.std()), "values": [float(v) for v in arr]}


def evaluate_distilled(
    factory: ModelFactory, distilled: Distilled, data: PreparedDataset, inits: int, seed: int,
    on_init: Callable[[int, float], None] | None = None,
) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """Models trained on the distilled set with its learned rates; their test accuracies.

    Args:
        inits: Fresh initialisations (seeds from ``seed + EVAL_SEED_OFFSET``, never seen while
            distilling), each complete: a fixed Hermitian readout is drawn anew too.
        seed: The run's seed (fresh initialisations start at ``seed + EVAL_SEED_OFFSET``).
        on_init: Called with ``(k, accuracy)`` after fresh initialisation ``k``.

    Returns:
        ``(summary of the fresh inits, summary of the known init or None)``. One functional
        model serves all of them, so the training loop is traced once.
    """
    if distilled.learning_rates is None or not len(distilled.learning_rates):
        raise ConfigError(f"the {distilled.method or 'distilled'} set has no learned learning rates to train with")
    fm = FunctionalModel(factory(seed))

    def train_from(init_seed: int) -> float:
        load_state(fm.model, initial_state(factory, init_seed))
        fm.assign(train_on(fm, fm.current(), distilled.images, distilled.labels, distilled.learning_rates,
                           distilled.steps))
        return accuracy(fm.model, data.x["test"], data.y["test"])

    # The known init (Wang et al.'s fixed-init setting) is reported apart, never as the headline.
    known = summary([train_from(distilled.known_init)]) if distilled.known_init is not None else None
    accs = []
    for k in range(inits):
        accs.append(train_from(seed + EVAL_SEED_OFFSET + k))
        if on_init is not None:
            on_init(k, accs[-1])
    return summary(accs), known


def evaluate_real(
    factory: ModelFactory, data: PreparedDataset, per_class: int | None, params: DDEvalParams, inits: int, seed: int,
    on_init: Callable[[int, float], None] | None = None,
) -> dict[str, Any]:
    """Adam-train ``inits`` fresh models on ``per_class`` random real images per class (``None``: all).

    Model selection uses the validation split, as everywhere in qdistill; the test split is
    touched once per model.
    """
    accs, epochs = [], []
    model, optimizer = None, tf.keras.optimizers.Adam(params.learning_rate)
    for k in range(inits):
        init_seed = seed + EVAL_SEED_OFFSET + k
        if per_class is None:
            x, y = data.x["train"], data.y["train"]
        else:
            x = random_real_subset(data.x["train"], data.y["train"], data.num_classes, per_class,
                                   np.random.default_rng([seed, 3, k]))
            y = balanced_labels(data.num_classes, per_class).astype(data.y["train"].dtype)
        # One model and optimizer for every init (its traced steps are reused: tracing a
        # quantum model costs more than training it on 100 images); each init starts from
        # factory(init_seed)'s weights and a zeroed optimizer, as a fresh model would.
        if model is None:
            model = factory(init_seed)
        else:
            load_state(model, initial_state(factory, init_seed))
            reset_optimizer(optimizer)
        subset = per_class is not None
        result = fit(model, (x, y), (data.x["val"], data.y["val"]),
                     epochs=params.subset_epochs if subset else params.epochs,
                     batch_size=min(params.batch_size, len(x)), optimizer=optimizer,
                     seed=init_seed, patience=params.subset_patience if subset else params.patience)
        accs.append(accuracy(model, data.x["test"], data.y["test"]))
        epochs.append(len(result.history))
        if on_init is not None:
            on_init(k, accs[-1])
    return {**summary(accs), "images": len(data.x["train"]) if per_class is None else per_class * data.num_classes,
            "epochs_run": epochs}


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
