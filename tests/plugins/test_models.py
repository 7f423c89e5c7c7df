"""Teacher models: published shapes and parameter counts, ensembles average logits."""

from __future__ import annotations

import numpy as np
import pytest

from qkernel.plugin.registry import get_registry


def test_lenet5_has_the_published_size() -> None:
    model = get_registry().create("model", "lenet5", input_shape=(28, 28), num_classes=10)
    assert model.count_params() == 44426  # "~44k params"
    assert model(np.zeros((2, 28, 28), np.float32)).shape == (2, 10)


@pytest.mark.parametrize("shape", [(28, 28), (32, 32, 3)])
def test_alexnet_adapts_to_both_input_sizes(shape) -> None:
    model = get_registry().create("model", "alexnet", input_shape=shape, num_classes=10, fc_units=64)
    assert model(np.zeros((2, *shape), np.float32)).shape == (2, 10)


def test_ensemble_is_the_mean_of_member_logits() -> None:
    model = get_registry().create("model", "ensemble", input_shape=(28, 28), num_classes=10,
                                  members=("lenet5", "alexnet"), alexnet={"fc_units": 32})
    x = np.random.default_rng(0).random((3, 28, 28), dtype=np.float32)
    expected = np.mean([m(x).numpy() for m in model.members], axis=0)
    np.testing.assert_allclose(model(x).numpy(), expected, rtol=1e-5, atol=1e-6)


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="num_classes must be at least 2"):
        get_registry().create("model", "lenet5", input_shape=(28, 28), num_classes=1)
    with pytest.raises(ValueError, match="members must be two or more"):
        get_registry().create("model", "ensemble", input_shape=(28, 28), num_classes=10, members=("vgg",))
