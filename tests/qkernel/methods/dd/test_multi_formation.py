"""Multi-formed sets (``dd.factor``): storage and decoding, distilling through the decoding, the checks."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from qkernel.config import load_params
from qkernel.errors import ConfigError
from qkernel.methods.dd.stages import build_method, check_dd, load_distilled, save_distilled
from qkernel.methods.dd.synthetic import Distilled, DistillTask, decode, encode, initial_images
from qkernel.plugin.registry import get_registry


@pytest.mark.parametrize("shape", [(28, 28), (28, 28, 1), (32, 32, 3)])
@pytest.mark.parametrize("factor", [2, 3])
def test_decode_reads_back_what_encode_stored_tile_by_tile(shape, factor) -> None:
    # factor² flat images of different levels share one stored image; each comes back as its own level
    levels = np.arange(1, factor**2 + 1, dtype=np.float32)
    flat = np.broadcast_to(levels.reshape(-1, *[1] * len(shape)), (factor**2, *shape)).copy()
    stored = encode(flat, factor)
    assert stored.shape == (1, *shape)
    np.testing.assert_allclose(decode(stored, factor).numpy(), flat, atol=1e-5)


def test_decode_of_a_smooth_image_is_close_and_of_factor_one_is_the_image() -> None:
    ramp = np.linspace(0, 1, 28, dtype=np.float32)
    images = np.broadcast_to(ramp[None, :] * ramp[:, None], (4, 28, 28)).copy()
    np.testing.assert_array_equal(decode(images, 1).numpy(), images)
    assert encode(images, 1) is images
    assert np.abs(decode(encode(images, 2), 2).numpy() - images).max() < 0.05


def test_every_stored_pixel_receives_gradient_through_the_decoding() -> None:
    stored = tf.Variable(np.random.default_rng(0).random((2, 28, 28, 1), np.float32))
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(tf.square(decode(stored, 2)))
    grad = tape.gradient(loss, stored).numpy()
    assert grad.shape == (2, 28, 28, 1) and np.all(grad != 0)


def test_real_init_tiles_factor_squared_different_real_images_into_each_stored_one() -> None:
    x = np.stack([np.full((8, 8), k, np.float32) for k in range(40)])
    y = np.repeat(np.arange(2), 20)
    images, labels = initial_images(x, y, 2, 2, "real", seed=0, factor=2)
    assert images.shape == (4, 8, 8) and labels.tolist() == [0, 0, 1, 1]
    tiles = decode(images, 2).numpy()[:, 0, 0]  # each decoded image is one constant real image
    assert len(set(tiles.tolist())) == 16 and all(t < 20 for t in tiles[:8]) and all(t >= 20 for t in tiles[8:])


@pytest.mark.slow
@pytest.mark.parametrize("method, options", [
    ("distribution-matching", ["dd.methods.distribution-matching.init_pool=2"]),
    ("gradient-matching", ["dd.methods.gradient-matching.init_pool=2", "dd.methods.gradient-matching.outer_loop=2",
                           "dd.methods.gradient-matching.inner_loop=1"]),
])
def test_a_decoding_method_distils_a_multi_formed_set_that_trains_on_its_decoded_images(tmp_path, method,
                                                                                       options) -> None:
    from qkernel.data import load_dataset

    def lenet(seed: int) -> tf.keras.Model:
        tf.keras.utils.set_random_seed(seed)
        return get_registry().create("model", "lenet", input_shape=(28, 28), num_classes=2)

    p = load_params(None, ["data.classes=0,1", "data.per_class=20", "data.test_per_class=5",
                           f"data.out_dir={tmp_path}", f"dd.method={method}", *options])
    data = load_dataset(p)
    task = DistillTask(lenet, data.x["train"], data.y["train"], 2,
                       images_per_class=1, image_init="real", outer_steps=2, real_batch=8, seed=0, factor=2)
    result = build_method(p).distill(task)
    start, _ = initial_images(data.x["train"], data.y["train"], 2, 1, "real", 0, factor=2)
    assert result.factor == 2 and result.images.shape == (2, 28, 28) and np.abs(result.images - start).max() > 1e-6
    x, y = result.training_set()
    assert x.shape == (8, 28, 28) and y.tolist() == [0, 0, 0, 0, 1, 1, 1, 1]
    np.testing.assert_allclose(x, decode(result.images, 2).numpy())
    assert load_distilled(save_distilled(result, tmp_path / "set")).factor == 2


def test_a_method_that_does_not_decode_refuses_a_factor_and_old_sets_read_as_factor_one(tmp_path) -> None:
    decoding = r"\(distribution-matching, gradient-matching\)"  # the registered methods that decode
    with pytest.raises(ConfigError, match=rf"dd.factor=2: performance-matching .*{decoding}"):
        check_dd(load_params(None, ["dd.method=performance-matching", "dd.factor=2"]))
    check_dd(load_params(None, ["dd.factor=2"]))  # distribution matching decodes
    check_dd(load_params(None, ["dd.method=gradient-matching", "dd.factor=2"]))  # so does gradient matching
    with pytest.raises(ConfigError, match="dd.factor"):
        load_params(None, ["dd.factor=0"])
    path = save_distilled(Distilled(np.zeros((2, 4, 4), np.float32), np.arange(2), np.zeros(0, np.float32)), tmp_path)
    with np.load(path) as stored:
        older = {k: stored[k] for k in stored.files if k != "factor"}
    np.savez(path, **older)  # a set written before dd.factor existed
    assert load_distilled(path).factor == 1


def test_a_set_is_evaluated_with_the_factor_it_was_distilled_with(tmp_path) -> None:
    from qkernel.data import prepare_stage
    from qkernel.methods.dd.stages import score_sets

    p = load_params(None, ["data.per_class=4", "data.test_per_class=2", f"data.out_dir={tmp_path}",
                           "dd.models=[{label: lenet, model: lenet, options: {}}]"])
    _, npz = prepare_stage(p, tmp_path / "data")
    formed = Distilled(np.zeros((10, 28, 28), np.float32), np.arange(10), np.zeros(0, np.float32), factor=2)
    path = save_distilled(formed, tmp_path / "set")
    with pytest.raises(ConfigError, match=r"distilled with dd.factor=2; evaluate it with -S dd.factor=2 \(now 1\)"):
        score_sets(p, npz, "lenet", {"lenet": path})
