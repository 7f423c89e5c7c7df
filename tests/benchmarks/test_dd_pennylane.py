"""``benchmarks.dd_pennylane``: the PennyLane + Torch DD outer step computes what ``qkernel.methods.dd.performance_matching`` does.

Needs the optional ``bench`` extra (PennyLane, Torch); skipped without it. The native side
runs eagerly (``tf.config.run_functions_eagerly``): the same ops as the compiled
``make_outer_step`` without its ~30 s trace of the nested second-order tape.
"""

from __future__ import annotations

import qkernel  # noqa: F401  (sets TF_USE_LEGACY_KERAS before TensorFlow loads)

from collections.abc import Iterator

import numpy as np
import pytest
import tensorflow as tf

pytest.importorskip("pennylane")
torch = pytest.importorskip("torch")

from benchmarks.dd_pennylane import (  # noqa: E402
    LAYER_WEIGHTS,
    DDReference,
    time_outer_step,
    torchlayer_functional_call_gradients,
)
from qkernel.methods.dd.performance_matching import inner_train, make_outer_step  # noqa: E402
from qkernel.nn.functional import FunctionalModel  # noqa: E402
from qkernel.plugin.registry import get_registry  # noqa: E402

N_SYN, STEPS, REAL = 20, 2, 32


def _model(readout: str, seed: int = 3) -> tf.keras.Model:
    """A quantum LeNet with random weights of sizeable logits (not the near-zero fresh init)."""
    tf.keras.utils.set_random_seed(seed)
    model = get_registry().create(
        "model", "quantum_lenet", input_shape=(28, 28), num_classes=10, readout=readout,
        backend_options={"jit_compile": False},  # same arithmetic, no XLA compile time
    )
    rng = np.random.default_rng(seed)
    for v in model.weights:
        shape = tuple(v.shape)
        if "circuit_weights" in v.name:
            value = rng.uniform(0, 2 * np.pi, shape)
        elif "hermitian" in v.name:
            value = rng.standard_normal(shape)
        elif not shape:  # mix/alpha
            value = rng.uniform(0.2, 0.8)
        elif len(shape) >= 2:  # kernels: variance-scaled, so activations stay O(1)
            value = rng.normal(0, 1.5 / np.sqrt(np.prod(shape[:-1])), shape)
        else:
            value = rng.normal(0, 0.3, shape)
        v.assign(np.asarray(value, np.float32))
    return model


def _data(seed: int = 0) -> tuple[np.ndarray, ...]:
    rng = np.random.default_rng(seed)
    syn_x = rng.standard_normal((N_SYN, 28, 28)).astype(np.float32)
    syn_y = (np.arange(N_SYN) % 10).astype(np.int64)
    raw = (np.log(np.expm1(0.02)) + np.array([0.0, 0.3])[:STEPS]).astype(np.float32)
    real_x = rng.random((REAL, 28, 28)).astype(np.float32)
    real_y = rng.integers(0, 10, REAL).astype(np.int64)
    return syn_x, syn_y, raw, real_x, real_y


@pytest.fixture(scope="module")
def hermitian_model() -> tf.keras.Model:
    return _model("hermitian")


@pytest.fixture
def eager_tf() -> Iterator[None]:
    previous = tf.config.functions_run_eagerly()
    tf.config.run_functions_eagerly(True)
    try:
        yield
    finally:
        tf.config.run_functions_eagerly(previous)


@pytest.mark.parametrize(
    ("readout", "observable"),
    [("hermitian", "hermitian"), ("hermitian", "pauli"), ("hermitian-fixed", "hermitian"), ("z", "hermitian")],
)
def test_forward_matches_keras_and_params_follow_trainable_variables(readout: str, observable: str) -> None:
    model = _model(readout)
    ref = DDReference.from_keras(model, observable)
    assert ref.readout == readout and (ref.n_qubits, ref.depth) == (6, 3)
    slots = dict(LAYER_WEIGHTS)
    expected = []
    for v in model.trainable_variables:
        layer = next(la for la in model.layers if any(w is v for w in la.weights))
        index = next(k for k, w in enumerate(layer.weights) if w is v)
        expected.append(f"{layer.name}/{slots[layer.name][index]}")
    assert ref.names == expected
    for p, v in zip(ref.params, model.trainable_variables):
        assert p.requires_grad and p.dtype == torch.float32
        np.testing.assert_array_equal(p.detach().numpy(), v.numpy())
    x = np.random.default_rng(1).random((6, 28, 28)).astype(np.float32)
    keras_logits = model(x).numpy()
    assert np.abs(keras_logits).max() > 0.5  # a meaningful comparison, not near-zero logits
    np.testing.assert_allclose(ref.forward(None, x).detach().numpy(), keras_logits, rtol=1e-4, atol=1e-4)


def test_outer_step_matches_native_tf(hermitian_model: tf.keras.Model, eager_tf: None) -> None:
    syn_x, syn_y, raw, real_x, real_y = _data()
    fm = FunctionalModel(hermitian_model)
    images, raw_rates = tf.Variable(syn_x), tf.Variable(raw)
    gradients = make_outer_step(fm, images, tf.constant(syn_y), raw_rates, optimizer=None)
    loss, (grad_images, grad_rates) = gradients(fm.current(), tf.constant(real_x), tf.constant(real_y))

    ref = DDReference.from_keras(hermitian_model)
    ref_loss, ref_images, ref_rates = ref.outer_step(None, syn_x, syn_y, raw, real_x, real_y)

    assert ref_loss == pytest.approx(float(loss), rel=1e-5)
    assert ref_images.shape == syn_x.shape and ref_rates.shape == raw.shape
    scale = np.abs(grad_images.numpy()).max()
    assert scale > 0
    np.testing.assert_allclose(ref_images, grad_images.numpy(), rtol=1e-3, atol=1e-3 * scale)
    np.testing.assert_allclose(ref_rates, grad_rates.numpy(), rtol=1e-3, atol=1e-5)
    # outer_step copies its inputs: the reference's own parameters are untouched
    for p, v in zip(ref.params, hermitian_model.trainable_variables):
        np.testing.assert_array_equal(p.detach().numpy(), v.numpy())


def test_circuit_weights_train_through_the_inner_step(hermitian_model: tf.keras.Model, eager_tf: None) -> None:
    syn_x, syn_y, raw, real_x, real_y = _data(seed=1)
    rates = np.log1p(np.exp(raw[:1]))  # one inner step
    ref = DDReference.from_keras(hermitian_model, observable="pauli")  # the other readout path
    k = ref.names.index("pqc/circuit_weights")

    w0 = [p.detach().clone().requires_grad_(True) for p in ref.params]
    w1 = ref.inner_train(w0, torch.tensor(syn_x), syn_y, torch.tensor(rates))
    loss = ref.loss(w1, real_x, real_y)
    grad_w1, grad_w0 = torch.autograd.grad(loss, [w1[k], w0[k]])
    assert float(grad_w1.norm()) > 1e-4 and float(grad_w0.norm()) > 1e-4
    assert float((w1[k] - w0[k]).detach().abs().max()) > 0  # the angles moved

    fm = FunctionalModel(hermitian_model)
    native = inner_train(fm, fm.current(), tf.constant(syn_x), tf.constant(syn_y), tf.constant(rates))
    for name, ours, theirs in zip(ref.names, w1, native):
        np.testing.assert_allclose(ours.detach().numpy(), theirs.numpy(), rtol=1e-4, atol=1e-5, err_msg=name)


def test_torchlayer_under_functional_call_gives_circuit_weights_no_gradient() -> None:
    norms = torchlayer_functional_call_gradients()
    assert not norms["functional_call"]  # None (unused): the published bug
    assert norms["explicit"] > 1e-3


def test_time_outer_step_returns_one_timing_per_step_and_restores_threads(hermitian_model: tf.keras.Model) -> None:
    ref = DDReference.from_keras(hermitian_model)
    threads = torch.get_num_threads()
    seconds = time_outer_step(ref, n_synthetic=4, real_batch=4, steps=2, warmup=0, threads=1)
    assert len(seconds) == 2 and all(s > 0 for s in seconds)
    assert torch.get_num_threads() == threads


def test_bad_readout_or_weights_raise_value_error(hermitian_model: tf.keras.Model) -> None:
    weights = {la.name: [w.numpy() for w in la.weights] for la in hermitian_model.layers if la.weights}
    with pytest.raises(ValueError, match="readout must be one of"):
        DDReference(weights, readout="xyz")
    with pytest.raises(ValueError, match="observable must be one of"):
        DDReference(weights, observable="pauli-z")
    with pytest.raises(ValueError, match="'conv2'"):
        DDReference({**weights, "conv2": weights["conv2"][:1]})
