"""Dataset distillation by distribution matching (Zhao & Bilen, WACV 2023), for classical and quantum models.

Each step draws a freshly initialised network and, for every class, pulls the mean embedding
of the synthetic images towards the mean embedding of a batch of real images of that class::

    L = Σ_c ‖ mean_i φ_θ(A(x_{c,i})) − mean_j φ_θ(A(s_{c,j})) ‖²

where ``φ_θ`` is the network's embedding (by default the features entering its last dense
layer; for quantum LeNet that is the mix of the quantum readout and the classical residual, so
the circuit shapes what is matched) and ``A`` is differentiable siamese augmentation with one
draw per class shared by its real and synthetic images (:mod:`qkernel.methods.dd.augment`).
Only the synthetic images are updated (SGD with momentum, or Adam); the network is never
trained, so there is no inner loop and no second-order gradient: steps are cheap, and because
every step sees a new initialisation, the set is distilled for *fresh* networks.

A multi-formed set (``task.factor`` > 1, Kim et al. 2022) is matched as it will be trained on:
each stored image decoded into ``factor²`` full-size images, the gradient flowing back through
the decoding into the stored pixels.

Fresh networks come from a pool of ``init_pool`` initialisations (building a quantum model
costs ~0.25 s; loading a stored initialisation into one model costs nothing and keeps one trace).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Literal

import numpy as np
import tensorflow as tf

from qkernel.errors import ConfigError
from qkernel.methods.dd.augment import augment, parse_strategy
from qkernel.methods.dd.resume import Checkpoint
from qkernel.methods.dd.synthetic import (
    Distilled, DistillTask, balanced_labels, decode, decoded_labels, init_pool, initial_images, load_state,
    record_step, sample_by_class,
)
from qkernel.schema import PositiveFloat, PositiveInt, Strict

__all__ = ["METHOD", "DistributionMatchingOptions", "distill", "embedder"]

#: The method's name (``dd.method``).
METHOD = "distribution-matching"


class DistributionMatchingOptions(Strict):
    """Options of distribution matching (``dd.methods.distribution-matching``).

    Attributes:
        lr: Learning rate of the synthetic images.
        optimizer: ``sgd`` (momentum 0.5, as published) or ``adam``.
        init_pool: Fresh initialisations drawn from, one per step.
        augment: Siamese augmentation (comma-separated transforms, or ``none``).
        layers: Layers whose outputs form the embedding (concatenated), of those the model has
            (one list serves quantum LeNet and LeNet); none of them: the input of its last layer.
    """

    lr: PositiveFloat
    optimizer: Literal["sgd", "adam"]
    init_pool: PositiveInt
    augment: str
    layers: tuple[str, ...]


def embedder(model: tf.keras.Model, layers: Sequence[str] = ()) -> tf.keras.Model:
    """A model sharing ``model``'s weights that returns its embedding ``(B, D)``: the outputs of the
    ``layers`` it has, concatenated, or the input of its last layer.

    Raises:
        ConfigError: if ``model`` is not a functional Keras model.
    """
    if not getattr(model, "_is_graph_network", False):
        raise ConfigError(f"distribution matching needs a functional Keras model; {model.name!r} is subclassed")
    names = {layer.name for layer in model.layers}
    outputs = [model.get_layer(name).output for name in layers if name in names] or [model.layers[-1].input]
    flat = [tf.keras.layers.Flatten()(o) if len(o.shape) > 2 else o for o in outputs]
    return tf.keras.Model(model.inputs, flat[0] if len(flat) == 1 else tf.keras.layers.Concatenate()(flat))


def _class_means(embedding: tf.Tensor, labels: tf.Tensor, num_classes: int) -> tf.Tensor:
    return tf.math.unsorted_segment_mean(embedding, labels, num_classes)


def distill(
    task: DistillTask, options: DistributionMatchingOptions, on_step: Callable[[dict[str, float]], None] | None = None,
) -> Distilled:
    """Distil ``task``'s training split by matching per-class mean embeddings under fresh networks.

    Args:
        task: Model factory, real training split, images per class, steps, real images per
            step (``real_batch``, split evenly over the classes) and seed.
        options: Learning rate, optimiser, pool size, augmentation, embedding layers.
        on_step: Called with each step's record (``step``, ``loss``).

    Returns:
        The synthetic images and their labels (no learned rates: any trainer may use them).
    """
    strategy = parse_strategy(options.augment)
    c, seed = task.num_classes, task.seed
    factor = task.factor
    images0, labels0 = initial_images(task.x_train, task.y_train, c, task.images_per_class, task.image_init, seed,
                                      factor)
    model, pool = init_pool(task.factory, options.init_pool, seed)
    embed = embedder(model, options.layers)
    images = tf.Variable(images0, name="synthetic_images")
    syn_labels = tf.constant(decoded_labels(labels0, factor), tf.int32)
    optimizer = (tf.keras.optimizers.SGD(options.lr, momentum=0.5) if options.optimizer == "sgd"
                 else tf.keras.optimizers.Adam(options.lr))
    per_class = max(1, task.real_batch // c)
    real_labels = tf.constant(balanced_labels(c, per_class), tf.int32)
    n_real = c * per_class

    @tf.function
    def step(x_real: tf.Tensor, aug_seed: tf.Tensor) -> tf.Tensor:
        with tf.GradientTape() as tape:
            both = tf.concat([x_real, tf.cast(decode(images, factor), x_real.dtype)], 0)
            groups = tf.concat([real_labels, syn_labels], 0)
            features = embed(augment(both, strategy, aug_seed, groups, c), training=True)
            real = _class_means(features[:n_real], real_labels, c)
            syn = _class_means(features[n_real:], syn_labels, c)
            loss = tf.reduce_sum(tf.square(real - syn))
        optimizer.apply_gradients([(tape.gradient(loss, images), images)])
        return loss

    rng = np.random.default_rng([seed, 2])
    history: list[dict[str, float]] = []
    checkpoint = Checkpoint(task.checkpoint, task.checkpoint_every, METHOD, [images], [(optimizer, [images])], rng,
                            history)
    for k in range(checkpoint.restore(task.outer_steps) + 1, task.outer_steps + 1):
        load_state(model, pool[int(rng.integers(len(pool)))])
        idx = sample_by_class(task.y_train, c, per_class, rng)
        loss = float(step(tf.convert_to_tensor(task.x_train[idx]), tf.constant([seed, k], tf.int32)))
        record_step(history, k, loss, METHOD, "lr", on_step)
        checkpoint.after(k, task.outer_steps)
    return Distilled(images.numpy(), labels0, np.zeros(0, np.float32), history, best_step=task.outer_steps,
                     steps=1, known_init=None, method=METHOD, factor=factor)
