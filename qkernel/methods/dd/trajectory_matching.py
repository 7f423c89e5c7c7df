"""Dataset distillation by matching training trajectories (Cazenavette et al., CVPR 2022: MTT), for
classical and quantum models.

*Experts* are trained on the real training split (plain SGD, augmented batches) and their
trainable weights kept after every epoch. Each outer step picks an expert and a start epoch
``t``, trains a student from the expert's weights ``θ*_t`` for ``syn_steps`` SGD steps on the
(augmented) synthetic set with a learned rate ``η``, and pulls the student's end point towards
the expert's weights ``M = expert_span`` epochs later::

    L = ‖θ̂_N − θ*_{t+M}‖² / ‖θ*_t − θ*_{t+M}‖²

The loss differentiates through the student's steps (second order; for quantum models through
the native kernel via :class:`qkernel.nn.functional.FunctionalModel`) to the images and ``η``.
The set is thus distilled to reproduce, in a few steps, what long training on real images
does — along trajectories whose weights include the circuit's angles and observables. Experts
start from fresh initialisations of their own (seeds apart from the evaluation's). They are kept
in ``experts-<key>.npz`` in the task's ``work_dir`` (DVC: beside the distilled set, versioned with
it; the flow: per dataset and model), keyed by everything that shapes them, and reused when the
same key comes again — another step count or image rate trains no new experts.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Literal

import numpy as np
import tensorflow as tf

from qkernel.data.prepare import array_hash
from qkernel.errors import ConfigError
from qkernel.io import atomic_save_npz, read_npz
from qkernel.methods.dd.augment import augment, parse_strategy
from qkernel.methods.dd.resume import Checkpoint
from qkernel.methods.dd.synthetic import (
    Distilled, DistillTask, ModelFactory, initial_images, initial_state, load_state, record_step,
)
from qkernel.methods.dd.unrolled import cross_entropy, inner_train
from qkernel.nn.functional import FunctionalModel
from qkernel.schema import PositiveFloat, PositiveInt, Strict

__all__ = [
    "METHOD", "TrajectoryMatchingOptions", "check_options", "distill", "expert_trajectories", "train_experts",
]

#: The method's name (``dd.method``).
METHOD = "trajectory-matching"

#: Expert initialisations use seeds from here on (away from the distillation and evaluation seeds).
EXPERT_SEED_OFFSET = 200_000


class TrajectoryMatchingOptions(Strict):
    """Options of trajectory matching (``dd.methods.trajectory-matching``).

    Attributes:
        experts: Expert trajectories trained on the real training split.
        expert_epochs: Epochs per expert (its weights kept after each).
        expert_lr: The experts' SGD rate (no momentum).
        max_start_epoch: A matched segment starts at an expert epoch below this.
        expert_span: Expert epochs a segment spans (``M``).
        syn_steps: Student SGD steps on the synthetic set per segment (``N``); each step trains
            on ``batch_syn`` images (every image when the set is smaller).
        batch_syn: Synthetic images per student step.
        lr: Learning rate of the synthetic images.
        optimizer: ``sgd`` (momentum 0.5, as published) or ``adam`` for the images.
        lr_init: The student's learned rate starts here.
        lr_lr: SGD rate (momentum 0.5) of the logarithm of the student's learned rate.
        augment: Augmentation (comma-separated DSA transforms, or ``none``), one draw per image.
    """

    experts: PositiveInt
    expert_epochs: PositiveInt
    expert_lr: PositiveFloat
    max_start_epoch: PositiveInt
    expert_span: PositiveInt
    syn_steps: PositiveInt
    batch_syn: PositiveInt
    lr: PositiveFloat
    optimizer: Literal["sgd", "adam"]
    lr_init: PositiveFloat
    lr_lr: PositiveFloat
    augment: str


def check_options(options: TrajectoryMatchingOptions) -> None:
    """Raise :class:`ConfigError` for an unknown augmentation or a segment longer than the experts' training."""
    parse_strategy(options.augment)
    if options.expert_span > options.expert_epochs:
        raise ConfigError(f"dd.methods.{METHOD}.expert_span ({options.expert_span}) must not exceed "
                          f"expert_epochs ({options.expert_epochs}): a segment ends on a kept expert epoch")


def _flat(variables: list[tf.Variable]) -> np.ndarray:
    return np.concatenate([v.numpy().ravel() for v in variables] or [np.zeros(0)]).astype(np.float32)


def _unflat(flat: tf.Tensor | np.ndarray, shapes: list[tuple[int, ...]]) -> list[tf.Tensor]:
    """The tensors of shapes ``shapes`` that :func:`_flat` laid end to end in ``flat``."""
    if not shapes:
        return []
    return [tf.reshape(p, s) for p, s in zip(tf.split(flat, [int(np.prod(s)) for s in shapes]), shapes)]


def train_experts(factory: ModelFactory, x: np.ndarray, y: np.ndarray, options: TrajectoryMatchingOptions,
                  seed: int, batch_size: int = 256) -> tuple[np.ndarray, np.ndarray]:
    """Expert trajectories (plain SGD on augmented batches of the real split).

    Returns:
        ``(trajectories, frozen)``: ``(experts, expert_epochs + 1, n_weights)`` trainable weights
        before training and after every epoch, each checkpoint one flat vector in
        ``FunctionalModel`` order; and ``(experts, n_frozen)`` each expert's non-trainable weights
        (a fixed Hermitian readout is part of its initialisation; empty when there are none).
    """
    strategy = parse_strategy(options.augment)
    model = factory(seed + EXPERT_SEED_OFFSET)
    weights = model.trainable_variables

    @tf.function
    def step(xb: tf.Tensor, yb: tf.Tensor, aug_seed: tf.Tensor) -> None:
        with tf.GradientTape() as tape:
            loss = cross_entropy(yb, model(augment(xb, strategy, aug_seed), training=True))
        for w, g in zip(weights, tape.gradient(loss, weights)):
            w.assign_sub(options.expert_lr * g)

    rng = np.random.default_rng([seed, 5])
    trajectories, frozen = [], []
    for e in range(options.experts):
        load_state(model, initial_state(factory, seed + EXPERT_SEED_OFFSET + e))
        frozen.append(_flat(model.non_trainable_variables))
        checkpoints = [_flat(weights)]
        for epoch in range(options.expert_epochs):
            order = rng.permutation(len(x))
            for b in range(0, len(x), batch_size):
                idx = order[b:b + batch_size]
                step(tf.convert_to_tensor(x[idx]), tf.convert_to_tensor(y[idx].astype(np.int32)),
                     tf.constant([seed + e, epoch * 100_000 + b], tf.int32))
            checkpoints.append(_flat(weights))
        trajectories.append(np.stack(checkpoints))
    return np.stack(trajectories), np.stack(frozen)


def expert_trajectories(task: DistillTask, options: TrajectoryMatchingOptions,
                        model: tf.keras.Model) -> tuple[np.ndarray, np.ndarray]:
    """:func:`train_experts`' ``(trajectories, frozen)`` for this task and these options: the kept ones,
    else freshly trained ones (then kept in ``task.work_dir`` when there is one)."""
    fields = {k: getattr(options, k) for k in ("experts", "expert_epochs", "expert_lr", "augment")}
    key = json.dumps({**fields, "seed": task.seed, "model": model.name,
                      "weights": [list(v.shape) for v in model.weights],
                      "data": [array_hash(task.x_train), array_hash(task.y_train)]}, sort_keys=True)
    path = (None if task.work_dir is None else
            Path(task.work_dir) / f"experts-{hashlib.sha256(key.encode()).hexdigest()[:12]}.npz")
    if path is not None and path.is_file():
        kept = read_npz(path)
        return kept["trajectories"], kept["frozen"]
    trajectories, frozen = train_experts(task.factory, task.x_train, task.y_train, options, task.seed)
    if path is not None:
        atomic_save_npz(path, {"trajectories": trajectories, "frozen": frozen})
    return trajectories, frozen


def distill(
    task: DistillTask, options: TrajectoryMatchingOptions, on_step: Callable[[dict[str, float]], None] | None = None,
) -> Distilled:
    """Train expert trajectories on ``task``'s training split, then distil a set whose short training matches them.

    Args:
        task: Model factory, real training split, images per class, outer steps and seed
            (``real_batch`` is not used: the experts carry the real data).
        options: Experts, segment lengths, learning rates, augmentation.
        on_step: Called with each outer step's record (``step``, ``loss``: the normalised distance,
            ``mean_lr``: the student's learned rate).

    Returns:
        The synthetic images and their labels (the learned rate is reported in the history only:
        the evaluation protocol trains every set with its own schedule).
    """
    check_options(options)
    strategy = parse_strategy(options.augment)
    c, seed = task.num_classes, task.seed
    last_start = min(options.max_start_epoch, options.expert_epochs - options.expert_span + 1)
    images0, labels0 = initial_images(task.x_train, task.y_train, c, task.images_per_class, task.image_init, seed)
    model = task.factory(seed)
    experts, frozen = expert_trajectories(task, options, model)
    fm = FunctionalModel(model)
    shapes = [tuple(s) for s in fm.shapes]
    fixed = model.non_trainable_variables
    fixed_shapes = [tuple(v.shape) for v in fixed]
    n_images = len(labels0)
    batch = min(options.batch_syn, n_images)
    batches = np.arange(options.syn_steps * batch).reshape(options.syn_steps, batch) % n_images
    images = tf.Variable(images0, name="synthetic_images")
    labels = tf.constant(labels0, tf.int32)
    log_lr = tf.Variable(np.log(options.lr_init), dtype=tf.float32, name="log_student_lr")
    image_opt = (tf.keras.optimizers.SGD(options.lr, momentum=0.5) if options.optimizer == "sgd"
                 else tf.keras.optimizers.Adam(options.lr))
    lr_opt = tf.keras.optimizers.SGD(options.lr_lr, momentum=0.5)

    @tf.function
    def step(start: tf.Tensor, target: tf.Tensor, order: tf.Tensor, aug_seed: tf.Tensor) -> tf.Tensor:
        with tf.GradientTape() as tape:
            x = tf.gather(augment(tf.convert_to_tensor(images), strategy, aug_seed), order)
            rates = tf.fill([options.syn_steps], tf.exp(log_lr))
            end = inner_train(fm, _unflat(start, shapes), x, tf.gather(labels, order), rates, batches)
            moved = tf.concat([tf.reshape(w, [-1]) for w in end], 0)
            loss = tf.reduce_sum(tf.square(moved - target)) / tf.reduce_sum(tf.square(start - target))
        g_images, g_lr = tape.gradient(loss, [images, log_lr])
        image_opt.apply_gradients([(g_images, images)])
        lr_opt.apply_gradients([(g_lr, log_lr)])
        return loss

    rng = np.random.default_rng([seed, 2])
    history: list[dict[str, float]] = []
    checkpoint = Checkpoint(task.checkpoint, task.checkpoint_every, METHOD, [images, log_lr],
                            [(image_opt, [images]), (lr_opt, [log_lr])], rng, history)
    for k in range(checkpoint.restore(task.outer_steps) + 1, task.outer_steps + 1):
        e = int(rng.integers(len(experts)))
        for v, value in zip(fixed, _unflat(frozen[e], fixed_shapes)):
            v.assign(value)  # the student shares the expert's fixed weights
        trajectory, t = experts[e], int(rng.integers(last_start))
        loss = float(step(tf.constant(trajectory[t]), tf.constant(trajectory[t + options.expert_span]),
                          tf.constant(rng.permutation(n_images), tf.int32), tf.constant([seed, k], tf.int32)))
        record_step(history, k, loss, METHOD, "lr", on_step, mean_lr=float(tf.exp(log_lr)))
        checkpoint.after(k, task.outer_steps)
    return Distilled(images.numpy(), labels0, np.zeros(0, np.float32), history, best_step=task.outer_steps,
                     steps=1, known_init=None, method=METHOD)
