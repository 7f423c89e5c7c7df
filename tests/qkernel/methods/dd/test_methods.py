"""Every distillation method: it moves the images, and a fresh model — quantum weights included — trains
every weight on what it returns (the evaluation protocol's inner training)."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from qkernel.config import load_params
from qkernel.methods.dd.augment import augment, parse_strategy
from qkernel.methods.dd.gradient_matching import UNMATCHED, gradient_distance, make_matcher
from qkernel.methods.dd.protocol import NO_DECAY, Protocol, Trainer
from qkernel.methods.dd.stages import build_method
from qkernel.methods.dd.synthetic import DistillTask, initial_images
from qkernel.plugin.registry import get_registry
from tests.models import build

TINY = {
    "performance-matching": ["init=random", "init_pool=2", "steps=1", "epochs=1"],
    "distribution-matching": ["init_pool=2"],
    "gradient-matching": ["init_pool=2", "outer_loop=2", "inner_loop=1"],
    "trajectory-matching": ["experts=1", "expert_epochs=2", "max_start_epoch=1", "expert_span=1", "syn_steps=2"],
}


def quantum(seed: int) -> tf.keras.Model:
    tf.keras.utils.set_random_seed(seed)
    return get_registry().create("model", "quantum_lenet", input_shape=(28, 28), num_classes=2, n_qubits=4, depth=1)


@pytest.mark.parametrize("method", sorted(TINY))
@pytest.mark.slow
def test_each_method_moves_the_images_and_its_set_trains_every_weight_of_a_fresh_quantum_model(method, data) -> None:
    p = load_params(None, [f"dd.method={method}", *(f"dd.methods.{method}.{o}" for o in TINY[method])])
    task = DistillTask(quantum, data.x["train"], data.y["train"], 2, images_per_class=1, image_init="real",
                       outer_steps=2, real_batch=8, seed=0)
    result = build_method(p).distill(task)
    start, _ = initial_images(data.x["train"], data.y["train"], 2, 1, "real", 0)
    assert result.method == method and result.labels.tolist() == [0, 1] and len(result.history) == 2
    assert np.all(np.isfinite(result.images)) and np.abs(result.images - start).max() > 1e-6

    trainer = Trainer(quantum, Protocol(0.05, 0.9, 5e-4, 256, epochs=2, full_epochs=1, augment=("crop",)))
    model = trainer._start(7)
    before = [v.numpy().copy() for v in model.trainable_variables]
    trainer.train(result.images, result.labels, 7, epochs=2)
    for b, v in zip(before, model.trainable_variables):
        moved = v.numpy() != b
        # Every circuit angle moves; other tensors move (a dead ReLU unit's bias, or the imaginary diagonal of
        # a Hermitian's A — it cancels in (A + A†)/2 — may legitimately not).
        assert moved.all() if "circuit_weights" in v.name else moved.any(), f"{method}: {v.name} did not train"
    assert any("circuit_weights" in v.name for v in model.trainable_variables)


def test_trajectory_matching_experts_keep_every_epoch_train_every_weight_and_are_reused(
    data, tmp_path, monkeypatch,
) -> None:
    """Each expert trajectory holds its weights before training and after every epoch, as one flat vector
    in ``FunctionalModel`` order, with its fixed weights; the circuit's angles and observables move along it; the
    trajectories are kept in the task's work directory and read back, not retrained, for the same task."""
    from qkernel.methods.dd import trajectory_matching as tm
    from qkernel.nn.functional import FunctionalModel

    p = load_params(None, [*(f"dd.methods.trajectory-matching.{o}" for o in TINY["trajectory-matching"]),
                           "dd.methods.trajectory-matching.experts=2"])
    options = tm.TrajectoryMatchingOptions(**p.dd.method_options("trajectory-matching"))
    task = DistillTask(quantum, data.x["train"], data.y["train"], 2, images_per_class=1, image_init="real",
                       outer_steps=1, real_batch=8, seed=0, work_dir=tmp_path)
    experts, frozen = tm.expert_trajectories(task, options, quantum(0))
    sizes = [int(np.prod(s)) for s in FunctionalModel(quantum(0)).shapes]
    assert experts.shape == (2, 3, sum(sizes)) and len(list(tmp_path.glob("experts-*.npz"))) == 1
    assert frozen.shape == (2, 0)  # a trainable Hermitian readout: no fixed weights
    assert not np.array_equal(experts[0, 0], experts[1, 0])  # experts start from different initialisations
    cut = np.cumsum(sizes)[:-1]
    moved = np.array([[np.any(b != a) for b, a in zip(np.split(t[0], cut), np.split(t[-1], cut))] for t in experts])
    names = FunctionalModel(quantum(0)).names()
    quantum_weights = [k for k, n in enumerate(names) if "circuit_weights" in n or "hermitian" in n]
    # The quantum weights move along every trajectory; every tensor along some (a ReLU layer may start dead).
    assert moved[:, quantum_weights].all() and moved.any(axis=0).all(), dict(zip(names, moved.T.tolist()))
    # A fixed Hermitian readout belongs to each expert's initialisation: kept with its trajectory.
    fixed = lambda seed: build(readout="hermitian-fixed", seed=seed, n_qubits=4, depth=1)  # noqa: E731
    _, frozen = tm.train_experts(fixed, data.x["train"], data.y["train"], options, seed=0)
    assert frozen.shape[1] > 0 and not np.array_equal(frozen[0], frozen[1])
    monkeypatch.setattr(tm, "train_experts", lambda *a, **k: pytest.fail("kept experts were retrained"))
    np.testing.assert_array_equal(tm.expert_trajectories(task, options, quantum(0))[0], experts)


def test_weight_decay_spares_circuit_angles_and_observables() -> None:
    model = build(readout="hermitian")
    names = [v.name for v in model.trainable_variables]
    spared = [n for n in names if any(s in n for s in NO_DECAY)]
    assert any("circuit_weights" in n for n in spared) and any("a_real" in n for n in spared)
    assert not any("kernel" in n for n in spared)


def test_gradient_distance_is_zero_for_parallel_gradients_and_counts_every_row() -> None:
    rng = np.random.default_rng(0)
    grads = [tf.constant(rng.normal(size=s), tf.float32) for s in [(5, 5, 1, 6), (120, 64), (54,), (6, 2, 2)]]
    assert float(gradient_distance(grads, [3.0 * g for g in grads])) == pytest.approx(0.0, abs=1e-5)
    rows = 6 + 64 + 1 + 6  # conv output channels, dense units, the circuit's angle vector, each qubit's observable
    assert float(gradient_distance(grads, [-g for g in grads])) == pytest.approx(2.0 * rows, rel=1e-5)


@pytest.mark.slow
def test_the_vectorised_match_gives_each_class_its_own_distance_and_image_gradient() -> None:
    """``make_matcher`` runs every class at once; each class must see only its own images, augmentation draw
    and label, exactly as when the classes are matched one by one (second order through the circuit)."""
    model = quantum(3)
    matched = [v for v in model.trainable_variables if not any(u in v.name for u in UNMATCHED)]
    rng = np.random.default_rng(0)
    per_class, ipc, strategy = 4, 2, parse_strategy("crop,scale,rotate")
    real = tf.constant(rng.random((2 * per_class, 28, 28), dtype=np.float32))
    syn = tf.constant(rng.random((2 * ipc, 28, 28), dtype=np.float32))
    seed = tf.constant([0, 7], tf.int32)
    distance, grad = make_matcher(model, matched, strategy, per_class, ipc)(real, syn, seed)

    total, grads = 0.0, []
    for k in range(2):
        mine = syn[k * ipc:(k + 1) * ipc]
        with tf.GradientTape() as tape:
            tape.watch(mine)
            view = augment(tf.concat([real[k * per_class:(k + 1) * per_class], mine], 0), strategy, seed + k,
                           tf.zeros([per_class + ipc], tf.int32), 1)
            per_view = []
            for x in (view[:per_class], view[per_class:]):
                with tf.GradientTape() as inner:
                    loss = tf.reduce_mean(tf.keras.losses.sparse_categorical_crossentropy(
                        tf.fill([x.shape[0]], k), model(x, training=True), from_logits=True))
                per_view.append(inner.gradient(loss, matched))
            d = gradient_distance(*per_view)
        total += float(d)
        grads.append(tape.gradient(d, mine).numpy())
    assert float(distance) == pytest.approx(total, rel=1e-5)
    np.testing.assert_allclose(grad.numpy(), np.concatenate(grads), atol=1e-5)
    assert np.abs(grads[0]).max() > 1e-4 and np.abs(grads[1]).max() > 1e-4  # both classes' images are moved
