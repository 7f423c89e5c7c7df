"""Dataset distillation by performance matching (Wang et al. 2018), for classical and quantum models.

A small synthetic set — ``images_per_class`` learnable images per class with fixed,
balanced labels — and one learnable learning rate per inner step are optimised so that a
model trained on them for ``steps × epochs`` plain gradient steps does well on real data:

* inner loop (unrolled on the tape): ``w_{t+1} = w_t − softplus(ρ_t)·∇_w CE(f(w_t, X̃_t), ỹ_t)``,
  where each of the ``steps`` steps of an epoch has its own class-balanced slice ``X̃_t`` of
  the synthetic set (as published: 10 images per class, 10 steps → one image per class per
  step; ``steps = 1`` trains every step on all images), ``ρ_t`` initialised so that
  ``softplus(ρ_t)`` is ``lr_init``;
* outer loss: ``CE(f(w_T, X), y)`` on a random batch of real training images;
* outer update: Adam on ``X̃`` and ``ρ`` with the *second-order* gradient through all the
  unrolled steps (``∂w_T/∂X̃`` involves ``∂²L/∂w∂X̃``).

Rates: one per inner step (``dd.rates: step``, as published), or one per inner step and
weight tensor (``layer``): a quantum LeNet's head and trunk want rates an order of magnitude
apart under plain SGD, which a single rate per step cannot give them.

Initial weights ``w_0``: ``fixed`` mode uses one known initialisation throughout;
``random`` mode draws a fresh one each outer step from a pool of ``init_pool``
initialisations (each a freshly built model), so the images must work from any start.

Models are any registered model (``qdistill plugins``): they are called through
:class:`qkernel.functional.FunctionalModel`, so quantum layers differentiate through
qkernel's native kernel to second order.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import tensorflow as tf

import qkernel
from qkernel.config import DDParams
from qkernel.errors import ConfigError
from qkernel.functional import FunctionalModel

__all__ = [
    "Distilled",
    "ModelFactory",
    "balanced_labels",
    "distill",
    "initial_images",
    "initial_state",
    "load_state",
    "inner_train",
    "make_outer_step",
    "random_real_subset",
    "step_batches",
    "train_on",
]

qkernel.configure_tensorflow()  # best effort when used as a library (the CLI has already done it)

#: ``factory(seed) -> built model``: a fresh initialisation of the model being distilled for.
ModelFactory = Callable[[int], tf.keras.Model]


@dataclass
class Distilled:
    """A distilled dataset.

    Attributes:
        images: ``(N, *image_shape)`` float32 synthetic images, class-major.
        labels: ``(N,)`` int labels.
        learning_rates: Learned inner learning rates (after softplus): ``(steps × epochs,)``, or
            ``(steps × epochs, n_weight_tensors)`` with one rate per weight tensor (``dd.rates: layer``).
        history: One record per outer step (``step``, ``loss``, ``mean_lr``).
        best_step: The outer step whose images and rates these are: the lowest outer loss
            (the loss of step ``k`` is measured before its update). Unrolled meta-training
            has occasional loss spikes; like early stopping, the best state is kept.
    """

    images: np.ndarray
    labels: np.ndarray
    learning_rates: np.ndarray
    history: list[dict[str, float]] = field(default_factory=list)
    best_step: int = 0


def _softplus_inverse(y: float) -> float:
    return float(np.log(np.expm1(y)))


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


def initial_images(
    x_train: np.ndarray, y_train: np.ndarray, num_classes: int, per_class: int, mode: str, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Starting synthetic set: ``noise`` (standard normal, as Wang et al.) or ``real`` (random real images).

    Raises:
        ConfigError: if a class has fewer than ``per_class`` real images in ``real`` mode.
    """
    rng = np.random.default_rng([seed, 1])
    labels = balanced_labels(num_classes, per_class)
    if mode == "noise":
        return rng.standard_normal((len(labels), *x_train.shape[1:])).astype(np.float32), labels
    return random_real_subset(x_train, y_train, num_classes, per_class, rng), labels


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


def _cross_entropy(labels: tf.Tensor, logits: tf.Tensor) -> tf.Tensor:
    return tf.reduce_mean(tf.keras.losses.sparse_categorical_crossentropy(labels, logits, from_logits=True))


def step_batches(labels: np.ndarray, steps: int) -> np.ndarray:
    """Indices ``(steps, N / steps)`` of the synthetic images each inner step trains on.

    As in Wang et al., step ``t`` of every epoch uses its own class-balanced slice: the
    ``j``-th image of each class belongs to step ``j mod steps``.

    Raises:
        ConfigError: if the images per class are not a multiple of ``steps``.
    """
    classes = np.unique(labels)
    per_class = np.array([np.sum(labels == c) for c in classes])
    if np.any(per_class % steps):
        raise ConfigError(
            f"dd.images_per_class ({per_class.max()}) must be a multiple of dd.steps ({steps}): every inner step "
            "trains on its own class-balanced slice of the synthetic images"
        )
    rank = np.zeros(len(labels), dtype=np.int64)
    for c in classes:
        idx = np.flatnonzero(labels == c)
        rank[idx] = np.arange(len(idx))
    return np.stack([np.flatnonzero(rank % steps == t) for t in range(steps)])


def inner_train(
    fm: FunctionalModel, weights: Sequence[tf.Tensor], images: tf.Tensor, labels: tf.Tensor, rates: tf.Tensor,
    batches: np.ndarray | None = None,
) -> list[tf.Tensor]:
    """``len(rates)`` gradient steps on the synthetic set; differentiable in every input.

    Step ``t`` trains on ``images[batches[t % len(batches)]]`` (default: every image) with
    rate ``rates[t]``: a scalar, or — for ``rates`` of shape ``(T, n_weights)`` — one rate per
    weight tensor.
    Inside an outer ``GradientTape`` the result carries second-order gradients to ``images``
    and ``rates`` (each inner gradient is itself recorded). In a ``tf.function`` the steps
    are one ``tf.while_loop`` (its body traced once, however many steps), eagerly a Python loop.
    """
    if batches is None:
        batches = np.arange(int(images.shape[0]))[None, :]
    index = tf.constant(batches, tf.int64)
    n_batches = int(batches.shape[0])

    def step(t: tf.Tensor, ws: list[tf.Tensor]) -> list[tf.Tensor]:
        pick = tf.gather(index, tf.math.floormod(t, n_batches))
        x, y = tf.gather(images, pick), tf.gather(labels, pick)
        with tf.GradientTape() as tape:
            tape.watch(ws)
            loss = _cross_entropy(y, fm(ws, x, training=True))
        grads = tape.gradient(loss, ws)
        rate = tf.gather(rates, t)  # a scalar, or one rate per weight tensor
        per_tensor = [rate[i] for i in range(len(ws))] if rates.shape.rank == 2 else [rate] * len(ws)
        return [w - r * g for w, r, g in zip(ws, per_tensor, grads)]

    weights = [tf.convert_to_tensor(w) for w in weights]
    n = int(rates.shape[0])
    if tf.executing_eagerly():
        for t in range(n):
            weights = step(tf.constant(t), weights)
        return weights
    _, weights = tf.while_loop(
        lambda t, ws: t < n,
        lambda t, ws: (t + 1, step(t, ws)),
        (tf.constant(0), weights),
        shape_invariants=(tf.TensorShape([]), [w.shape for w in weights]),
    )
    return list(weights)


def make_outer_step(
    fm: FunctionalModel,
    images: tf.Variable,
    labels: tf.Tensor,
    raw_rates: tf.Variable,
    optimizer: tf.keras.optimizers.Optimizer | None,
    batches: np.ndarray | None = None,
) -> Callable[..., tf.Tensor]:
    """One outer step as a compiled function ``step(w0, x_real, y_real) -> loss``.

    With an ``optimizer`` the step applies the update to ``images`` and ``raw_rates``;
    without one it only returns the loss and the gradients (``step.gradients``), e.g. for tests.
    """

    @tf.function
    def gradients(w0: list[tf.Tensor], x_real: tf.Tensor, y_real: tf.Tensor) -> tuple[tf.Tensor, list[tf.Tensor]]:
        with tf.GradientTape() as tape:
            final = inner_train(fm, w0, images, labels, tf.nn.softplus(raw_rates), batches)
            loss = _cross_entropy(y_real, fm(final, x_real))
        grads = tape.gradient(loss, [images, raw_rates])
        return loss, [tf.convert_to_tensor(g) for g in grads]  # dense: image gradients arrive as slices

    @tf.function
    def step(w0: list[tf.Tensor], x_real: tf.Tensor, y_real: tf.Tensor) -> tf.Tensor:
        loss, grads = gradients(w0, x_real, y_real)
        optimizer.apply_gradients(zip(grads, [images, raw_rates]))
        return loss

    if optimizer is None:
        return gradients
    step.gradients = gradients
    return step


def _init_pool(factory: ModelFactory, size: int, seed: int) -> tuple[FunctionalModel, list[list[tf.Tensor]]]:
    """The model called during distillation and ``size`` initial states (seeds ``seed … seed+size−1``)."""
    return FunctionalModel(factory(seed)), [initial_state(factory, seed + k) for k in range(size)]


def distill(
    factory: ModelFactory,
    x_train: np.ndarray,
    y_train: np.ndarray,
    num_classes: int,
    params: DDParams,
    seed: int,
    on_step: Callable[[dict[str, float]], None] | None = None,
) -> Distilled:
    """Distill ``(x_train, y_train)`` into ``params.images_per_class`` images per class.

    Args:
        factory: Builds a freshly initialised model from a seed.
        x_train, y_train: The real training split (the outer loss samples batches from it).
        num_classes: Number of classes.
        params: The ``dd`` parameters (steps, epochs, rates, outer optimiser, init mode …).
        seed: Seeds image initialisation, batch sampling and the initialisation pool.
        on_step: Called with each outer step's record (progress, logging).

    Returns:
        The distilled images, their labels and the learned rates, with the loss history.
    """
    batches = step_batches(balanced_labels(num_classes, params.images_per_class), params.steps)  # fails first
    images0, labels0 = initial_images(x_train, y_train, num_classes, params.images_per_class, params.image_init, seed)
    pool_size = 1 if params.init == "fixed" else params.init_pool
    fm, pool = _init_pool(factory, pool_size, seed)
    n_rates = params.steps * params.epochs
    images = tf.Variable(images0, name="synthetic_images")
    shape = (n_rates,) if params.rates == "step" else (n_rates, len(fm.variables))
    raw_rates = tf.Variable(np.full(shape, _softplus_inverse(params.lr_init), np.float32), name="raw_rates")
    labels = tf.constant(labels0)
    optimizer = tf.keras.optimizers.Adam(params.outer_lr, beta_1=params.betas[0], beta_2=params.betas[1])
    step = make_outer_step(fm, images, labels, raw_rates, optimizer, batches)
    rng = np.random.default_rng([seed, 2])
    batch = min(params.real_batch, len(x_train))
    history: list[dict[str, float]] = []
    best = (np.inf, images0, tf.nn.softplus(raw_rates).numpy(), 0)
    for k in range(1, params.outer_steps + 1):
        load_state(fm.model, pool[int(rng.integers(len(pool)))])
        w0 = fm.current()
        idx = rng.choice(len(x_train), batch, replace=False)
        before = (images.numpy(), tf.nn.softplus(raw_rates).numpy())  # the loss below is of these
        try:
            loss = float(step(w0, tf.convert_to_tensor(x_train[idx]), tf.convert_to_tensor(y_train[idx])))
        except tf.errors.InvalidArgumentError as exc:  # e.g. an encoder's finiteness check in the graph
            loss, cause = float("nan"), exc.message.splitlines()[0]
        else:
            cause = f"loss {loss}"
        if not np.isfinite(loss):
            raise ConfigError(
                f"dataset distillation diverged at outer step {k} ({cause}); lower dd.lr_init or dd.outer_lr"
            )
        if loss < best[0]:
            best = (loss, *before, k)
        record = {"step": k, "loss": loss, "mean_lr": float(np.mean(before[1]))}
        history.append(record)
        if on_step is not None:
            on_step(record)
    return Distilled(best[1], labels0, best[2], history, best_step=best[3])


def train_on(
    fm: FunctionalModel, weights: Sequence[tf.Tensor], images: np.ndarray, labels: np.ndarray, rates: np.ndarray,
    steps: int,
) -> list[tf.Tensor]:
    """Train from ``weights`` on a distilled set with its learned rates, ``steps`` slices per epoch."""
    batches = step_batches(labels, steps)
    cache = fm.__dict__.setdefault("_qdistill_inner", {})  # one traced loop per slicing
    key = (batches.shape, batches.tobytes())
    run = cache.get(key)
    if run is None:
        run = cache[key] = tf.function(lambda w, x, y, r: inner_train(fm, w, x, y, r, batches))
    return run(list(weights), tf.convert_to_tensor(images), tf.convert_to_tensor(labels), tf.convert_to_tensor(rates))


def describe(values: Any) -> str:
    """``mean ± std`` in percent of accuracies given as fractions."""
    arr = np.asarray(values, dtype=np.float64) * 100
    return f"{arr.mean():.2f} ± {arr.std():.2f} %"
