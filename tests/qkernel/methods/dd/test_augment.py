"""Differentiable siamese augmentation: shared draws per group, fresh draws per image, gradients flow."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from qkernel.errors import ConfigError
from qkernel.methods.dd.augment import TRANSFORMS, augment, parse_strategy

SEED = tf.constant([1, 2])


def images(n: int = 4, seed: int = 0) -> tf.Tensor:
    return tf.constant(np.random.default_rng(seed).random((n, 28, 28), dtype=np.float32))


def test_strategies_parse_in_application_order_and_unknown_ones_are_named() -> None:
    assert parse_strategy("rotate, crop,none") == ("rotate", "crop")
    assert parse_strategy("cutout,scale") == ("scale", "cutout") and parse_strategy("none") == ()
    with pytest.raises(ConfigError, match="unknown augmentation twirl; known: " + ", ".join(TRANSFORMS)):
        parse_strategy("crop,twirl")


@pytest.mark.parametrize("transform", TRANSFORMS)
def test_each_transform_changes_images_is_seeded_and_keeps_shapes(transform: str) -> None:
    x = images(16)  # a flip happens with probability 1/2 per image
    out = augment(x, (transform,), SEED)
    assert out.shape == x.shape and float(tf.reduce_max(tf.abs(out - x))) > 1e-3
    np.testing.assert_array_equal(out, augment(x, (transform,), SEED))  # the seed fixes the draw
    colour = tf.repeat(x[..., None], 3, axis=-1)
    assert augment(colour, (transform,), SEED).shape == colour.shape


def test_siamese_groups_share_one_draw_and_images_get_their_own_otherwise() -> None:
    same = tf.repeat(images(1), 4, axis=0)
    strategy = parse_strategy("scale,rotate,crop,cutout")
    grouped = augment(same, strategy, SEED, tf.constant([0, 1, 0, 1]), 2).numpy()
    np.testing.assert_array_equal(grouped[0], grouped[2])  # a class's real and synthetic images: one view
    assert np.abs(grouped[0] - grouped[1]).max() > 1e-3
    per_image = augment(same, strategy, SEED).numpy()
    assert np.abs(per_image[0] - per_image[2]).max() > 1e-3
    assert augment(same, (), SEED) is same


def test_gradients_reach_the_images_to_second_order() -> None:
    x = tf.Variable(images(2))
    strategy = parse_strategy("scale,rotate,crop,brightness,contrast,cutout")
    with tf.GradientTape() as outer:
        with tf.GradientTape() as inner:
            loss = tf.reduce_sum(tf.sin(augment(x, strategy, SEED)))
        g = inner.gradient(loss, x)
        norm = tf.reduce_sum(g**2)
    assert float(tf.reduce_sum(tf.abs(g))) > 0 and outer.gradient(norm, x) is not None
