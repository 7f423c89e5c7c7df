"""Dataset distillation by gradient matching (Zhao, Mopuri & Bilen, ICLR 2021) with siamese augmentation
(DSA, Zhao & Bilen, ICML 2021), for classical and quantum models.

Each outer step draws a freshly initialised network and walks a short training trajectory on
the synthetic set. At every point of it, for every class, the training gradient of the
network's weights on a real batch of that class is matched with the gradient on the class's
synthetic images (both under one siamese augmentation draw)::

    D = Σ_c Σ_ℓ Σ_rows (1 − cos(∇_{W_ℓ} L(real_c), ∇_{W_ℓ} L(syn_c)))

summed per output channel or unit of every weight tensor ``W_ℓ`` (a kernel's rows; a circuit's
angle vector and each qubit's Hermitian observable as rows of their own — so the quantum layer's
training signal is matched too); biases and the scalar mixing weight are left out, as in DC.
The synthetic images descend ``D`` (its gradient runs through the synthetic-gradient computation:
second order, through the native kernel for quantum models). Between matches the network takes
``inner_loop`` SGD steps on the (augmented) synthetic set, so later matches see trained weights.

Fresh networks come from a pool of ``init_pool`` initialisations, as in distribution matching.
With ``task.factor`` > 1 (multi-formation, Kim et al. 2022 — their IDC is this method with it) the
matches and the network's steps see the decoded images, and the match's gradient runs back through
the decoding into the stored ones.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

import numpy as np
import tensorflow as tf

from qkernel.methods.dd.augment import augment, parse_strategy
from qkernel.methods.dd.resume import Checkpoint
from qkernel.methods.dd.synthetic import (
    Distilled, DistillTask, decode, decoded_labels, init_pool, initial_images, load_state, record_step,
    sample_by_class,
)
from qkernel.nn.training import reset_optimizer
from qkernel.sim.kernel import inline_circuits
from qkernel.schema import PositiveFloat, PositiveInt, Strict

__all__ = ["METHOD", "GradientMatchingOptions", "distill", "gradient_distance", "make_matcher"]

#: The method's name (``dd.method``).
METHOD = "gradient-matching"

#: Weight tensors left out of the distance (by name fragment), as DC leaves out biases.
UNMATCHED = ("bias", "alpha")


class GradientMatchingOptions(Strict):
    """Options of gradient matching (``dd.methods.gradient-matching``).

    Attributes:
        lr: Learning rate of the synthetic images (SGD with momentum 0.5, as published: 0.1).
        optimizer: ``sgd`` or ``adam`` for the synthetic images.
        net_lr: SGD learning rate of the network's steps on the synthetic set (published 0.01).
        outer_loop: Matches per fresh network (published: 1, 10, 50 for 1, 10, 50 images per class).
        inner_loop: Network steps on the synthetic set between matches (published: 1, 50, 10).
        init_pool: Fresh initialisations drawn from, one per outer step.
        augment: Siamese augmentation (comma-separated transforms, or ``none``).
    """

    lr: PositiveFloat
    optimizer: Literal["sgd", "adam"]
    net_lr: PositiveFloat
    outer_loop: PositiveInt
    inner_loop: int
    init_pool: PositiveInt
    augment: str


def _rows(g: tf.Tensor) -> tf.Tensor:
    """A gradient as rows: one per output channel/unit (kernels), per qubit (observables), or one row."""
    if g.shape.rank == 4:  # conv kernel (h, w, in, out)
        return tf.reshape(tf.transpose(g, [3, 0, 1, 2]), [g.shape[-1], -1])
    if g.shape.rank == 2:  # dense kernel (in, out)
        return tf.transpose(g)
    if g.shape.rank == 3:  # per-qubit observables (n, 2, 2)
        return tf.reshape(g, [g.shape[0], -1])
    return tf.reshape(g, [1, -1])  # a circuit's angles: one row


def gradient_distance(real: list[tf.Tensor], synthetic: list[tf.Tensor]) -> tf.Tensor:
    """DC's distance: ``Σ_rows (1 − cos)`` over every tensor's rows (see :func:`_rows`)."""
    total = tf.constant(0.0)
    for gr, gs in zip(real, synthetic):
        a, b = _rows(tf.stop_gradient(gr)), _rows(gs)
        cos = tf.reduce_sum(a * b, 1) / (tf.norm(a, axis=1) * tf.norm(b, axis=1) + 1e-6)
        total = total + tf.reduce_sum(1.0 - cos)
    return total


def _ce(model: tf.keras.Model, x: tf.Tensor, y: tf.Tensor) -> tf.Tensor:
    logits = model(x, training=True)
    return tf.reduce_mean(tf.keras.losses.sparse_categorical_crossentropy(y, logits, from_logits=True))


def make_matcher(
    model: tf.keras.Model, matched: list[tf.Variable], strategy: tuple[str, ...], per_class: int, ipc: int,
) -> Callable[[tf.Tensor, tf.Tensor, tf.Tensor], tuple[tf.Tensor, tf.Tensor]]:
    """``match(x_real, syn, aug_seed) -> (D, dD/dsyn)`` over every class, as one vectorised program.

    ``x_real`` holds ``per_class`` real images of each class, ``syn`` ``ipc`` synthetic images of
    each, both class-major. Class ``k``'s real and synthetic images share one augmentation draw
    (seed ``aug_seed + k``); its distance, and the distance's gradient to its synthetic images,
    are computed for every class at once (:func:`tf.vectorized_map`): one set of batched ops in
    place of a graph per class, 2.3–2.9 times faster for quantum LeNet, whose circuit makes
    thousands of small ops (traced inlined: :func:`qkernel.sim.kernel.inline_circuits`).
    """
    one_group = tf.zeros([per_class + ipc], tf.int32)

    def class_distance(args: tuple[tf.Tensor, tf.Tensor, tf.Tensor]) -> tuple[tf.Tensor, tf.Tensor]:
        real, syn, k = args
        with tf.GradientTape() as tape:
            tape.watch(syn)
            with tf.GradientTape() as real_tape:
                real_loss = _ce(model, real, tf.fill([per_class], k))
            g_real = real_tape.gradient(real_loss, matched)
            with tf.GradientTape() as syn_tape:
                syn_loss = _ce(model, syn, tf.fill([ipc], k))
            g_syn = syn_tape.gradient(syn_loss, matched)
            distance = gradient_distance(g_real, g_syn)
        return distance, tape.gradient(distance, syn)

    @tf.function
    def match(x_real: tf.Tensor, syn: tf.Tensor, aug_seed: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        c = syn.shape[0] // ipc
        syn = tf.cast(syn, x_real.dtype)
        with tf.GradientTape() as tape:
            tape.watch(syn)
            views = [augment(tf.concat([x_real[k * per_class:(k + 1) * per_class], syn[k * ipc:(k + 1) * ipc]], 0),
                             strategy, aug_seed + k, one_group, 1) for k in range(c)]  # one draw per class
            real_views = tf.stack([v[:per_class] for v in views])
            syn_views = tf.stack([v[per_class:] for v in views])
        with inline_circuits():
            distances, view_grads = tf.vectorized_map(class_distance, (real_views, syn_views, tf.range(c)))
        return tf.reduce_sum(distances), tape.gradient(syn_views, syn, output_gradients=view_grads)

    return match


def distill(
    task: DistillTask, options: GradientMatchingOptions, on_step: Callable[[dict[str, float]], None] | None = None,
) -> Distilled:
    """Distil ``task``'s training split by matching per-class training gradients along short trajectories.

    Args:
        task: Model factory, real training split, images per class, outer steps, real images
            per match (``real_batch``, split evenly over the classes) and seed.
        options: Learning rates, loops, pool size, augmentation.
        on_step: Called with each outer step's record (``step``, ``loss``: the mean distance).

    Returns:
        The synthetic images and their labels (no learned rates: any trainer may use them).
    """
    strategy = parse_strategy(options.augment)
    c, seed, factor = task.num_classes, task.seed, task.factor
    images0, labels0 = initial_images(task.x_train, task.y_train, c, task.images_per_class, task.image_init, seed,
                                      factor)
    ipc = task.images_per_class * factor**2  # decoded images per class, the ones matched and trained on
    model, pool = init_pool(task.factory, options.init_pool, seed)
    matched = [v for v in model.trainable_variables if not any(u in v.name for u in UNMATCHED)]
    images = tf.Variable(images0, name="synthetic_images")
    syn_labels = tf.constant(decoded_labels(labels0, factor), tf.int32)
    image_opt = (tf.keras.optimizers.SGD(options.lr, momentum=0.5) if options.optimizer == "sgd"
                 else tf.keras.optimizers.Adam(options.lr))
    net_opt = tf.keras.optimizers.SGD(options.net_lr)
    net_opt.build(model.trainable_variables)
    per_class = max(1, task.real_batch // c)

    match_all = make_matcher(model, matched, strategy, per_class, ipc)

    def match(x_real: np.ndarray, aug_seed: tf.Tensor) -> float:
        """One match over every class: the synthetic images take one step on the summed distance."""
        with tf.GradientTape() as tape:
            decoded = decode(images, factor)
        distance, grad = match_all(tf.convert_to_tensor(x_real), decoded, aug_seed)
        grad = tape.gradient(decoded, images, output_gradients=tf.cast(grad, decoded.dtype))  # through the decoding
        image_opt.apply_gradients([(tf.cast(grad, images.dtype), images)])
        return float(distance)

    @tf.function
    def net_step(decoded: tf.Tensor, aug_seed: tf.Tensor) -> tf.Tensor:
        with tf.GradientTape() as tape:
            loss = _ce(model, augment(decoded, strategy, aug_seed), syn_labels)
        net_opt.apply_gradients(zip(tape.gradient(loss, model.trainable_variables), model.trainable_variables))
        return loss

    rng = np.random.default_rng([seed, 2])
    history: list[dict[str, float]] = []
    checkpoint = Checkpoint(task.checkpoint, task.checkpoint_every, METHOD, [images], [(image_opt, [images])], rng,
                            history)  # the networks' optimiser starts afresh every outer step: nothing to keep
    for step in range(checkpoint.restore(task.outer_steps) + 1, task.outer_steps + 1):
        load_state(model, pool[int(rng.integers(len(pool)))])
        reset_optimizer(net_opt)
        distances = []
        for ol in range(options.outer_loop):
            idx = sample_by_class(task.y_train, c, per_class, rng)
            distances.append(match(task.x_train[idx], tf.constant([seed, 1000 * step + ol], tf.int32)))
            if ol == options.outer_loop - 1:
                break
            decoded = decode(images.value(), factor)  # the images only change at matches: decoded once per match
            for il in range(options.inner_loop):
                net_step(decoded, tf.constant([seed + 1, 100_000 * step + 1000 * ol + il], tf.int32))
        record_step(history, step, float(np.mean(distances)) / c, METHOD, "lr", on_step)
        checkpoint.after(step, task.outer_steps)
    return Distilled(images.numpy(), labels0, np.zeros(0, np.float32), history, best_step=task.outer_steps,
                     steps=1, known_init=None, method=METHOD, factor=factor)
