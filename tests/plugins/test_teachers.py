"""The strong teacher (``cnn``): learns above chance on tiny data; augmentation acts only while training."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from qkernel.config import load_params
from qkernel.data import load_dataset
from qkernel.nn.training import accuracy, fit, make_optimizer
from qkernel.plugin.registry import get_registry


def test_cnn_teacher_learns_well_above_chance_on_tiny_data() -> None:
    data = load_dataset(load_params(None, ["data.per_class=50", "data.test_per_class=20"]))
    tf.keras.utils.set_random_seed(0)
    model = get_registry().create("model", "cnn", input_shape=data.image_shape, num_classes=10, widths=(8, 16, 32))
    fit(model, (data.x["train"], data.y["train"]), (data.x["val"], data.y["val"]), epochs=6, batch_size=32,
        optimizer=make_optimizer(1e-2, "cosine", 6, 15), seed=0)
    assert accuracy(model, data.x["test"], data.y["test"]) > 0.6  # chance is 0.1; 450 training images, 6 epochs


def test_augmentation_acts_only_while_training() -> None:
    model = get_registry().create("model", "cnn", input_shape=(28, 28), num_classes=10, widths=(4,),
                                  augment=("translate", "flip"), dropout=0.0)
    x = np.random.default_rng(0).random((4, 28, 28), dtype=np.float32)
    np.testing.assert_allclose(model(x).numpy(), model(x).numpy())  # inference: deterministic, clean images
    assert not np.allclose(model(x, training=True).numpy(), model(x, training=True).numpy())


def test_ensembles_take_the_cnn_and_bad_options_are_refused() -> None:
    registry = get_registry()
    model = registry.create("model", "ensemble", input_shape=(28, 28), num_classes=10, members=("cnn", "lenet5"),
                            cnn={"widths": (4,)})
    assert model(np.zeros((2, 28, 28), np.float32)).shape == (2, 10)
    with pytest.raises(ValueError, match="unknown augmentation"):
        registry.create("model", "cnn", input_shape=(28, 28), num_classes=10, augment=("mixup",))
    with pytest.raises(ValueError, match="halve"):
        registry.create("model", "cnn", input_shape=(28, 28), num_classes=10, widths=(4, 4, 4, 4, 4))
