"""The training loop: learns, selects on validation, and resumes a killed run exactly."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

from qkernel.config import load_params
from qkernel.data import load_dataset
from qkernel.plugin.registry import get_registry
from qkernel.nn.training import accuracy, fit, reset_optimizer


@pytest.fixture(scope="module")
def small():
    return load_dataset(load_params(None, ["data.per_class=60", "data.test_per_class=30"]))


def lenet(seed: int = 0) -> tf.keras.Model:
    tf.keras.utils.set_random_seed(seed)
    return get_registry().create("model", "lenet5", input_shape=(28, 28), num_classes=10)


def train(data, epochs: int, ckpt: Path | None = None, stop_after: int | None = None):
    model = lenet()
    result = fit(model, (data.x["train"], data.y["train"]), (data.x["val"], data.y["val"]),
                 epochs=epochs, batch_size=32, optimizer=tf.keras.optimizers.Adam(3e-3), seed=1,
                 checkpoint_dir=ckpt, stop_after_epoch=stop_after)
    return model, result


def test_learns_well_above_chance(small) -> None:
    model, result = train(small, epochs=4)
    assert [r["epoch"] for r in result.history] == [1, 2, 3, 4]
    assert result.history[-1]["loss"] < result.history[0]["loss"]
    assert accuracy(model, small.x["test"], small.y["test"]) > 0.6  # chance is 0.1
    assert result.best_val_accuracy == max(r["val_accuracy"] for r in result.history)


def test_killed_run_resumes_to_the_same_weights(small, tmp_path: Path) -> None:
    straight, full = train(small, epochs=3)
    _, partial = train(small, epochs=3, ckpt=tmp_path, stop_after=1)
    assert len(partial.history) == 1
    resumed, rest = train(small, epochs=3, ckpt=tmp_path)
    assert rest.resumed_from == 1 and len(rest.history) == 3
    for got, want in zip(rest.history, full.history):
        assert got == pytest.approx(want, rel=1e-5)
    for a, b in zip(straight.weights, resumed.weights):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-6, atol=1e-7)


def test_early_stopping_keeps_best_weights(small) -> None:
    model = lenet()
    result = fit(model, (small.x["train"], small.y["train"]), (small.x["val"], small.y["val"]),
                 epochs=50, batch_size=32, optimizer=tf.keras.optimizers.Adam(3e-2), seed=0, patience=2)
    assert result.stopped_early and len(result.history) < 50
    assert result.best_epoch == 1 + int(np.argmax([r["val_accuracy"] for r in result.history]))
    assert accuracy(model, small.x["val"], small.y["val"]) == pytest.approx(result.best_val_accuracy)


def test_retraining_one_model_with_a_reset_optimizer_equals_a_fresh_model(small) -> None:
    """What the DD evaluation relies on to reuse traced steps across initialisations."""
    data = (small.x["train"], small.y["train"]), (small.x["val"], small.y["val"])
    fresh, result_fresh = train(small, epochs=2)
    reused, optimizer = lenet(seed=5), tf.keras.optimizers.Adam(3e-3)
    fit(reused, *data, epochs=1, batch_size=32, optimizer=optimizer, seed=9)  # some other training first
    for dst, src in zip(reused.weights, lenet().weights):
        dst.assign(src)
    reset_optimizer(optimizer)
    result_reused = fit(reused, *data, epochs=2, batch_size=32, optimizer=optimizer, seed=1)
    assert int(optimizer.iterations.numpy()) == steps_taken(small, epochs=2, batch_size=32)
    for got, want in zip(result_reused.history, result_fresh.history):
        assert got == pytest.approx(want, rel=1e-5)
    for a, b in zip(fresh.weights, reused.weights):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-5, atol=1e-6)


def steps_taken(data, epochs: int, batch_size: int) -> int:
    return epochs * -(-len(data.y["train"]) // batch_size)


def test_training_past_the_stop_gives_the_early_stopping_model_and_the_fixed_budget_model(small) -> None:
    """One run, both models of the equal-budget comparison: selection frozen where patience ran out."""
    data = (small.x["train"], small.y["train"]), (small.x["val"], small.y["val"])
    kw = dict(batch_size=32, seed=0, patience=1)
    stopped = lenet()
    early = fit(stopped, *data, epochs=6, optimizer=tf.keras.optimizers.Adam(3e-2), **kw)
    both = lenet()
    result = fit(both, *data, epochs=6, optimizer=tf.keras.optimizers.Adam(3e-2), train_past_stop=True, **kw)
    full, last = lenet(), {}
    fit(full, *data, epochs=6, optimizer=tf.keras.optimizers.Adam(3e-2), batch_size=32, seed=0,
        on_epoch=lambda r: last.update(weights=[v.numpy() for v in full.weights]))
    assert early.stopped_early and len(early.history) < 6 and len(result.history) == 6  # the lr makes it stop
    assert (result.best_epoch, result.stop_epoch) == (early.best_epoch, len(early.history))
    assert result.best_val_accuracy == pytest.approx(early.best_val_accuracy)
    for a, b in zip(stopped.weights, both.weights):  # the model holds the early-stopping weights
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-5, atol=1e-6)
    for a, b in zip(last["weights"], result.final_weights):  # final_weights: all epochs, no selection
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_the_cosine_schedule_decays_to_zero_over_the_budget() -> None:
    from qkernel.nn.training import make_optimizer

    schedule = make_optimizer(0.01, "cosine", epochs=4, steps_per_epoch=5).get_config()["learning_rate"]
    assert schedule["class_name"] == "CosineDecay"
    assert schedule["config"]["initial_learning_rate"] == 0.01 and schedule["config"]["decay_steps"] == 20
    assert schedule["config"]["alpha"] == 0.0  # to zero at the end of the budget
    assert float(make_optimizer(0.01).learning_rate) == pytest.approx(0.01)
    with pytest.raises(ValueError, match="unknown learning-rate schedule 'step'"):
        make_optimizer(0.01, "step")
