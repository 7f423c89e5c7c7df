"""Built-in dimensionality reducers (images → the features an encoder consumes).

The KD paper reduces images to ``2**Q`` features for amplitude encoding; angle and qubit
encodings consume ``Q`` and ``2Q``. Every reducer here therefore takes ``n_features``.
Regions for pooling and cropping use a ``gh × gw`` grid with ``gh · gw = n_features``
and ``gh`` the largest divisor not above ``sqrt(n_features)``: 16 → 4×4, 256 → 16×16,
and for non-squares 8 → 2×4, 32 → 4×8, 128 → 8×16. Colour images are averaged over
channels before pooling or cropping.
"""

from __future__ import annotations

import math

import numpy as np
import qkernel  # noqa: F401
import tensorflow as tf

from qkernel.errors import InputError
from qkernel.plugin.hookspecs import hookimpl


def grid(n_features: int) -> tuple[int, int]:
    """The ``(gh, gw)`` region grid for ``n_features`` (see the module docstring)."""
    gh = max(d for d in range(1, math.isqrt(n_features) + 1) if n_features % d == 0)
    return gh, n_features // gh


def _gray(x: tf.Tensor, input_shape: tuple[int, ...]) -> tf.Tensor:
    return tf.reduce_mean(x, axis=-1) if len(input_shape) == 3 else x


def _regions(h: int, w: int, gh: int, gw: int) -> np.ndarray:
    """Membership mask ``(gh*gw, h*w)`` of adaptive (overlapping where sizes do not divide) regions."""
    mask = np.zeros((gh * gw, h, w), dtype=bool)
    for i in range(gh):
        r0, r1 = (i * h) // gh, -((-(i + 1) * h) // gh)
        for j in range(gw):
            c0, c1 = (j * w) // gw, -((-(j + 1) * w) // gw)
            mask[i * gw + j, r0:r1, c0:c1] = True
    return mask.reshape(gh * gw, h * w)


class _Base:
    trainable = False
    needs_fit = False

    def __init__(self, n_features: int) -> None:
        if n_features < 1:
            raise InputError(f"{self.name}: n_features must be positive, got {n_features}")
        self.n_features = int(n_features)

    def check(self, input_shape: tuple[int, ...]) -> None:
        """Raise :class:`InputError` if ``input_shape`` images cannot be reduced to ``n_features``."""
        self.layer(input_shape)

    def fit(self, x_train: np.ndarray) -> None:
        """Stateless: nothing to fit."""

    def state(self) -> dict[str, np.ndarray]:
        return {}

    def load_state(self, state: dict[str, np.ndarray]) -> None:
        if state:
            raise InputError(f"{self.name}: stateless reducer got state {sorted(state)}")

    def _spatial(self, input_shape: tuple[int, ...]) -> tuple[int, int, int, int]:
        h, w = input_shape[:2]
        gh, gw = grid(self.n_features)
        if gh > h or gw > w:
            raise InputError(f"{self.name}: cannot make {self.n_features} regions ({gh}x{gw}) from {h}x{w} images")
        return h, w, gh, gw


class FullyConnected(_Base):
    """Trainable dense layer from the flattened image to n_features (trained jointly with the QNN)."""

    name = "fc"
    trainable = True

    def layer(self, input_shape: tuple[int, ...]) -> tf.keras.layers.Layer:
        return tf.keras.Sequential(
            [tf.keras.layers.Flatten(), tf.keras.layers.Dense(self.n_features, name="reduce_fc")], name="reducer_fc"
        )


class AvgPool(_Base):
    """Average over n_features adaptive image regions (channels averaged first)."""

    name = "avgpool"

    def layer(self, input_shape: tuple[int, ...]) -> tf.keras.layers.Layer:
        h, w, gh, gw = self._spatial(input_shape)
        m = _regions(h, w, gh, gw).astype(np.float32)
        weights = tf.constant((m / m.sum(axis=1, keepdims=True)).T)
        return tf.keras.layers.Lambda(
            lambda x: tf.reshape(_gray(x, input_shape), (-1, h * w)) @ weights, name="reducer_avgpool"
        )


class MaxPool(_Base):
    """Maximum over n_features adaptive image regions (channels averaged first)."""

    name = "maxpool"

    def layer(self, input_shape: tuple[int, ...]) -> tf.keras.layers.Layer:
        h, w, gh, gw = self._spatial(input_shape)
        mask = tf.constant(_regions(h, w, gh, gw))

        def pool(x: tf.Tensor) -> tf.Tensor:
            flat = tf.reshape(_gray(x, input_shape), (-1, 1, h * w))
            return tf.reduce_max(tf.where(mask, flat, tf.constant(-np.inf, flat.dtype)), axis=-1)

        return tf.keras.layers.Lambda(pool, name="reducer_maxpool")


class CenterCrop(_Base):
    """Centre gh x gw crop with gh*gw = n_features (square N x N when n_features is a square)."""

    name = "crop"

    def layer(self, input_shape: tuple[int, ...]) -> tf.keras.layers.Layer:
        h, w, gh, gw = self._spatial(input_shape)
        top, left = (h - gh) // 2, (w - gw) // 2
        return tf.keras.layers.Lambda(
            lambda x: tf.reshape(_gray(x, input_shape)[:, top : top + gh, left : left + gw], (-1, gh * gw)),
            name="reducer_crop",
        )


class PCA(_Base):
    """Principal components fitted on the training images only (fixed projection)."""

    name = "pca"
    needs_fit = True

    def __init__(self, n_features: int) -> None:
        super().__init__(n_features)
        self.mean: np.ndarray | None = None
        self.components: np.ndarray | None = None
        self.explained_variance_ratio: np.ndarray | None = None

    def check(self, input_shape: tuple[int, ...]) -> None:
        pixels = int(np.prod(input_shape))
        if self.n_features > pixels:
            raise InputError(f"pca: {self.n_features} components cannot come from images of {pixels} values")

    def fit(self, x_train: np.ndarray) -> None:
        """Fit components by SVD of the centred training images."""
        flat = np.asarray(x_train, dtype=np.float64).reshape(len(x_train), -1)
        if self.n_features > min(flat.shape):
            raise InputError(f"pca: {self.n_features} components need at least that many images and pixels, "
                             f"got {flat.shape[0]} images of {flat.shape[1]} pixels")
        self.mean = flat.mean(axis=0)
        _, s, vt = np.linalg.svd(flat - self.mean, full_matrices=False)
        self.components = vt[: self.n_features]
        var = s**2
        self.explained_variance_ratio = var[: self.n_features] / var.sum()

    def state(self) -> dict[str, np.ndarray]:
        if self.components is None:
            return {}
        return {"mean": self.mean, "components": self.components, "explained_variance_ratio": self.explained_variance_ratio}

    def load_state(self, state: dict[str, np.ndarray]) -> None:
        if set(state) != {"mean", "components", "explained_variance_ratio"} or len(state["components"]) != self.n_features:
            raise InputError(f"pca: state must hold mean, components ({self.n_features} rows) and "
                             f"explained_variance_ratio, got {sorted(state)}")
        self.mean, self.components = state["mean"], state["components"]
        self.explained_variance_ratio = state["explained_variance_ratio"]

    def layer(self, input_shape: tuple[int, ...]) -> tf.keras.layers.Layer:
        if self.components is None:
            raise InputError("pca: call fit(x_train) on the training images before building the layer")
        mean = tf.constant(self.mean, tf.float32)
        comp = tf.constant(self.components.T, tf.float32)
        size = int(np.prod(input_shape))
        return tf.keras.layers.Lambda(lambda x: (tf.reshape(x, (-1, size)) - mean) @ comp, name="reducer_pca")


@hookimpl
def register_reducers() -> list[type]:
    return [FullyConnected, PCA, AvgPool, MaxPool, CenterCrop]
