"""Dataset distillation: every parameter trains (PQC angles included), second order is exact, it learns."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from qkernel import dd
from qkernel.config import load_params
from qkernel.dd_eval import quantum_cost
from qkernel.errors import ConfigError
from qkernel.functional import FunctionalModel
from qkernel.registry import get_registry


def build(name: str = "quantum_lenet", seed: int = 0, **options) -> tf.keras.Model:
    tf.keras.utils.set_random_seed(seed)
    return get_registry().create("model", name, input_shape=(28, 28), num_classes=10, **options)


def batch(n: int, seed: int = 0) -> tuple[tf.Tensor, tf.Tensor]:
    rng = np.random.default_rng(seed)
    return tf.constant(rng.random((n, 28, 28), dtype=np.float32)), tf.constant(np.arange(n) % 10)


def ce(y: tf.Tensor, logits: tf.Tensor) -> tf.Tensor:
    return tf.reduce_mean(tf.keras.losses.sparse_categorical_crossentropy(y, logits, from_logits=True))


def assert_every_entry_nonzero(grads: list[tf.Tensor], names: list[str]) -> None:
    for g, name in zip(grads, names):
        assert g is not None, f"{name} has no gradient"
        g = np.asarray(g)
        if "circuit_weights" in name or "alpha" in name:
            assert np.all(g != 0), f"{name}: entries {np.flatnonzero(g == 0).tolist()} get zero gradient"
        else:
            assert np.any(g != 0), f"{name} gets zero gradient"


def test_every_quantum_lenet_parameter_gets_gradient_with_a_fixed_hermitian_readout() -> None:
    model = build(readout="hermitian-fixed")
    names = FunctionalModel(model).names()
    assert not any("a_real" in n for n in names)  # H is fixed, not trained
    x, y = batch(12)
    with tf.GradientTape() as tape:
        loss = ce(y, model(x))
    assert_every_entry_nonzero(tape.gradient(loss, model.trainable_variables), names)


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
            w1 = dd.inner_train(fm, w0, images, labels, tf.nn.softplus(rates))
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


def test_pauli_z_readout_leaves_only_the_last_rz_layer_dead() -> None:
    model = build(readout="z")
    x, y = batch(12)
    with tf.GradientTape() as tape:
        loss = ce(y, model(x))
    g = tape.gradient(loss, model.get_layer("pqc").circuit_weights).numpy().reshape(3, 6, 3)
    assert np.all(g[:, :, :2] != 0) and np.all(g[:2, :, 2] != 0)
    np.testing.assert_array_equal(g[2, :, 2], 0.0)  # the final RZ(ω) commutes with the ⟨Z⟩ readout


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
    raw = tf.Variable(np.full(4, dd._softplus_inverse(0.3)))  # 2 steps x 2 epochs
    batches = dd.step_batches(labels_np, 2)
    assert batches.tolist() == [[0, 2, 4], [1, 3, 5]]
    x_real, y_real = tf.constant(rng.standard_normal((20, 6))), tf.constant(np.arange(20) % 3)
    w0 = fm.current()
    loss, (g_images, g_rates) = dd.make_outer_step(fm, images, labels, raw, None, batches)(w0, x_real, y_real)

    def loss_at(img: np.ndarray, r: np.ndarray) -> float:
        w = dd.inner_train(fm, w0, tf.constant(img), labels, tf.nn.softplus(tf.constant(r)), batches)
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


def test_quantum_lenet_size_and_hermitian_modes() -> None:
    counts = {r: sum(int(np.prod(v.shape)) for v in build(readout=r).trainable_variables)
              for r in ("hermitian", "hermitian-fixed", "z")}
    assert counts["hermitian"] == 59_369  # ~59k as published
    assert counts["hermitian"] - counts["hermitian-fixed"] == 48  # a_real, a_imag (6, 2, 2) frozen
    assert counts["z"] == counts["hermitian-fixed"]
    with pytest.raises(ValueError, match="readout must be one of"):
        build(readout="xx")


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


def test_distilling_two_classes_learns_and_beats_chance(tmp_path) -> None:
    from qkernel.data import load_dataset
    from qkernel.dd_eval import evaluate_distilled

    p = load_params(None, ["data.classes=0,1", "data.per_class=100", "data.test_per_class=50", "dd.images_per_class=2",
                           "dd.steps=2", "dd.epochs=3", "dd.outer_steps=30", "dd.real_batch=64", "dd.init_pool=3",
                           "dd.lr_init=0.1", "dd.outer_lr=0.05", "dd.image_init=noise", "dd.init=random",
                           f"data.out_dir={tmp_path}"])
    data = load_dataset(p)
    factory = lambda seed: (tf.keras.utils.set_random_seed(seed),  # noqa: E731
                            get_registry().create("model", "lenet", input_shape=(28, 28), num_classes=2))[1]
    result = dd.distill(factory, data.x["train"], data.y["train"], 2, p.dd, seed=0)
    assert result.images.shape == (4, 28, 28) and result.labels.tolist() == [0, 0, 1, 1]
    assert result.learning_rates.shape == (6, 10) and np.all(result.learning_rates > 0)  # per step and tensor
    losses = [r["loss"] for r in result.history]
    assert np.mean(losses[-5:]) < np.mean(losses[:5])  # the outer loss goes down
    assert result.best_step == int(np.argmin(losses)) + 1  # the lowest-loss state is the one kept
    acc, _ = evaluate_distilled(factory, result, data, inits=2, seed=0, steps=2)
    start_images, start_labels = dd.initial_images(data.x["train"], data.y["train"], 2, 2, p.dd.image_init, 0)
    start = dd.Distilled(start_images, start_labels, np.full((6, 10), p.dd.lr_init, np.float32))
    before, _ = evaluate_distilled(factory, start, data, inits=2, seed=0, steps=2)
    assert acc["mean"] > 0.75 and acc["mean"] > before["mean"] + 0.1, (before, acc)  # chance is 0.5


def test_one_functional_model_takes_every_initialisation_fixed_hermitian_included() -> None:
    factory = lambda seed: build(readout="hermitian-fixed", seed=seed)  # noqa: E731
    fm = FunctionalModel(factory(0))
    x, _ = batch(6)
    fixed_h = {s: factory(s).get_layer("hermitian").non_trainable_weights[0].numpy() for s in (0, 7)}
    assert not np.allclose(fixed_h[0], fixed_h[7])  # the frozen H is part of the initialisation
    for s in (7, 0):
        dd.load_state(fm.model, dd.initial_state(factory, s))
        own = FunctionalModel(factory(s))
        np.testing.assert_allclose(fm(fm.current(), x), own(own.current(), x), rtol=0, atol=1e-6)
        np.testing.assert_array_equal(fm.model.get_layer("hermitian").non_trainable_weights[0].numpy(), fixed_h[s])


def test_known_and_fresh_inits_score_as_models_built_for_each_seed(tmp_path) -> None:
    from qkernel.data import load_dataset
    from qkernel.dd_eval import EVAL_SEED_OFFSET, evaluate_distilled
    from qkernel.training import accuracy

    p = load_params(None, ["data.per_class=4", "data.test_per_class=6", f"data.out_dir={tmp_path}"])
    data = load_dataset(p)
    factory = lambda seed: build(readout="hermitian-fixed", seed=seed)  # noqa: E731
    images, labels = dd.initial_images(data.x["train"], data.y["train"], 10, 1, "real", 0)
    distilled = dd.Distilled(images, labels, np.full(2, 0.05, np.float32))
    fresh, known = evaluate_distilled(factory, distilled, data, inits=2, seed=3, steps=1, known_init=True)

    def alone(seed: int) -> float:
        fm = FunctionalModel(factory(seed))
        fm.assign(dd.train_on(fm, fm.current(), images, labels, distilled.learning_rates, 1))
        return accuracy(fm.model, data.x["test"], data.y["test"])

    expected = [alone(s) for s in (3, 3 + EVAL_SEED_OFFSET, 4 + EVAL_SEED_OFFSET)]
    assert [known["values"][0], *fresh["values"]] == pytest.approx(expected, abs=1e-9)


def test_random_real_subset_is_balanced_and_checks_counts() -> None:
    x = np.arange(20, dtype=np.float32).reshape(20, 1, 1)
    y = np.repeat([0, 1], 10)
    picked = dd.random_real_subset(x, y, 2, 3, np.random.default_rng(0))
    assert picked.shape == (6, 1, 1) and np.all(picked[:3] < 10) and np.all(picked[3:] >= 10)
    with pytest.raises(ConfigError, match="class 0 has 10 training images; 11 per class were requested"):
        dd.random_real_subset(x, y, 2, 11, np.random.default_rng(0))


def test_step_slices_need_a_multiple_of_the_steps() -> None:
    with pytest.raises(ConfigError, match=r"images_per_class \(3\) must be a multiple of dd.steps \(2\)"):
        dd.step_batches(np.repeat(np.arange(2), 3), 2)


def test_dd_params_are_validated() -> None:
    with pytest.raises(ConfigError, match="unique"):
        load_params(None, ["dd.models=[{label: a, model: lenet, options: {}}, {label: a, model: lenet, options: {}}]"])
    with pytest.raises(ConfigError, match="dd.init"):
        load_params(None, ["dd.init=sometimes"])
    from qkernel.dd_stages import check_dd

    with pytest.raises(ConfigError, match="unknown model 'vgg'|vgg"):
        check_dd(load_params(None, ["dd.models=[{label: v, model: vgg, options: {}}]"]))
    with pytest.raises(ConfigError, match="readout must be one of"):
        check_dd(load_params(None, ["dd.models=[{label: q, model: quantum_lenet, options: {readout: x}}]"]))
