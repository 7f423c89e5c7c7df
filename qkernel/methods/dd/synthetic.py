"""Synthetic training sets: what every dataset-distillation method starts from and returns.

* :class:`DistillTask` — what a method is asked to distil (a model factory, the real training
  split, images per class, steps, seed);
* :class:`Distilled` — what it returns: images, labels and how to train on them;
* helpers shared by the methods and the evaluation: balanced labels, starting images,
  random real subsets, and model initialisations as lists of tensors;
* multi-formation (Kim et al., ICML 2022, "IDC"): a stored image of a ``factor`` > 1 set holds
  ``factor²`` downsampled images in a ``factor × factor`` grid of tiles (:func:`encode`); training
  decodes each tile back to full size (:func:`decode`, bilinear), so the same storage — the same
  number of stored images per class — trains on ``factor²`` times as many images.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import tensorflow as tf

from qkernel.errors import ConfigError

__all__ = [
    "Distilled",
    "DistillTask",
    "ModelFactory",
    "balanced_labels",
    "decode",
    "decoded_labels",
    "encode",
    "init_pool",
    "initial_images",
    "initial_state",
    "load_state",
    "random_real_subset",
    "record_step",
    "sample_by_class",
]

#: ``factory(seed) -> built model``: a fresh initialisation of the model being distilled for.
ModelFactory = Callable[[int], tf.keras.Model]


@dataclass(frozen=True)
class DistillTask:
    """What a dataset-distillation method is asked to do (the settings every method shares).

    Attributes:
        factory: Builds a freshly initialised model from a seed.
        x_train, y_train: The real training split.
        num_classes: Number of classes.
        images_per_class: Synthetic images per class (balanced, fixed labels).
        image_init: ``noise`` (standard normal) or ``real`` (random real images).
        outer_steps: Optimisation steps on the synthetic set.
        real_batch: Real images per outer step.
        seed: Seeds the starting images, batch sampling and initialisations.
        factor: Multi-formation factor: each stored image holds ``factor²`` downsampled images
            (:func:`decode`); 1 stores one image per synthetic image.
        work_dir: Where a method may keep what it computes from the real data alone, keyed by
            its own inputs, to reuse when they come again (trajectory matching's expert
            trajectories): in DVC the set's output directory (versioned with the set), in the flow
            one directory per dataset and model. ``None``: keep nothing.
        checkpoint: Where a method that supports it (distribution, gradient and trajectory matching) keeps
            its state every ``checkpoint_every`` steps and after the last, and resumes from
            (:class:`qkernel.methods.dd.resume.Checkpoint`): a file keyed by everything that shapes the set
            except ``outer_steps``. ``None``: no checkpoints.
        checkpoint_every: Outer steps between checkpoints.
    """

    factory: ModelFactory
    x_train: np.ndarray
    y_train: np.ndarray
    num_classes: int
    images_per_class: int
    image_init: str
    outer_steps: int
    real_batch: int
    seed: int
    factor: int = 1
    work_dir: Path | None = None
    checkpoint: Path | None = None
    checkpoint_every: int = 50


@dataclass
class Distilled:
    """A distilled dataset.

    Attributes:
        images: ``(N, *image_shape)`` float32 synthetic images, class-major.
        labels: ``(N,)`` int labels.
        learning_rates: Learned inner learning rates (after softplus): ``(steps × epochs,)``, or
            ``(steps × epochs, n_weight_tensors)`` with one rate per weight tensor (performance matching's ``rates: layer``).
        history: One record per outer step (``step``, ``loss``, ``mean_lr``).
        best_step: The outer step whose images and rates these are: the lowest outer loss
            (the loss of step ``k`` is measured before its update). Unrolled meta-training
            has occasional loss spikes; like early stopping, the best state is kept.
        steps: Class-balanced slices the images are trained in per epoch (one learned rate
            per slice and epoch; see :func:`qkernel.methods.dd.unrolled.step_batches`).
        known_init: Seed of the one initialisation the set was distilled for (fixed-init
            mode), or ``None`` when it was distilled for fresh initialisations.
        method: Name of the method that distilled it.
        factor: Multi-formation factor of :attr:`images` (:func:`decode`; 1: one image each).
    """

    images: np.ndarray
    labels: np.ndarray
    learning_rates: np.ndarray
    history: list[dict[str, float]] = field(default_factory=list)
    best_step: int = 0
    steps: int = 1
    known_init: int | None = None
    method: str = ""
    factor: int = 1

    @property
    def epochs(self) -> int:
        """Passes over the synthetic set when training on it with the learned rates."""
        return len(self.learning_rates) // self.steps

    def training_set(self) -> tuple[np.ndarray, np.ndarray]:
        """The images a model trains on and their labels: the stored images, decoded when multi-formed
        (``factor²`` full-size images per stored image, each with its stored image's label)."""
        if self.factor == 1:
            return self.images, self.labels
        return decode(self.images, self.factor).numpy(), decoded_labels(self.labels, self.factor)


def balanced_labels(num_classes: int, per_class: int) -> np.ndarray:
    """``[0]*per_class + [1]*per_class + …``: the class-major labels of a synthetic or random-real set."""
    return np.repeat(np.arange(num_classes), per_class).astype(np.int64)


def initial_state(factory: ModelFactory, seed: int) -> list[tf.Tensor]:
    """Every weight of a freshly built ``factory(seed)`` model (``model.weights`` order), as tensors.

    Non-trainable weights belong to an initialisation too: quantum LeNet's fixed Hermitian
    readout is drawn with the seed, like its trainable weights.
    """
    return [tf.identity(v) for v in factory(seed).weights]


def load_state(model: tf.keras.Model, state: Sequence[tf.Tensor]) -> None:
    """Write an :func:`initial_state` into ``model``'s variables, non-trainable ones included.

    Traced steps read variables by reference, so one model (one trace) serves every
    initialisation.
    """
    for variable, value in zip(model.weights, state, strict=True):
        variable.assign(value)


def init_pool(factory: ModelFactory, size: int, seed: int) -> tuple[tf.keras.Model, list[list[tf.Tensor]]]:
    """One model to call and ``size`` fresh initialisations (seeds ``seed … seed+size−1``) to load into it.

    Building a quantum model costs ~0.25 s; a method that wants a fresh network every step
    draws from this pool and :func:`load_state` s it instead (one model, one trace).
    """
    return factory(seed), [initial_state(factory, seed + k) for k in range(size)]


def initial_images(
    x_train: np.ndarray, y_train: np.ndarray, num_classes: int, per_class: int, mode: str, seed: int,
    factor: int = 1,
) -> tuple[np.ndarray, np.ndarray]:
    """Starting synthetic set: ``noise`` (standard normal, as Wang et al.) or ``real`` (random real images;
    multi-formed, ``factor²`` different real images tiled into each stored image, as IDC starts).

    Raises:
        ConfigError: if a class has fewer than ``per_class × factor²`` real images in ``real`` mode.
    """
    rng = np.random.default_rng([seed, 1])
    labels = balanced_labels(num_classes, per_class)
    if mode == "noise":
        return rng.standard_normal((len(labels), *x_train.shape[1:])).astype(np.float32), labels
    return encode(random_real_subset(x_train, y_train, num_classes, per_class * factor**2, rng), factor), labels


def _tile_sizes(size: int, factor: int) -> list[int]:
    """Sizes of ``factor`` tiles covering ``size`` pixels, the larger ones first (28 in 3: 10, 9, 9)."""
    return [size // factor + (1 if k < size % factor else 0) for k in range(factor)]


def decode(images: np.ndarray | tf.Tensor, factor: int) -> tf.Tensor:
    """The images a multi-formed set trains on: each ``(H, W, C)`` stored image cut into ``factor × factor``
    tiles (row-major), each resized back to ``(H, W)`` bilinearly — ``(N·factor², H, W, C)``, the tiles
    of one stored image next to each other. Differentiable, so a method can optimise the stored images.
    """
    images = tf.convert_to_tensor(images)
    if factor == 1:
        return images
    shape = images.shape[1:]  # (H, W) or (H, W, C)
    images = tf.reshape(images, (-1, shape[0], shape[1], shape[2] if len(shape) > 2 else 1))
    tiles = [tile for band in tf.split(images, _tile_sizes(shape[0], factor), axis=1)
             for tile in tf.split(band, _tile_sizes(shape[1], factor), axis=2)]
    grown = tf.stack([tf.image.resize(t, shape[:2], method="bilinear") for t in tiles], axis=1)
    return tf.reshape(grown, (-1, *shape))


def decoded_labels(labels: np.ndarray, factor: int) -> np.ndarray:
    """The labels of :func:`decode`'s images: each stored image's label for each of its ``factor²`` tiles."""
    return np.repeat(labels, factor**2)


def encode(images: np.ndarray, factor: int) -> np.ndarray:
    """Multi-formed storage of ``images`` (``N·factor²`` of them, every ``factor²`` in a row sharing a stored
    image): each shrunk (area-averaged) to its tile and the tiles laid out row-major, as :func:`decode`
    reads them. ``decode(encode(x))`` is ``x`` at ``1/factor`` of its resolution."""
    if factor == 1:
        return images
    shape = images.shape[1:]  # (H, W) or (H, W, C)
    groups = images.reshape(-1, factor**2, shape[0], shape[1], shape[2] if len(shape) > 2 else 1)
    rows = []
    for i, h in enumerate(_tile_sizes(shape[0], factor)):
        row = [tf.image.resize(groups[:, i * factor + j], (h, w), method="area")
               for j, w in enumerate(_tile_sizes(shape[1], factor))]
        rows.append(tf.concat(row, axis=2))
    return tf.reshape(tf.concat(rows, axis=1), (-1, *shape)).numpy().astype(np.float32)


def random_real_subset(
    x: np.ndarray, y: np.ndarray, num_classes: int, per_class: int, rng: np.random.Generator
) -> np.ndarray:
    """``per_class`` random images of each class, class-major (the "random real images" baseline)."""
    picks = []
    for c in range(num_classes):
        idx = np.flatnonzero(y == c)
        if len(idx) < per_class:
            raise ConfigError(f"class {c} has {len(idx)} training images; {per_class} per class were requested")
        picks.append(rng.choice(idx, per_class, replace=False))
    return x[np.concatenate(picks)].astype(np.float32)


def sample_by_class(y: np.ndarray, num_classes: int, per_class: int, rng: np.random.Generator) -> np.ndarray:
    """Indices of ``per_class`` random images of each class, class-major (a real batch for matching)."""
    return np.concatenate([rng.choice(ix, per_class, replace=len(ix) < per_class)
                           for ix in (np.flatnonzero(y == k) for k in range(num_classes))])


def record_step(history: list[dict[str, float]], step: int, loss: float, method: str, knob: str,
                on_step: Callable[[dict[str, float]], None] | None, **extra: float) -> None:
    """Append ``{"step", "loss", **extra}`` to ``history`` and report it (``extra``: what else the method
    tracks per step, e.g. ``mean_lr``).

    Raises:
        ConfigError: if the loss is not finite, naming the method option to lower (``knob``).
    """
    if not np.isfinite(loss):
        raise ConfigError(f"{method} diverged at step {step} (loss {loss}); lower dd.methods.{method}.{knob}")
    history.append({"step": step, "loss": loss, **extra})
    if on_step is not None:
        on_step(history[-1])
