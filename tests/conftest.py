"""Shared fixtures: an isolated Keras cache, writers of tiny files in each real dataset format, a real
Prefect server, and one tiny knowledge- and dataset-distillation run through the real flows that the
flow, CLI, DVC and lifecycle tests share (training is done once per session, not once per test)."""

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


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Order the run for two workers (``--dist loadgroup``): the tests sharing :func:`tiny_flows` form one group,
    so one worker trains it once (not each worker that draws one of them), and tests marked ``slow`` start
    first, so no long test is left running alone at the end while the other worker idles."""
    for item in items:
        if "tiny_flows" in item.fixturenames:
            item.add_marker(pytest.mark.xdist_group("tiny_flows"))
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)  # stable: the rest keep their order


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


#: A knowledge-distillation configuration small enough for CI: 20 images per class, 4 qubits, 2 epochs, 2 seeds
#: (the quantum student and both classical controls, baseline and KD: 12 students; a paired CI needs 2 seeds).
TINY_KD = ["data.per_class=20", "data.test_per_class=10", "student.n_qubits=4", "student.depth=2",
           "student.epochs=2", "student.batch_size=32", "teacher.model=lenet5", "teacher.epochs=2",
           "kd.seeds=[0, 1]"]
_PM = "dd.methods.performance-matching."
#: A dataset-distillation configuration small enough for CI (LeNet and a 4-qubit quantum LeNet).
TINY_DD = ["dd.images_per_class=2", f"{_PM}steps=2", f"{_PM}epochs=1", "dd.outer_steps=3", f"{_PM}init_pool=2",
           "dd.real_batch=64", "dd.eval.inits=2", "dd.eval.real_draws=2", "dd.eval.full_inits=1", "dd.eval.epochs=3",
           "dd.eval.full_epochs=1",
           "dd.method=performance-matching", f"{_PM}init=fixed",  # the one method with a known init to show apart
           "dd.models=[{label: lenet, model: lenet, options: {}},"
           " {label: qlenet, model: quantum_lenet, options: {readout: hermitian, n_qubits: 4, depth: 1}}]"]

#: A plugin that records every lifecycle hook call (stage, event, pid) as a JSON line beside itself.
HOOK_RECORDER = """
import json, os
from pathlib import Path
from qkernel.plugin import hookimpl

LOG = Path(__file__).with_name("hooks.jsonl")


def _record(**entry):
    with open(LOG, "a") as fh:  # one short line per write: atomic enough across worker processes
        fh.write(json.dumps({**entry, "pid": os.getpid()}) + "\\n")


@hookimpl
def before_stage(stage, params):
    _record(stage=stage, event="before", seed=params["seed"])


@hookimpl
def after_stage(stage, params, result):
    _record(stage=stage, event="after")


@hookimpl
def on_stage_error(stage, params, error):
    _record(stage=stage, event="error", error=type(error).__name__)
"""


@pytest.fixture(scope="session")
def tiny_flows(prefect_server, tmp_path_factory: pytest.TempPathFactory):
    """The KD and DD flows run once on the tiny configuration, a hook-recording plugin loaded.

    Returns a namespace: ``overrides`` (the ``-S`` values used), ``kd_state``/``dd_state`` (Prefect
    flow-run states), ``kd``/``dd`` (their results) and ``hooks`` (the recorder's log file).
    """
    import types

    from flows.dd import dd_pipeline
    from flows.kd import kd_pipeline

    root = tmp_path_factory.mktemp("tiny_flows")
    plugins = root / "plugins"
    plugins.mkdir()
    (plugins / "recorder.py").write_text(HOOK_RECORDER)
    overrides = [*TINY_KD, *TINY_DD, f"runs_dir={root / 'runs'}", f"data.out_dir={root / 'data'}",
                 f"plugins.paths=[{plugins}]"]
    kd_state = kd_pipeline(overrides=overrides, return_state=True)
    dd_state = dd_pipeline(overrides=overrides, return_state=True)
    return types.SimpleNamespace(overrides=overrides, kd_state=kd_state, dd_state=dd_state, kd=kd_state.result(),
                                 dd=dd_state.result(), hooks=plugins / "hooks.jsonl", root=root)
