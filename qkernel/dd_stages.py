"""Dataset-distillation stages on files, shared by the ``dd_pipeline`` flow and ``dvc.yaml``.

* :func:`distill_stage` — ``<out>/<label>/distilled.npz`` (images, labels, learned rates)
  and ``history.json`` (outer loss per step);
* :func:`evaluate_stage` — ``<out>/<label>/metrics.json``: distilled vs random real images
  vs the full training set, and the quantum cost of training on each;
* :func:`report_stage` — ``metrics.json``, plots and ``report.md`` over every model.

A flow run and ``dvc repro`` with the same ``params.yaml`` compute the same results.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import tensorflow as tf

from qkernel.config import DDModel, Params
from qkernel.data import PreparedDataset, load_prepared
from qkernel.dd import Distilled, ModelFactory, distill
from qkernel.dd_eval import evaluate_distilled, evaluate_real, quantum_cost
from qkernel.errors import ConfigError, QDistillError
from qkernel.io import atomic_save_npz, atomic_write_json, read_npz
from qkernel.registry import get_registry

__all__ = ["check_dd", "distill_stage", "evaluate_stage", "load_distilled", "model_factory", "model_spec"]


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


def check_dd(params: Params, image_shape: Sequence[int] = (28, 28), num_classes: int = 10) -> None:
    """Build every ``dd.models`` entry once, before any work: unknown models or options fail here.

    Raises:
        ConfigError: naming the model entry and what is wrong.
    """
    from qkernel.dd import balanced_labels, step_batches
    from qkernel.functional import FunctionalModel

    step_batches(balanced_labels(num_classes, params.dd.images_per_class), params.dd.steps)
    for spec in params.dd.models:
        try:
            FunctionalModel(model_factory(params, spec, image_shape, num_classes)(params.seed))
        except QDistillError as exc:
            raise ConfigError(f"dd.models[{spec.label}]: {exc}") from exc


def load_distilled(path: Path) -> Distilled:
    """Read a ``distilled.npz`` written by :func:`distill_stage`."""
    arrays = read_npz(path)
    history_file = Path(path).with_name("history.json")
    history = json.loads(history_file.read_text()) if history_file.is_file() else []
    best = int(arrays["best_step"]) if "best_step" in arrays else 0
    return Distilled(arrays["images"], arrays["labels"], arrays["learning_rates"], history, best_step=best)


def distill_stage(
    params: Params, data_path: Path, label: str, out_dir: Path,
    on_step: Callable[[dict[str, float]], None] | None = None,
) -> dict[str, Any]:
    """Distill the training split for model ``label``; writes ``distilled.npz`` and ``history.json``."""
    data = load_prepared(Path(data_path))
    spec = model_spec(params, label)
    factory = model_factory(params, spec, data.image_shape, data.num_classes)
    result = distill(factory, data.x["train"], data.y["train"], data.num_classes, params.dd, params.seed, on_step)
    out_dir = Path(out_dir)
    atomic_write_json(out_dir / "history.json", result.history)
    atomic_save_npz(out_dir / "distilled.npz", {"images": result.images, "labels": result.labels,
                                                "learning_rates": result.learning_rates,
                                                "best_step": np.asarray(result.best_step)})
    return {"label": label, "distilled": str(out_dir / "distilled.npz"), "final_loss": result.history[-1]["loss"],
            "best_step": result.best_step, "best_loss": result.history[result.best_step - 1]["loss"],
            "learning_rates": result.learning_rates.tolist()}


def _cost(params: Params, model: tf.keras.Model, data: PreparedDataset, full: dict[str, Any]) -> dict[str, Any] | None:
    dd = params.dd
    epochs = full["epochs_run"][0] if full.get("epochs_run") else params.dd.eval.epochs
    return quantum_cost(model, dd.images_per_class * data.num_classes, dd.epochs,
                        len(data.y["train"]), epochs, dd.eval.shots)


def evaluate_stage(
    params: Params, data_path: Path, label: str, distilled_path: Path, out_dir: Path,
    on_progress: Callable[[str, int, float], None] | None = None,
) -> dict[str, Any]:
    """Distilled vs random real vs full set for model ``label``; writes ``metrics.json``."""
    data = load_prepared(Path(data_path))
    spec = model_spec(params, label)
    factory = model_factory(params, spec, data.image_shape, data.num_classes)
    distilled = load_distilled(Path(distilled_path))
    ev = params.dd.eval

    def hook(what: str) -> Callable[[int, float], None] | None:
        return None if on_progress is None else (lambda k, acc: on_progress(what, k, acc))

    # dd.distill builds its (first) initialisation with the run's seed: the fixed init.
    fresh, known = evaluate_distilled(factory, distilled, data, ev.inits, params.seed, params.dd.steps,
                                      hook("distilled"), known_init=params.dd.init == "fixed")
    results = {
        "distilled": fresh,
        "random_real": evaluate_real(factory, data, params.dd.images_per_class, ev, ev.inits, params.seed,
                                     hook("random real")),
        "full": evaluate_real(factory, data, None, ev, ev.full_inits, params.seed, hook("full set")),
        "known_init": known,
    }
    probe = factory(params.seed)
    metrics = {
        "label": label, "model": spec.model, "options": spec.options, "dataset": params.data.name,
        "images_per_class": params.dd.images_per_class, "init": params.dd.init,
        "parameters": int(sum(int(np.prod(v.shape)) for v in probe.trainable_variables)),
        **results,
        "learning_rates": distilled.learning_rates.tolist(),
        "final_outer_loss": distilled.history[-1]["loss"] if distilled.history else None,
        "best_outer_step": distilled.best_step,
        "quantum_cost": _cost(params, probe, data, results["full"]),
    }
    atomic_write_json(Path(out_dir) / "metrics.json", metrics)
    return metrics
