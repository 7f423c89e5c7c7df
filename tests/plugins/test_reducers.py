"""Reducers: shapes, the published region/crop semantics, PCA fitted on training data only."""

from __future__ import annotations

import numpy as np
import pytest

from qkernel.errors import InputError
from qkernel.plugin.registry import get_registry
from plugins.reducers import grid

REDUCERS = ["fc", "pca", "avgpool", "maxpool", "crop"]


@pytest.fixture(scope="module")
def images() -> np.ndarray:
    return np.random.default_rng(0).random((64, 28, 28), dtype=np.float32)


@pytest.mark.parametrize("name", REDUCERS)
@pytest.mark.parametrize("k", [4, 8, 16, 256])
def test_every_reducer_outputs_n_features(name: str, k: int, images: np.ndarray) -> None:
    reducer = get_registry().create("reducer", name, n_features=k)
    if name == "pca" and k > 64:
        pytest.skip("PCA needs at least k training images")
    reducer.fit(images)
    out = reducer.layer((28, 28))(images[:5]).numpy()
    assert out.shape == (5, k) and np.isfinite(out).all()


def test_grid_factorisation() -> None:
    assert [grid(k) for k in (4, 8, 16, 32, 128, 256)] == [(2, 2), (2, 4), (4, 4), (4, 8), (8, 16), (16, 16)]


def test_avg_and_max_pool_regions(images: np.ndarray) -> None:
    x = images[:3]
    avg = get_registry().create("reducer", "avgpool", n_features=16).layer((28, 28))(x).numpy()
    mx = get_registry().create("reducer", "maxpool", n_features=16).layer((28, 28))(x).numpy()
    np.testing.assert_allclose(avg[:, 0], x[:, :7, :7].mean(axis=(1, 2)), rtol=1e-5)
    np.testing.assert_allclose(mx[:, 15], x[:, 21:, 21:].max(axis=(1, 2)))


def test_centre_crop_and_colour(images: np.ndarray) -> None:
    x = images[:2]
    crop = get_registry().create("reducer", "crop", n_features=16).layer((28, 28))(x).numpy()
    np.testing.assert_array_equal(crop, x[:, 12:16, 12:16].reshape(2, 16))
    rgb = np.stack([x, 2 * x, 3 * x], axis=-1)
    crop_rgb = get_registry().create("reducer", "crop", n_features=16).layer((28, 28, 3))(rgb).numpy()
    np.testing.assert_allclose(crop_rgb, 2 * crop, rtol=1e-6)


def test_pca_uses_training_data_and_orders_by_variance(images: np.ndarray) -> None:
    pca = get_registry().create("reducer", "pca", n_features=8)
    pca.fit(images)
    ratios = pca.explained_variance_ratio
    assert np.all(np.diff(ratios) <= 1e-12) and 0 < ratios.sum() < 1
    out = pca.layer((28, 28))(images).numpy()
    np.testing.assert_allclose(out.mean(axis=0), 0, atol=1e-4)  # centred on the training mean


def test_errors() -> None:
    with pytest.raises(InputError, match="call fit"):
        get_registry().create("reducer", "pca", n_features=4).layer((28, 28))
    with pytest.raises(InputError, match=r"cannot make 1024 regions \(32x32\) from 28x28"):
        get_registry().create("reducer", "crop", n_features=1024).layer((28, 28))
    with pytest.raises(InputError, match="n_features must be positive"):
        get_registry().create("reducer", "fc", n_features=0)
