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

Rates: one per inner step (``rates: step``, as published), or one per inner step and
weight tensor (``layer``): a quantum LeNet's head and trunk want rates an order of magnitude
apart under plain SGD, which a single rate per step cannot give them.

Initial weights ``w_0``: ``fixed`` mode uses one known initialisation throughout;
``random`` mode draws a fresh one each outer step from a pool of ``init_pool``
initialisations (each a freshly built model), so the images must work from any start.

Models are any registered model (``qdistill plugins``): they are called through
:class:`qkernel.nn.functional.FunctionalModel`, so quantum layers differentiate through
qkernel's native kernel to second order.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Literal

import numpy as np
import tensorflow as tf
from pydantic import Field

import qkernel
from qkernel.errors import ConfigError, graph_error_cause
from qkernel.methods.dd.synthetic import Distilled, DistillTask, balanced_labels, init_pool, initial_images, load_state
from qkernel.methods.dd.unrolled import cross_entropy, inner_train, step_batches
from qkernel.nn.functional import FunctionalModel
from qkernel.schema import PositiveFloat, PositiveInt, Strict

__all__ = ["METHOD", "PerformanceMatchingOptions", "distill", "make_outer_step"]

#: The method's name (``dd.method``).
METHOD = "performance-matching"

qkernel.configure_tensorflow()  # best effort when used as a library (the CLI has already done it)


class PerformanceMatchingOptions(Strict):
    """Options of performance matching (``dd.methods.performance-matching``).

    Attributes:
        init: ``fixed`` (one known initialisation, Wang et al.'s fixed-init mode) or ``random``
            (a fresh initialisation every outer step, from a pool of ``init_pool``).
        init_pool: Initialisations drawn from in ``random`` mode.
        steps, epochs: Unrolled inner steps per epoch and epochs (``steps × epochs`` learned rates).
        rates: ``step`` (one learned rate per inner step, as published) or ``layer`` (one per
            inner step and weight tensor).
        lr_init: Initial inner learning rate (rates are ``softplus`` of learned values).
        outer_lr, betas: Outer Adam settings (published: 0.01, (0.5, 0.999)).

    No defaults here: the project's ``params.yaml`` lists every option (single source of defaults).
    """

    init: Literal["fixed", "random"]
    init_pool: PositiveInt
    steps: PositiveInt
    epochs: PositiveInt
    rates: Literal["step", "layer"]
    lr_init: PositiveFloat
    outer_lr: PositiveFloat
    betas: tuple[Annotated[float, Field(ge=0.0, lt=1.0)], Annotated[float, Field(ge=0.0, lt=1.0)]]


def _softplus_inverse(y: float) -> float:
    return float(np.log(np.expm1(y)))


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
            loss = cross_entropy(y_real, fm(final, x_real))
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


def check_task(options: PerformanceMatchingOptions, images_per_class: int, num_classes: int) -> None:
    """Fail before any work if the synthetic set cannot be sliced into ``options.steps`` balanced steps."""
    try:
        step_batches(balanced_labels(num_classes, images_per_class), options.steps)
    except ConfigError as exc:
        raise ConfigError(f"dd.methods.{METHOD}.steps: {exc}") from None


def distill(
    task: DistillTask,
    options: PerformanceMatchingOptions,
    on_step: Callable[[dict[str, float]], None] | None = None,
) -> Distilled:
    """Distill ``task``'s training split into ``task.images_per_class`` images per class.

    Args:
        task: The model factory, the real training split (the outer loss samples batches
            from it), images per class, outer steps, real batch and seed (which seeds image
            initialisation, batch sampling and the initialisation pool).
        options: Inner steps and epochs, rates, outer optimiser, init mode.
        on_step: Called with each outer step's record (progress, logging).

    Returns:
        The distilled images, their labels and the learned rates, with the loss history.
    """
    x_train, y_train, seed = task.x_train, task.y_train, task.seed
    batches = step_batches(balanced_labels(task.num_classes, task.images_per_class), options.steps)  # fails first
    images0, labels0 = initial_images(x_train, y_train, task.num_classes, task.images_per_class, task.image_init, seed)
    pool_size = 1 if options.init == "fixed" else options.init_pool
    model, pool = init_pool(task.factory, pool_size, seed)
    fm = FunctionalModel(model)
    n_rates = options.steps * options.epochs
    images = tf.Variable(images0, name="synthetic_images")
    shape = (n_rates,) if options.rates == "step" else (n_rates, len(fm.variables))
    raw_rates = tf.Variable(np.full(shape, _softplus_inverse(options.lr_init), np.float32), name="raw_rates")
    labels = tf.constant(labels0)
    optimizer = tf.keras.optimizers.Adam(options.outer_lr, beta_1=options.betas[0], beta_2=options.betas[1])
    step = make_outer_step(fm, images, labels, raw_rates, optimizer, batches)
    rng = np.random.default_rng([seed, 2])
    batch = min(task.real_batch, len(x_train))
    history: list[dict[str, float]] = []
    best = (np.inf, images0, tf.nn.softplus(raw_rates).numpy(), 0)
    for k in range(1, task.outer_steps + 1):
        load_state(fm.model, pool[int(rng.integers(len(pool)))])
        w0 = fm.current()
        idx = rng.choice(len(x_train), batch, replace=False)
        before = (images.numpy(), tf.nn.softplus(raw_rates).numpy())  # the loss below is of these
        try:
            loss = float(step(w0, tf.convert_to_tensor(x_train[idx]), tf.convert_to_tensor(y_train[idx])))
        except tf.errors.InvalidArgumentError as exc:  # e.g. an encoder's finiteness check in the graph
            loss, cause = float("nan"), graph_error_cause(exc.message)
        else:
            cause = f"loss {loss}"
        if not np.isfinite(loss):
            raise ConfigError(
                f"dataset distillation diverged at outer step {k} ({cause}); lower dd.methods.{METHOD}.lr_init "
                f"or dd.methods.{METHOD}.outer_lr"
            )
        if loss < best[0]:
            best = (loss, *before, k)
        record = {"step": k, "loss": loss, "mean_lr": float(np.mean(before[1]))}
        history.append(record)
        if on_step is not None:
            on_step(record)
    return Distilled(best[1], labels0, best[2], history, best_step=best[3], steps=options.steps,
                     known_init=seed if options.init == "fixed" else None, method=METHOD)
