"""Readers of the standard dataset formats: correct loading and clear rejection."""

from __future__ import annotations

import gzip
import os
import pickle
from pathlib import Path

import numpy as np
import pytest

from qkernel.data.formats import (
    cifar_to_images, download, read_cifar_batch, read_idx_gz, read_npz, sha256_of,
)
from qkernel.errors import DataFormatError


def test_idx_roundtrip(tmp_path: Path, writers) -> None:
    x, _ = writers.images(7, (28, 28))
    got = read_idx_gz(writers.idx_gz(tmp_path / "a-idx3-ubyte.gz", x))
    assert got.dtype == np.uint8 and got.shape == (7, 28, 28)
    np.testing.assert_array_equal(got, x)


def test_idx_labels(tmp_path: Path, writers) -> None:
    labels = np.arange(13, dtype=np.uint8) % 10
    np.testing.assert_array_equal(read_idx_gz(writers.idx_gz(tmp_path / "l.gz", labels)), labels)


def test_idx_truncated_gzip(tmp_path: Path, writers) -> None:
    path = writers.idx_gz(tmp_path / "t.gz", writers.images(50, (28, 28))[0])
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(DataFormatError, match="corrupt or truncated gzip"):
        read_idx_gz(path)


def test_idx_not_gzip(tmp_path: Path) -> None:
    path = tmp_path / "x.gz"
    path.write_bytes(b"this is not gzip at all")
    with pytest.raises(DataFormatError, match=str(path)):
        read_idx_gz(path)


def test_idx_payload_shorter_than_header_says(tmp_path: Path) -> None:
    path = tmp_path / "short.gz"
    with gzip.open(path, "wb") as fh:  # header announces 5x28x28 but holds 100 bytes
        fh.write(bytes([0, 0, 8, 3]) + (5).to_bytes(4, "big") + (28).to_bytes(4, "big") * 2 + b"\0" * 100)
    with pytest.raises(DataFormatError, match=r"shape \(5, 28, 28\).*holds 100 bytes"):
        read_idx_gz(path)


def test_idx_bad_magic(tmp_path: Path) -> None:
    path = tmp_path / "magic.gz"
    with gzip.open(path, "wb") as fh:
        fh.write(b"\x12\x34\x56\x78" + b"\0" * 16)
    with pytest.raises(DataFormatError, match="bad IDX magic 12345678"):
        read_idx_gz(path)


def test_npz(tmp_path: Path, writers) -> None:
    arrays = read_npz(writers.mnist_npz(tmp_path))
    assert arrays["x_train"].shape == (40, 28, 28) and arrays["y_test"].shape == (20,)


def test_npz_missing_key(tmp_path: Path) -> None:
    np.savez(tmp_path / "m.npz", x_train=np.zeros((2, 28, 28)))
    with pytest.raises(DataFormatError, match=r"missing arrays \['y_train', 'x_test', 'y_test'\]"):
        read_npz(tmp_path / "m.npz")


def test_npz_with_pickled_objects_is_rejected(tmp_path: Path) -> None:
    np.savez(tmp_path / "o.npz", x_train=np.array([{"a": 1}], dtype=object), y_train=0, x_test=0, y_test=0)
    with pytest.raises(DataFormatError, match="not a readable .npz"):
        read_npz(tmp_path / "o.npz")


def test_npz_corrupt(tmp_path: Path) -> None:
    (tmp_path / "c.npz").write_bytes(b"PK\x03\x04 garbage")
    with pytest.raises(DataFormatError):
        read_npz(tmp_path / "c.npz")


def test_cifar_batch_roundtrip(tmp_path: Path, writers) -> None:
    data, labels = writers.cifar_batch(tmp_path / "data_batch_1", 12)
    batch = read_cifar_batch(tmp_path / "data_batch_1")
    np.testing.assert_array_equal(batch["data"], data)
    assert batch["labels"].tolist() == labels
    images = cifar_to_images(batch["data"])
    assert images.shape == (12, 32, 32, 3)
    # channel-major rows: first 1024 bytes are the red plane
    np.testing.assert_array_equal(images[0, :, :, 0].ravel(), data[0, :1024])


class _Exploit:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_malicious_cifar_pickle_is_rejected_without_running(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    path = tmp_path / "data_batch_1"
    path.write_bytes(pickle.dumps({b"data": _Exploit(marker), b"labels": [0]}, protocol=2))
    with pytest.raises(DataFormatError, match=r"refusing to load (posix|os)\.system"):
        read_cifar_batch(path)
    assert not marker.exists()


def test_cifar_batch_wrong_content(tmp_path: Path) -> None:
    path = tmp_path / "b"
    path.write_bytes(pickle.dumps({b"data": np.zeros((2, 10), np.uint8), b"labels": [0, 1]}, protocol=2))
    with pytest.raises(DataFormatError, match=r"uint8 of shape \(n, 3072\)"):
        read_cifar_batch(path)
    path.write_bytes(pickle.dumps([1, 2, 3], protocol=2))
    with pytest.raises(DataFormatError, match="expected a dict"):
        read_cifar_batch(path)
    path.write_bytes(b"\x80\x02 truncated")
    with pytest.raises(DataFormatError, match="not a readable CIFAR-10 batch"):
        read_cifar_batch(path)


def test_download_verifies_and_is_atomic(tmp_path: Path) -> None:
    src = tmp_path / "src.bin"
    src.write_bytes(b"payload" * 100)
    dest = tmp_path / "cache" / "file.bin"
    download(src.as_uri(), dest, sha256=sha256_of(src))
    assert dest.read_bytes() == src.read_bytes()

    bad = tmp_path / "cache" / "bad.bin"
    with pytest.raises(DataFormatError, match="SHA-256"):
        download(src.as_uri(), bad, sha256="0" * 64)
    assert not bad.exists() and list(bad.parent.glob(".bad.bin.*")) == []
