"""Shared fixtures: an isolated Keras cache, and writers of tiny files in each real dataset format."""

from __future__ import annotations

import gzip
import pickle
import struct
from pathlib import Path

import numpy as np
import pytest

import qkernel  # noqa: F401  (environment first)

# Prefect binds its console log handler to the sys.stderr of the moment its logging is first
# configured. Configure it now, while that is pytest's session-long stream, not a CliRunner
# stream that a test closes (a later log line would then crash the interpreter).
from prefect.logging.configuration import setup_logging  # noqa: E402

setup_logging()


@pytest.fixture(autouse=True)
def isolated_keras_home(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Point the Keras cache at an empty folder so tests never see or touch ~/.keras."""
    home = tmp_path_factory.mktemp("keras_home")
    monkeypatch.setenv("KERAS_HOME", str(home))
    return home


def write_idx_gz(path: Path, array: np.ndarray) -> Path:
    """Write ``array`` (uint8) as a gzip-compressed IDX file, as MNIST ships them."""
    header = bytes([0, 0, 0x08, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    path.parent.mkdir(parents=True, exist_ok=True)
    with gzip.open(path, "wb") as fh:
        fh.write(header + np.ascontiguousarray(array, dtype=np.uint8).tobytes())
    return path


def tiny_images(n: int, shape: tuple[int, ...], seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``n`` random uint8 images and balanced labels 0..9."""
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, size=(n, *shape), dtype=np.uint8), np.arange(n) % 10


def write_fashion(folder: Path, n_train: int = 40, n_test: int = 20) -> Path:
    """The four Fashion-MNIST IDX .gz files with tiny random content."""
    x, y = tiny_images(n_train, (28, 28))
    xt, yt = tiny_images(n_test, (28, 28), seed=1)
    write_idx_gz(folder / "train-images-idx3-ubyte.gz", x)
    write_idx_gz(folder / "train-labels-idx1-ubyte.gz", y.astype(np.uint8))
    write_idx_gz(folder / "t10k-images-idx3-ubyte.gz", xt)
    write_idx_gz(folder / "t10k-labels-idx1-ubyte.gz", yt.astype(np.uint8))
    return folder


def write_mnist_npz(folder: Path, n_train: int = 40, n_test: int = 20) -> Path:
    """A Keras-format ``mnist.npz`` with tiny random content."""
    x, y = tiny_images(n_train, (28, 28))
    xt, yt = tiny_images(n_test, (28, 28), seed=1)
    folder.mkdir(parents=True, exist_ok=True)
    np.savez(folder / "mnist.npz", x_train=x, y_train=y.astype(np.uint8), x_test=xt, y_test=yt.astype(np.uint8))
    return folder / "mnist.npz"


def write_cifar_batch(path: Path, n: int, seed: int = 0) -> tuple[np.ndarray, list[int]]:
    """One CIFAR-10 python batch exactly as the official files are laid out (protocol 2, bytes keys)."""
    rng = np.random.default_rng(seed)
    data = rng.integers(0, 256, size=(n, 3072), dtype=np.uint8)
    labels = [int(v) for v in np.arange(n) % 10]
    batch = {b"batch_label": b"tiny batch", b"labels": labels, b"data": data,
             b"filenames": [f"img_{i}.png".encode() for i in range(n)]}
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as fh:
        pickle.dump(batch, fh, protocol=2)
    return data, labels


def write_cifar(folder: Path, per_batch: int = 10) -> Path:
    """The five training batches and the test batch of CIFAR-10, tiny."""
    for i in range(1, 6):
        write_cifar_batch(folder / f"data_batch_{i}", per_batch, seed=i)
    write_cifar_batch(folder / "test_batch", per_batch, seed=9)
    return folder


@pytest.fixture
def writers():
    """Access to the tiny-file writers from tests."""
    import types

    return types.SimpleNamespace(
        idx_gz=write_idx_gz, fashion=write_fashion, mnist_npz=write_mnist_npz,
        cifar_batch=write_cifar_batch, cifar=write_cifar, images=tiny_images,
    )


@pytest.fixture(scope="session")
def prefect_server():
    """A real, temporary Prefect API server (Prefect's test harness), shared by the session."""
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield
