"""Judging a distilled set: fresh and known initialisations, random real subsets, quantum cost."""

from __future__ import annotations

import numpy as np
import pytest

from qkernel.config import load_params
from qkernel.errors import ConfigError
from qkernel.methods.dd.evaluate import EVAL_SEED_OFFSET, evaluate_distilled, quantum_cost
from qkernel.methods.dd.synthetic import Distilled, initial_images, initial_state, load_state, random_real_subset
from qkernel.methods.dd.unrolled import train_on
from qkernel.nn.functional import FunctionalModel
from tests.models import batch, build


def test_quantum_cost_counts_parameter_shift_circuits() -> None:
    cost = quantum_cost(build(readout="hermitian"), n_distilled=100, distilled_epochs=3, n_train=3600,
                        full_epochs=10, shots=1000)
    layer = cost["layers"][0]
    assert (layer["ansatz_angles"], layer["encoding_angles"], layer["settings"]) == (54, 63, 3)
    assert layer["circuits_per_sample_gradient"] == 3 * (1 + 2 * (54 + 63))
    assert cost["distilled"]["simulation_executions"] == 100 * 3
    assert cost["full"]["simulation_executions"] == 36_000 and cost["reduction"] == 120.0
    assert cost["full"]["hardware_shots"] == 36_000 * 705 * 1000
    assert quantum_cost(build("lenet"), 100, 3, 3600, 10, 1000) is None


def test_one_functional_model_takes_every_initialisation_fixed_hermitian_included() -> None:
    factory = lambda seed: build(readout="hermitian-fixed", seed=seed)  # noqa: E731
    fm = FunctionalModel(factory(0))
    x, _ = batch(6)
    fixed_h = {s: factory(s).get_layer("hermitian").non_trainable_weights[0].numpy() for s in (0, 7)}
    assert not np.allclose(fixed_h[0], fixed_h[7])  # the frozen H is part of the initialisation
    for s in (7, 0):
        load_state(fm.model, initial_state(factory, s))
        own = FunctionalModel(factory(s))
        np.testing.assert_allclose(fm(fm.current(), x), own(own.current(), x), rtol=0, atol=1e-6)
        np.testing.assert_array_equal(fm.model.get_layer("hermitian").non_trainable_weights[0].numpy(), fixed_h[s])


@pytest.mark.slow
def test_one_trace_serves_every_init_exactly_and_the_known_init_is_kept_apart(tmp_path) -> None:
    from qkernel.data import load_dataset
    from qkernel.methods.dd.evaluate import evaluate_known_init, evaluate_random_real
    from qkernel.methods.dd.protocol import Protocol, Trainer
    from qkernel.nn.training import accuracy

    p = load_params(None, ["data.per_class=4", "data.test_per_class=6", f"data.out_dir={tmp_path}"])
    data = load_dataset(p)
    factory = lambda seed: build(readout="hermitian-fixed", seed=seed)  # noqa: E731
    images, labels = initial_images(data.x["train"], data.y["train"], 10, 1, "real", 0)
    distilled = Distilled(images, labels, np.full(2, 0.05, np.float32), steps=1, known_init=3)
    protocol = Protocol(0.01, 0.9, 5e-4, 256, epochs=4, full_epochs=1, augment=("crop",))
    trainer = Trainer(factory, protocol)
    fresh = evaluate_distilled(trainer, distilled, data, inits=2, seed=3)
    real = evaluate_random_real(trainer, data, 1, draws=2, seed=3)

    def alone(x: np.ndarray, seed: int) -> float:  # a trainer of its own: a fresh trace, a fresh optimizer
        return Trainer(factory, protocol).score(x, labels, seed, 4, data.x["test"], data.y["test"])

    # The second init of each comparison runs on the reloaded model and the zeroed optimizer: as if fresh.
    assert fresh["values"][1] == pytest.approx(alone(images, 4 + EVAL_SEED_OFFSET), abs=1e-9)
    subset = random_real_subset(data.x["train"], data.y["train"], 10, 1, np.random.default_rng([3, 3, 1]))
    assert real["values"][1] == pytest.approx(alone(subset, 4 + EVAL_SEED_OFFSET), abs=1e-9)

    fm = FunctionalModel(factory(3))  # the known init: the learned rates from the seed distilled for
    fm.assign(train_on(fm, fm.current(), images, labels, distilled.learning_rates, 1))
    assert evaluate_known_init(factory, distilled, data)["values"] == [accuracy(fm.model, data.x["test"],
                                                                                data.y["test"])]
    assert evaluate_known_init(factory, Distilled(images, labels, np.zeros(0, np.float32)), data) is None


def test_random_real_subset_is_balanced_and_checks_counts() -> None:
    x = np.arange(20, dtype=np.float32).reshape(20, 1, 1)
    y = np.repeat([0, 1], 10)
    picked = random_real_subset(x, y, 2, 3, np.random.default_rng(0))
    assert picked.shape == (6, 1, 1) and np.all(picked[:3] < 10) and np.all(picked[3:] >= 10)
    with pytest.raises(ConfigError, match="class 0 has 10 training images; 11 per class were requested"):
        random_real_subset(x, y, 2, 11, np.random.default_rng(0))


def test_a_diverging_protocol_names_its_learning_rate_whatever_stops_it() -> None:
    """A rate that blows the weights up stops training either at a non-finite loss or inside the graph (the
    amplitude encoder's finiteness check); both end in one error naming ``dd.eval.learning_rate``."""
    from qkernel.methods.dd.protocol import Protocol, Trainer

    rng = np.random.default_rng(0)
    x, y = rng.random((20, 28, 28), dtype=np.float32), np.repeat(np.arange(10), 2)
    trainer = Trainer(lambda seed: build(readout="hermitian", seed=seed), Protocol(1e9, 0.9, 0.0, 256, 3, 1, ()))
    with pytest.raises(ConfigError, match=r"evaluation training diverged \((.+)\); lower dd.eval.learning_rate "
                                          r"\(now 1000000000.0\)") as caught:
        trainer.train(x, y, seed=0, epochs=3)
    cause = str(caught.value).split("(", 1)[1]
    assert "Graph execution error" not in cause and ("finite" in cause or "loss nan" in cause), cause


def test_a_run_that_learns_nothing_is_flagged_collapsed_and_still_counted() -> None:
    """Training that stays at chance without diverging (the quantum ConvNet's full-set run at lr 0.03 scored
    10 %) is flagged: the summary keeps the score and names the run, the tables say how many collapsed."""
    from types import SimpleNamespace

    import tensorflow as tf

    from qkernel.methods.dd.protocol import Protocol, Trainer
    from qkernel.methods.dd.report import format_accuracy

    def model(blind: bool):  # noqa: ANN202
        def factory(seed: int) -> tf.keras.Model:
            tf.keras.utils.set_random_seed(seed)
            inputs = tf.keras.Input((4, 4))
            h = tf.keras.layers.Flatten()(inputs * 0.0 if blind else inputs)  # blind: the images never reach it
            return tf.keras.Model(inputs, tf.keras.layers.Dense(10)(h))
        return factory

    y = np.repeat(np.arange(10), 2)
    x = np.stack([np.full((4, 4), c / 10, np.float32) + np.eye(4, dtype=np.float32)[c % 4] for c in y])
    data = SimpleNamespace(x={"test": x}, y={"train": y, "test": y})
    distilled = Distilled(x, y, np.zeros(0, np.float32))
    protocol = Protocol(0.5, 0.9, 0.0, 256, epochs=200, full_epochs=1, augment=())

    blind = evaluate_distilled(Trainer(model(blind=True), protocol), distilled, data, inits=2, seed=0)
    assert blind["collapsed"] == [0, 1] and blind["values"] == [0.1, 0.1]  # scored (a uniform guess), flagged
    assert format_accuracy(blind) == "10.0 ± 0.0 (2 collapsed)"

    seeing = evaluate_distilled(Trainer(model(blind=False), protocol), distilled, data, inits=2, seed=0)
    assert "collapsed" not in seeing and min(seeing["values"]) > 0.5
    assert format_accuracy(seeing).count("±") == 1 and "collapsed" not in format_accuracy(seeing)
