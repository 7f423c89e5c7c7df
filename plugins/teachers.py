"""Strong classical teachers for knowledge distillation: a VGG-style CNN trained with augmentation.

Hinton's loss only helps when the teacher is clearly stronger than the student (REFERENCE C);
the KD paper's LeNet-5 (≈ 88 % on Fashion-MNIST) is not. ``cnn`` is a small VGG-style network —
blocks of (3×3 conv → batch norm → ReLU) × ``convs`` and a 2×2 max-pool, then global average
pooling, dropout and a dense layer — with random augmentation layers in front that act only
while training (``model(x, training=True)``, which the training loop passes), so the cached
teacher logits are computed on clean images. Measured teacher accuracies are in the README
("Knowledge distillation").
"""

from __future__ import annotations

from collections.abc import Sequence

import qkernel  # noqa: F401  (environment before TensorFlow)
import tensorflow as tf

from qkernel.plugin.hookspecs import hookimpl

layers = tf.keras.layers

#: Augmentations a teacher may use while training; each maps a seed to a Keras layer.
AUGMENTATIONS = {
    "translate": lambda seed: layers.RandomTranslation(0.1, 0.1, fill_mode="constant", seed=seed),
    "rotate": lambda seed: layers.RandomRotation(0.04, fill_mode="constant", seed=seed),
    "zoom": lambda seed: layers.RandomZoom(0.1, fill_mode="constant", seed=seed),
    "flip": lambda seed: layers.RandomFlip("horizontal", seed=seed),
}


class Augment(layers.Layer):
    """Random augmentation layers applied only when called with ``training=True`` (Keras' own random
    layers default to training mode when a model is called without the flag)."""

    def __init__(self, names: Sequence[str], seed: int, **kwargs: object) -> None:
        super().__init__(**kwargs)
        self.names = tuple(names)
        self.transforms = [AUGMENTATIONS[name](seed + i) for i, name in enumerate(self.names)]

    def call(self, x: tf.Tensor, training: bool = False) -> tf.Tensor:
        if not training:
            return x
        for transform in self.transforms:
            x = transform(x, training=True)
        return x


class VGGTeacher:
    """VGG-style CNN with batch norm, augmentation, global average pooling and dropout.

    Args:
        input_shape: ``(H, W)`` or ``(H, W, C)`` images, H and W at least 8.
        num_classes: Number of classes (logits out).
        widths: Filters of each block (a block halves the resolution).
        convs: 3×3 convolutions per block.
        dropout: Dropout before the last dense layer.
        augment: Names from :data:`AUGMENTATIONS` applied, in order, while training
            (``flip`` suits Fashion-MNIST and CIFAR-10, not digits).
        seed: Seed of the augmentation layers (the weights follow the global seed).

    Raises:
        ValueError: for a bad shape, class count, width list or augmentation name.
    """

    name = "cnn"

    def __new__(
        cls,
        input_shape: Sequence[int],
        num_classes: int,
        widths: Sequence[int] = (16, 32, 64),
        convs: int = 2,
        dropout: float = 0.3,
        augment: Sequence[str] = ("translate", "rotate"),
        seed: int = 0,
    ) -> tf.keras.Model:
        shape = tuple(int(s) for s in input_shape)
        if len(shape) not in (2, 3) or min(shape[:2]) < 8:
            raise ValueError(f"cnn: input_shape must be (H, W) or (H, W, C) with H, W >= 8, got {shape}")
        if num_classes < 2:
            raise ValueError(f"cnn: num_classes must be at least 2, got {num_classes}")
        if not widths or min(widths) < 1 or convs < 1:
            raise ValueError(f"cnn: widths must be positive filter counts and convs >= 1, got {list(widths)}, {convs}")
        if min(shape[:2]) >> len(widths) < 1:
            raise ValueError(f"cnn: {len(widths)} blocks halve {shape[:2]} images below one pixel")
        unknown = [a for a in augment if a not in AUGMENTATIONS]
        if unknown:
            raise ValueError(f"cnn: unknown augmentation {unknown}; expected some of {sorted(AUGMENTATIONS)}")
        inp = tf.keras.Input(shape=shape)
        x = layers.Reshape((*shape, 1))(inp) if len(shape) == 2 else inp
        if augment:
            x = Augment(augment, seed, name="augment")(x)
        for width in widths:
            for _ in range(convs):
                x = layers.Conv2D(int(width), 3, padding="same", use_bias=False)(x)
                x = layers.ReLU()(layers.BatchNormalization(momentum=0.9)(x))
            x = layers.MaxPooling2D(2)(x)
        x = layers.Dropout(dropout)(layers.GlobalAveragePooling2D()(x))
        return tf.keras.Model(inp, layers.Dense(num_classes)(x), name=cls.name)


@hookimpl
def register_models() -> list[type]:
    return [VGGTeacher]
