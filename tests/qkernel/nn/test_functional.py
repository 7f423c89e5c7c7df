"""Calling a Keras model with substituted weights (the basis of unrolled training)."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from qkernel.errors import ConfigError
from qkernel.nn.functional import FunctionalModel
from tests.models import batch, build


def test_functional_call_matches_the_model_and_substitutes_weights() -> None:
    model = build("lenet")
    fm = FunctionalModel(model)
    x, _ = batch(4)
    np.testing.assert_allclose(fm(fm.current(), x).numpy(), model(x).numpy(), atol=1e-6)
    zeroed = [tf.zeros_like(w) for w in fm.current()]
    np.testing.assert_allclose(fm(zeroed, x).numpy(), 0.0)
    np.testing.assert_allclose(model(x).numpy(), fm(fm.current(), x).numpy(), atol=1e-6)  # restored
    with pytest.raises(ConfigError, match="10 trainable weights; received 2"):
        fm(zeroed[:2], x)


def test_models_with_batch_norm_are_refused_with_a_reason() -> None:
    inp = tf.keras.Input((4,))
    model = tf.keras.Model(inp, tf.keras.layers.Dense(2)(tf.keras.layers.BatchNormalization()(inp)))
    with pytest.raises(ConfigError, match="running statistics"):
        FunctionalModel(model)
