"""Building blocks for dataset plugins that read standard files from well-known places.

A :class:`FileDataset` searches, in order: an explicit data folder, the Keras cache
(``~/.keras/datasets``, or ``$KERAS_HOME/datasets``), any extra system folders, then
downloads the official files into the Keras cache. When everything fails, the error
lists every place tried and how to get the files.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from qkernel.plugin.contracts import RawDataset
from qkernel.data.formats import download
from qkernel.errors import DatasetNotFoundError


@dataclass(frozen=True)
class RemoteFile:
    """One file of an official download.

    Attributes:
        name: File name (relative to the dataset folder).
        url: Where to download it from.
        sha256: Expected SHA-256, or ``None`` when the publisher gives none.
    """

    name: str
    url: str
    sha256: str | None = None


def keras_cache() -> Path:
    """The Keras dataset cache folder (``$KERAS_HOME/datasets`` or ``~/.keras/datasets``)."""
    return Path(os.environ.get("KERAS_HOME", Path.home() / ".keras")) / "datasets"


class FileDataset:
    """Base class for datasets stored as files in a folder.

    Subclasses set the class attributes and implement :meth:`read`.

    Attributes:
        name, description, image_shape, class_names: As in :class:`qkernel.plugin.contracts.DatasetSource`.
        files: File names that must all exist in a folder for it to count as a copy.
        subdir: Folder name of the dataset inside the Keras cache ("" for the cache itself).
        system_dirs: Extra folders searched after the Keras cache.
        remote: Files of the official download (fetched into the Keras cache).
        how_to_get: One sentence telling a user how to obtain the files offline.
    """

    name: str
    description: str
    image_shape: tuple[int, ...]
    class_names: tuple[str, ...]
    files: tuple[str, ...]
    subdir: str = ""
    system_dirs: tuple[Path, ...] = ()
    remote: tuple[RemoteFile, ...] = ()
    how_to_get: str = ""

    @property
    def downloadable(self) -> bool:
        """Whether the official download is known (:attr:`remote`)."""
        return bool(self.remote)

    def read(self, folder: Path) -> RawDataset:
        """Read the files from ``folder`` (all of :attr:`files` exist there)."""
        raise NotImplementedError

    def candidates(self, data_dir: Path | None) -> list[Path]:
        """Folders searched, in order."""
        dirs = []
        if data_dir is not None:
            dirs += [Path(data_dir), Path(data_dir) / self.subdir] if self.subdir else [Path(data_dir)]
        dirs.append(keras_cache() / self.subdir)
        dirs += list(self.system_dirs)
        return list(dict.fromkeys(dirs))

    def fetch(self) -> None:
        """Download :attr:`remote` into the Keras cache (skipping files already there).

        Raises:
            OSError: on network failure.
        """
        target = keras_cache() / self.subdir
        for rf in self.remote:
            if not (target / rf.name).is_file():
                download(rf.url, target / rf.name, sha256=rf.sha256)

    def locate(self, data_dir: Path | None) -> str | None:
        """The first folder holding every file, or ``None``."""
        for folder in self.candidates(data_dir):
            if all((folder / f).is_file() for f in self.files):
                return str(folder)
        return None

    def load(self, data_dir: Path | None, *, download: bool) -> RawDataset:
        """Read from the first complete folder, else download, else explain.

        Raises:
            DatasetNotFoundError: listing every folder and URL tried and how to get the files.
        """
        tried: list[str] = []
        for folder in self.candidates(data_dir):
            present = [f for f in self.files if (folder / f).is_file()]
            if len(present) == len(self.files):
                return self.read(folder)
            missing = sorted(set(self.files) - set(present))
            tried.append(f"{folder}: " + ("folder does not exist" if not folder.is_dir() else f"missing {', '.join(missing)}"))
        if download and self.remote:
            try:
                self.fetch()
                return self.read(keras_cache() / self.subdir)
            except OSError as exc:
                tried.append(f"download of {', '.join(r.url for r in self.remote)}: failed ({exc})")
        elif self.remote:
            tried.append("download: disabled (data.download=false)")
        raise DatasetNotFoundError(
            f"dataset {self.name!r} not found. Tried:\n  - " + "\n  - ".join(tried)
            + f"\nExpected files: {', '.join(self.files)}.\nTo get them: {self.how_to_get}"
            + " Or put them in a folder and pass --data-dir (params: data.data_dir)."
        )
