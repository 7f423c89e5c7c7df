"""Dataset-distillation stages on files, shared by the ``dd_pipeline`` flow and ``dvc.yaml``.

* :func:`check_dd` — before any work: the method and its options, every model entry, the set size;
* :func:`distill_stage` — ``<out>/<label>/distilled.npz`` (images, labels, learned rates, how
  to train on them) and ``history.json`` (outer loss per step), by the ``dd.method`` plugin;
* :func:`evaluate_stage` — ``<out>/<label>/metrics.json`` per model trained: the distilled
  sets vs random real subsets vs the full set under one protocol, and the quantum cost. A flow
  runs its two halves as tasks of their own, neither waiting for the other:
  :func:`score_sets` (the distilled sets) and :func:`reference_stage` (random real, full set),
  joined by :func:`with_references`.

A flow run and ``dvc repro`` with the same ``params.yaml`` compute the same results; both
call the lifecycle hooks (:mod:`qkernel.plugin.lifecycle`).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import tensorflow as tf

from qkernel.config import Params
from qkernel.data import PreparedDataset, check_data, load_prepared
from qkernel.errors import ConfigError, QDistillError
from qkernel.io import atomic_save_npz, atomic_write_json, read_npz
from qkernel.methods.dd.augment import parse_strategy
from qkernel.methods.dd.config import DDModel
from qkernel.methods.dd.evaluate import (
    evaluate_distilled, evaluate_full, evaluate_known_init, evaluate_random_real, quantum_cost,
)
from qkernel.methods.dd.protocol import Protocol, Trainer
from qkernel.methods.dd.synthetic import Distilled, DistillTask, ModelFactory
from qkernel.nn.layers import parameter_counts
from qkernel.plugin.contracts import DatasetDistiller
from qkernel.plugin.lifecycle import stage
from qkernel.plugin.registry import Registry, get_registry

__all__ = [
    "build_method", "check_dd", "distill_stage", "evaluate_stage", "load_distilled", "model_factory", "model_spec",
    "reference_stage", "save_distilled", "score_sets", "sets_for", "targets", "with_references",
]


def model_spec(params: Params, label: str) -> DDModel:
    """The ``dd.models`` entry called ``label``."""
    for spec in params.dd.models:
        if spec.label == label:
            return spec
    raise ConfigError(f"no dd.models entry labelled {label!r}; have {[m.label for m in params.dd.models]}")


def model_factory(params: Params, spec: DDModel, image_shape: Sequence[int], num_classes: int) -> ModelFactory:
    """``factory(seed)``: a freshly initialised ``spec`` model (seeded Keras initialisers)."""
    registry = get_registry(params.plugins.paths)

    def factory(seed: int) -> tf.keras.Model:
        tf.keras.utils.set_random_seed(seed)
        try:
            return registry.create("model", spec.model, input_shape=tuple(image_shape), num_classes=num_classes,
                                   **spec.options)
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"dd model {spec.label!r} ({spec.model}): {exc}") from exc

    return factory


def build_method(params: Params, registry: Registry | None = None) -> DatasetDistiller:
    """The ``dd.method`` plugin, built with its options from ``dd.methods``.

    Raises:
        ConfigError: for an unknown method (listing the registered ones) or bad options
            (naming the key and listing the keys the method knows).
    """
    registry = registry or get_registry(params.plugins.paths)
    try:
        return registry.create("dd_method", params.dd.method, **params.dd.method_options())
    except QDistillError as exc:
        raise ConfigError(f"dd.method: {exc}") from exc


def check_dd(params: Params, registry: Registry | None = None) -> None:
    """Build the method (and check every other method's options) and every ``dd.models`` entry once, before
    any work, on the dataset's image shape.

    The image shape and class count come from the dataset plugin's metadata, so a model that
    cannot take the dataset's images (or a method that cannot slice the set) fails here.

    Raises:
        ConfigError: naming the method or model entry and what is wrong.
    """
    from qkernel.nn.functional import FunctionalModel

    registry = registry or get_registry(params.plugins.paths)
    source = check_data(params, registry)
    num_classes = len(params.data.classes or source.class_names)
    method = build_method(params, registry)
    method.check(params.dd.images_per_class, num_classes)
    if params.dd.factor > 1 and not getattr(method, "multi_formation", False):
        decoding = [n for n in registry.names("dd_method")
                    if getattr(registry.get("dd_method", n).factory, "multi_formation", False)]
        raise ConfigError(f"dd.factor={params.dd.factor}: {params.dd.method} distils one image per stored image; "
                          f"multi-formed sets need a method that decodes them ({', '.join(decoding)}), or dd.factor=1")
    for name in params.dd.methods.keys() & set(registry.names("dd_method")) - {params.dd.method}:
        try:  # the options of the methods not selected now are still checked: a typo shows before it matters
            registry.create("dd_method", name, **params.dd.method_options(name))
        except QDistillError as exc:
            raise ConfigError(f"dd.methods.{name}: {exc}") from exc
    try:
        parse_strategy(params.dd.eval.augment)
    except ConfigError as exc:
        raise ConfigError(f"dd.eval.augment: {exc}") from None
    for spec in targets(params):
        try:
            FunctionalModel(model_factory(params, spec, source.image_shape, num_classes)(params.seed))
        except QDistillError as exc:
            raise ConfigError(f"dd.models[{spec.label}]: {exc}") from exc


def save_distilled(distilled: Distilled, out_dir: Path) -> Path:
    """Write ``distilled.npz`` and ``history.json`` (atomically) into ``out_dir``."""
    atomic_write_json(out_dir / "history.json", distilled.history)
    return atomic_save_npz(out_dir / "distilled.npz", {
        "images": distilled.images, "labels": distilled.labels, "learning_rates": distilled.learning_rates,
        "best_step": np.asarray(distilled.best_step), "steps": np.asarray(distilled.steps),
        "known_init": np.asarray(-1 if distilled.known_init is None else distilled.known_init),
        "method": np.asarray(distilled.method), "factor": np.asarray(distilled.factor),
    })


def load_distilled(path: Path) -> Distilled:
    """Read a ``distilled.npz`` written by :func:`save_distilled`."""
    a = read_npz(path)
    history_file = Path(path).with_name("history.json")
    history = json.loads(history_file.read_text()) if history_file.is_file() else []
    known = int(a["known_init"])
    return Distilled(a["images"], a["labels"], a["learning_rates"], history, best_step=int(a["best_step"]),
                     steps=int(a["steps"]), known_init=None if known < 0 else known, method=str(a["method"]),
                     factor=int(a["factor"]) if "factor" in a else 1)


@stage("distill")
def distill_stage(
    params: Params, data_path: Path, label: str, out_dir: Path,
    on_step: Callable[[dict[str, float]], None] | None = None, work_dir: Path | None = None,
    checkpoint: Path | None = None,
) -> dict[str, Any]:
    """Distill the training split for model ``label`` with ``dd.method``; writes ``distilled.npz`` and ``history.json``.

    ``work_dir`` (default ``out_dir``, so DVC versions it with the set) is where the method may keep what it
    computes from the real data alone (:attr:`DistillTask.work_dir`); ``checkpoint`` where it keeps its state
    to resume from (:attr:`DistillTask.checkpoint`; default none).
    """
    data = load_prepared(Path(data_path))
    spec = model_spec(params, label)
    dd = params.dd
    task = DistillTask(model_factory(params, spec, data.image_shape, data.num_classes), data.x["train"],
                       data.y["train"], data.num_classes, dd.images_per_class, dd.image_init, dd.outer_steps,
                       dd.real_batch, params.seed, factor=dd.factor, work_dir=Path(work_dir or out_dir),
                       checkpoint=checkpoint)
    result = build_method(params).distill(task, on_step)
    path = save_distilled(result, Path(out_dir))
    return {"label": label, "method": result.method, "distilled": str(path), "final_loss": result.history[-1]["loss"],
            "best_step": result.best_step, "best_loss": result.history[result.best_step - 1]["loss"],
            "learning_rates": result.learning_rates.tolist()}


def targets(params: Params) -> tuple[DDModel, ...]:
    """The models the evaluation trains: every ``dd.models`` entry, then ``dd.eval.cross_models``."""
    return (*params.dd.models, *params.dd.eval.cross_models)


def sets_for(params: Params, target: str) -> list[str]:
    """Labels of the distilled sets model ``target`` is trained on: its own set, or every set when
    the cross-architecture table is asked for (``dd.eval.cross``, or ``target`` is a cross model)."""
    own = [m.label for m in params.dd.models]
    return own if params.dd.eval.cross or target not in own else [target]


def _evaluation(params: Params, data_path: Path, label: str) -> tuple[PreparedDataset, DDModel, ModelFactory, Trainer]:
    """The prepared data, model entry, model factory and protocol trainer for evaluating model ``label``."""
    data = load_prepared(Path(data_path))
    spec = next((m for m in targets(params) if m.label == label), None) or model_spec(params, label)
    factory = model_factory(params, spec, data.image_shape, data.num_classes)
    return data, spec, factory, Trainer(factory, Protocol.from_params(params.dd.eval))


def _hook(on_progress: Callable[[str, int, float], None] | None, what: str) -> Callable[[int, float], None] | None:
    return None if on_progress is None else (lambda k, acc: on_progress(what, k, acc))


def _references(params: Params, data: PreparedDataset, trainer: Trainer,
                on_progress: Callable[[str, int, float], None] | None) -> dict[str, Any]:
    ev, seed, per_class, factor = params.dd.eval, params.seed, params.dd.images_per_class, params.dd.factor
    formed = {} if factor == 1 else {  # the same storage, real images: what multi-formation gives without distilling
        "random_formed": evaluate_random_real(trainer, data, per_class, ev.real_draws, seed,
                                              _hook(on_progress, "random real, multi-formed"), factor)}
    return {"random_real": evaluate_random_real(trainer, data, per_class, ev.real_draws, seed,
                                                _hook(on_progress, "random real")),
            **formed, "full": evaluate_full(trainer, data, ev.full_inits, seed, _hook(on_progress, "full set"))}


def reference_stage(params: Params, data_path: Path, label: str,
                    on_progress: Callable[[str, int, float], None] | None = None) -> dict[str, Any]:
    """What every distilled set is compared with: model ``label`` trained under the protocol on random real
    subsets of the distilled set's size (``dd.eval.real_draws``) and on the full set (``dd.eval.full_inits``).

    It needs no distilled set, so a flow runs it beside the distillation; every training has its own
    seed, so the scores are those :func:`evaluate_stage` computes itself.
    """
    data, _, _, trainer = _evaluation(params, data_path, label)
    return _references(params, data, trainer, on_progress)


def _score_sets(params: Params, label: str, distilled: dict[str, Path], data: PreparedDataset, spec: DDModel,
                factory: ModelFactory, trainer: Trainer,
                on_progress: Callable[[str, int, float], None] | None) -> dict[str, Any]:
    ev, seed = params.dd.eval, params.seed
    sets: dict[str, Any] = {}
    for set_label, path in distilled.items():
        d = load_distilled(Path(path))
        if d.factor != params.dd.factor:  # its references and cost would be those of another storage
            raise ConfigError(f"{path}: distilled with dd.factor={d.factor}; evaluate it with -S dd.factor={d.factor} "
                              f"(now {params.dd.factor})")
        sets[set_label] = {"method": d.method, "init": "fixed" if d.known_init is not None else "random",
                           "distilled": evaluate_distilled(trainer, d, data, ev.inits, seed,
                                                           _hook(on_progress, f"{set_label} set")),
                           "known_init": evaluate_known_init(factory, d, data) if set_label == label else None}
    per_class = params.dd.images_per_class
    probe = factory(seed)
    return {
        "label": label, "model": spec.model, "options": spec.options, "dataset": params.data.name,
        "images_per_class": per_class, "factor": params.dd.factor, "protocol": trainer.protocol.describe(),
        "parameters": parameter_counts(probe),
        "sets": sets, **sets.get(label, {}),
        "quantum_cost": quantum_cost(probe, per_class * params.dd.factor**2 * data.num_classes, ev.epochs,
                                     len(data.y["train"]), ev.full_epochs, ev.shots),
    }


@stage("dd-evaluate")
def score_sets(params: Params, data_path: Path, label: str, distilled: dict[str, Path],
               on_progress: Callable[[str, int, float], None] | None = None) -> dict[str, Any]:
    """Model ``label`` trained from fresh initialisations on each distilled set under the protocol (and from its
    known init, where a set has one), with its size and quantum cost: :func:`evaluate_stage`'s metrics without
    the references, which a flow computes beside it (:func:`reference_stage`, joined by
    :func:`with_references`) so that neither waits for the other. In a flow this is the ``dd-evaluate``
    stage: its lifecycle hooks fire here, ``after_stage`` receiving these scores.

    Args:
        label: A :func:`targets` entry.
        distilled: ``distilled.npz`` path per set label (see :func:`sets_for`).
    """
    data, spec, factory, trainer = _evaluation(params, data_path, label)
    return _score_sets(params, label, distilled, data, spec, factory, trainer, on_progress)


def with_references(scores: dict[str, Any], references: dict[str, Any], out_dir: Path) -> dict[str, Any]:
    """:func:`score_sets`' scores with :func:`reference_stage`'s: the model's metrics, written to
    ``<out_dir>/metrics.json``."""
    metrics = {**scores, **references}
    atomic_write_json(Path(out_dir) / "metrics.json", metrics)
    return metrics


@stage("dd-evaluate")
def evaluate_stage(
    params: Params, data_path: Path, label: str, distilled: dict[str, Path], out_dir: Path,
    on_progress: Callable[[str, int, float], None] | None = None,
) -> dict[str, Any]:
    """Train model ``label`` from fresh initialisations on each distilled set, on random real subsets of the
    same size and on the full set, all under the one protocol; writes ``metrics.json``.

    Args:
        label: A :func:`targets` entry.
        distilled: ``distilled.npz`` path per set label (see :func:`sets_for`).
    """
    data, spec, factory, trainer = _evaluation(params, data_path, label)
    scores = _score_sets(params, label, distilled, data, spec, factory, trainer, on_progress)
    return with_references(scores, _references(params, data, trainer, on_progress), out_dir)
