"""Performance matching: every parameter trains through unrolled steps, second order is exact, it learns."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from qkernel.config import load_params
from qkernel.errors import ConfigError
from qkernel.methods.dd import performance_matching as pm
from qkernel.methods.dd.synthetic import Distilled, DistillTask, initial_images
from qkernel.methods.dd.unrolled import inner_train, step_batches
from qkernel.nn.functional import FunctionalModel
from qkernel.plugin.registry import get_registry
from tests.models import assert_every_entry_nonzero, batch, build, ce


@pytest.mark.slow
def test_every_quantum_lenet_parameter_gets_gradient_directly_and_through_an_unrolled_step() -> None:
    readout = "hermitian"
    model = build(readout=readout)
    fm = FunctionalModel(model)
    names = fm.names()
    assert any("circuit_weights" in n for n in names) and any("alpha" in n for n in names)
    assert any("a_real" in n for n in names) == (readout == "hermitian")
    pqc = model.get_layer("pqc").circuit_weights
    assert pqc.shape == (54,)  # 3 strongly entangling layers on 6 qubits
    x, y = batch(12)
    with tf.GradientTape() as tape:
        loss = ce(y, model(x))
    assert_every_entry_nonzero(tape.gradient(loss, fm.variables), names)

    # Through one unrolled inner step: d(outer loss)/d(w0) reaches every initial weight (second order).
    images = tf.Variable(batch(10, seed=1)[0])
    labels = tf.constant(np.arange(10))
    rates = tf.Variable([0.5])
    x_real, y_real = batch(16, seed=2)

    def unrolled(w0: list[tf.Tensor]) -> tuple:  # eager: tracing this second-order graph costs more
        with tf.GradientTape(persistent=True) as tape:
            tape.watch(w0)
            w1 = inner_train(fm, w0, images, labels, tf.nn.softplus(rates))
            outer = ce(y_real, fm(w1, x_real))
        grads = [tf.convert_to_tensor(g) for g in tape.gradient(outer, [images, rates])]
        return w1, tape.gradient(outer, w0), tape.gradient(outer, w1), grads

    w0 = fm.current()
    w1, g_w0, g_w1, (g_images, g_rates) = unrolled(w0)
    assert_every_entry_nonzero(g_w0, names)
    assert_every_entry_nonzero(g_w1, names)
    assert np.count_nonzero(g_images.numpy()) > 0.5 * g_images.numpy().size and g_rates.numpy()[0] != 0
    # The inner step really moved the circuit angles.
    k = next(i for i, n in enumerate(names) if "circuit_weights" in n)
    assert np.all(w1[k].numpy() != w0[k].numpy())


def test_outer_gradient_matches_finite_differences_of_the_unrolled_loss() -> None:
    """Second order through the while-loop unroll, checked in float64 on a smooth model (per-step slices)."""
    tf.keras.utils.set_random_seed(7)
    inp = tf.keras.Input((6,), dtype="float64")
    hidden = tf.keras.layers.Dense(5, activation="tanh", dtype="float64")(inp)
    fm = FunctionalModel(tf.keras.Model(inp, tf.keras.layers.Dense(3, dtype="float64")(hidden)))
    rng = np.random.default_rng(8)
    labels_np = np.repeat(np.arange(3), 2)
    images = tf.Variable(rng.standard_normal((6, 6)))
    labels = tf.constant(labels_np)
    raw = tf.Variable(np.full(4, pm._softplus_inverse(0.3)))  # 2 steps x 2 epochs
    batches = step_batches(labels_np, 2)
    assert batches.tolist() == [[0, 2, 4], [1, 3, 5]]
    x_real, y_real = tf.constant(rng.standard_normal((20, 6))), tf.constant(np.arange(20) % 3)
    w0 = fm.current()
    loss, (g_images, g_rates) = pm.make_outer_step(fm, images, labels, raw, None, batches)(w0, x_real, y_real)

    def loss_at(img: np.ndarray, r: np.ndarray) -> float:
        w = inner_train(fm, w0, tf.constant(img), labels, tf.nn.softplus(tf.constant(r)), batches)
        return float(ce(y_real, fm(w, x_real)))

    img0, r0 = images.numpy(), raw.numpy()
    assert abs(loss_at(img0, r0) - float(loss)) < 1e-12  # while_loop (graph) == Python loop (eager)
    eps = 1e-5
    for t in range(4):
        e = np.zeros_like(r0)
        e[t] = eps
        fd = (loss_at(img0, r0 + e) - loss_at(img0, r0 - e)) / (2 * eps)
        np.testing.assert_allclose(g_rates.numpy()[t], fd, rtol=1e-5, atol=1e-9)
    for i, j in [(0, 0), (3, 5), (5, 2)]:
        e = np.zeros_like(img0)
        e[i, j] = eps
        fd = (loss_at(img0 + e, r0) - loss_at(img0 - e, r0)) / (2 * eps)
        np.testing.assert_allclose(g_images.numpy()[i, j], fd, rtol=1e-5, atol=1e-9)


def test_distilling_two_classes_learns_and_beats_chance(tmp_path) -> None:
    from qkernel.data import load_dataset
    from qkernel.methods.dd.unrolled import train_on
    from qkernel.nn.training import accuracy

    method = "dd.methods.performance-matching."
    p = load_params(None, ["data.classes=0,1", "data.per_class=100", "data.test_per_class=50", "dd.images_per_class=2",
                           f"{method}steps=2", f"{method}epochs=3", "dd.outer_steps=30", "dd.real_batch=64",
                           f"{method}init_pool=3", f"{method}lr_init=0.1", f"{method}outer_lr=0.05",
                           "dd.image_init=noise", f"{method}init=random", f"data.out_dir={tmp_path}"])
    data = load_dataset(p)
    factory = lambda seed: (tf.keras.utils.set_random_seed(seed),  # noqa: E731
                            get_registry().create("model", "lenet", input_shape=(28, 28), num_classes=2))[1]
    task = DistillTask(factory, data.x["train"], data.y["train"], 2, p.dd.images_per_class, p.dd.image_init,
                       p.dd.outer_steps, p.dd.real_batch, seed=0)
    options = pm.PerformanceMatchingOptions(**p.dd.method_options("performance-matching"))
    result = pm.distill(task, options)
    assert result.images.shape == (4, 28, 28) and result.labels.tolist() == [0, 0, 1, 1]
    assert result.learning_rates.shape == (6, 10) and np.all(result.learning_rates > 0)  # per step and tensor
    losses = [r["loss"] for r in result.history]
    assert np.mean(losses[-5:]) < np.mean(losses[:5])  # the outer loss goes down
    assert result.best_step == int(np.argmin(losses)) + 1  # the lowest-loss state is the one kept
    assert result.steps == 2 and result.known_init is None and result.method == "performance-matching"
    def fresh_inits(d: Distilled) -> float:  # Wang et al.'s evaluation: the learned schedule from unseen inits
        accs = []
        for seed in (100, 101):
            fm = FunctionalModel(factory(seed))
            fm.assign(train_on(fm, fm.current(), d.images, d.labels, d.learning_rates, d.steps))
            accs.append(accuracy(fm.model, data.x["test"], data.y["test"]))
        return float(np.mean(accs))

    start_images, start_labels = initial_images(data.x["train"], data.y["train"], 2, 2, p.dd.image_init, 0)
    start = Distilled(start_images, start_labels, np.full((6, 10), options.lr_init, np.float32), steps=2)
    acc, before = fresh_inits(result), fresh_inits(start)
    assert acc > 0.75 and acc > before + 0.1, (before, acc)  # chance is 0.5


def test_step_slices_need_a_multiple_of_the_steps() -> None:
    with pytest.raises(ConfigError, match=r"images_per_class \(3\) must be a multiple of the inner steps per epoch \(2\)"):
        step_batches(np.repeat(np.arange(2), 3), 2)
    options = pm.PerformanceMatchingOptions(**load_params().dd.method_options("performance-matching"))
    with pytest.raises(ConfigError, match=r"dd.methods.performance-matching.steps: .*multiple"):
        pm.check_task(options, images_per_class=5, num_classes=10)
