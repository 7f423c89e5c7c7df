"""Differentiable siamese augmentation (DSA, Zhao & Bilen, ICML 2021) for image batches.

Every transform is differentiable with respect to the images (to second order), so a
distillation method can augment its synthetic images inside the tape. *Siamese*: one draw
of the random parameters per group — a class's real and synthetic images alike — so the two
are compared under the same view. For training on a set (the evaluation protocol), each
image gets its own draw instead.

Transforms (``strategy`` is a comma-separated subset, applied in this order):

* ``scale`` — zoom each axis by a factor in ``[0.8, 1.2]``;
* ``rotate`` — rotate by up to ±15°;
* ``crop`` — translate by up to 1/8 of the side (zero fill), DSA's crop;
* ``flip`` — mirror left-right with probability 1/2 (not for digits);
* ``brightness`` — add a value in ``[-0.5, 0.5]`` times the batch's range;
* ``contrast`` — scale the deviation from each image's mean by ``[0.5, 1.5]``;
* ``cutout`` — zero a square of half the side at a random place.

Geometric transforms are one projective warp (``ImageProjectiveTransformV3``, bilinear).
Images are ``(B, H, W)`` or ``(B, H, W, C)`` float32.
"""

from __future__ import annotations

import math

import tensorflow as tf

from qkernel.errors import ConfigError

__all__ = ["TRANSFORMS", "augment", "parse_strategy"]

#: The transforms a strategy may name, in the order they are applied.
TRANSFORMS = ("scale", "rotate", "crop", "flip", "brightness", "contrast", "cutout")


def parse_strategy(strategy: str) -> tuple[str, ...]:
    """The transforms of ``strategy`` (``"none"`` or ``""``: no augmentation), in application order.

    Raises:
        ConfigError: for an unknown transform, listing the known ones.
    """
    names = [s.strip() for s in strategy.split(",") if s.strip() and s.strip() != "none"]
    unknown = sorted(set(names) - set(TRANSFORMS))
    if unknown:
        raise ConfigError(f"unknown augmentation {', '.join(unknown)}; known: {', '.join(TRANSFORMS)} (or none)")
    return tuple(t for t in TRANSFORMS if t in names)


def _uniform(shape: list, seed: tf.Tensor, low: float, high: float) -> tf.Tensor:
    return tf.random.stateless_uniform(shape, seed, minval=low, maxval=high)


def _warp(strategy: tuple[str, ...], seeds: tf.Tensor, n: tf.Tensor, h: int, w: int) -> tf.Tensor:
    """``(n, 8)`` projective transforms combining scale, rotation, translation and flip about the centre."""
    one, zero = tf.ones([n]), tf.zeros([n])
    sx = _uniform([n], seeds[0], 0.8, 1.2) if "scale" in strategy else one
    sy = _uniform([n], seeds[1], 0.8, 1.2) if "scale" in strategy else one
    angle = _uniform([n], seeds[2], -math.pi / 12, math.pi / 12) if "rotate" in strategy else zero
    tx = _uniform([n], seeds[3], -w / 8, w / 8) if "crop" in strategy else zero
    ty = _uniform([n], seeds[4], -h / 8, h / 8) if "crop" in strategy else zero
    flip = tf.where(_uniform([n], seeds[5], 0, 1) < 0.5, -one, one) if "flip" in strategy else one
    # Output pixel (u, v) samples the input at M (u, v) around the centre: M = R(angle) S(1/s) F.
    cos, sin = tf.cos(angle), tf.sin(angle)
    a0, a1 = cos * flip / sx, -sin / sy
    b0, b1 = sin * flip / sx, cos / sy
    cx, cy = (w - 1) / 2, (h - 1) / 2
    a2 = cx - a0 * cx - a1 * cy + tx
    b2 = cy - b0 * cx - b1 * cy + ty
    return tf.stack([a0, a1, a2, b0, b1, b2, zero, zero], axis=1)


def _cutout_mask(seed: tf.Tensor, n: tf.Tensor, h: int, w: int) -> tf.Tensor:
    """``(n, H, W, 1)`` masks that zero a square of half the side, centred at a random pixel."""
    cy = tf.random.stateless_uniform([n], seed, 0, h, dtype=tf.int32)
    cx = tf.random.stateless_uniform([n], seed + 1, 0, w, dtype=tf.int32)
    inside_r = tf.abs(tf.range(h)[None, :] - cy[:, None]) < (h // 2 + 1) // 2
    inside_c = tf.abs(tf.range(w)[None, :] - cx[:, None]) < (w // 2 + 1) // 2
    return 1.0 - tf.cast(inside_r[:, :, None] & inside_c[:, None, :], tf.float32)[..., None]


def augment(
    x: tf.Tensor, strategy: tuple[str, ...], seed: tf.Tensor, groups: tf.Tensor | None = None, n_groups: int = 1,
) -> tf.Tensor:
    """Augment a batch with the transforms of ``strategy`` (see the module docstring).

    Args:
        x: Images ``(B, H, W)`` or ``(B, H, W, C)``.
        strategy: Transforms from :func:`parse_strategy`.
        seed: A ``(2,)`` integer seed; the same seed gives the same parameters.
        groups: ``(B,)`` group index of every image, in ``[0, n_groups)``: images of one group
            share one draw (siamese: real and synthetic images of a class), or ``None`` for
            one draw per image (training).
        n_groups: Number of groups (draws) when ``groups`` is given.

    Returns:
        The augmented batch, same shape; differentiable with respect to ``x``.
    """
    if not strategy:
        return x
    seeds = tf.random.experimental.stateless_split(tf.cast(seed, tf.int32), num=8)
    n = tf.shape(x)[0] if groups is None else n_groups

    def per_image(params: tf.Tensor) -> tf.Tensor:
        return params if groups is None else tf.gather(params, groups)

    channels = x.shape.rank == 4
    out = x if channels else x[..., None]
    h, w = out.shape[1], out.shape[2]
    if set(strategy) & {"scale", "rotate", "crop", "flip"}:
        out = tf.raw_ops.ImageProjectiveTransformV3(
            images=out, transforms=per_image(_warp(strategy, seeds, n, h, w)), output_shape=[h, w], fill_value=0.0,
            interpolation="BILINEAR", fill_mode="CONSTANT",
        )
    if "brightness" in strategy:
        out = out + per_image(_uniform([n, 1, 1, 1], seeds[6], -0.5, 0.5)) * (tf.reduce_max(out) - tf.reduce_min(out))
    if "contrast" in strategy:
        mean = tf.reduce_mean(out, axis=[1, 2, 3], keepdims=True)
        out = (out - mean) * per_image(_uniform([n, 1, 1, 1], seeds[7], 0.5, 1.5)) + mean
    if "cutout" in strategy:
        out = out * per_image(_cutout_mask(seeds[7] + 2, n, h, w))
    return out if channels else out[..., 0]
