"""Data layer: dataset plugins' raw files → validated, split, normalised, versioned arrays."""

from __future__ import annotations

from pathlib import Path

from qkernel.config import Params
from qkernel.errors import ConfigError, QDistillError
from qkernel.plugin.contracts import DatasetSource
from qkernel.data.prepare import SPLITS, PreparedDataset, load_prepared, prepare, save_prepared
from qkernel.plugin.lifecycle import stage
from qkernel.plugin.registry import Registry, get_registry

__all__ = [
    "SPLITS", "PreparedDataset", "check_data", "load_dataset", "load_prepared", "prepare", "prepare_stage",
    "prepared_path", "save_prepared",
]


def check_data(params: Params, registry: Registry | None = None) -> DatasetSource:
    """The configured dataset's plugin, checked against ``data`` before any work (no files are read).

    Raises:
        ConfigError: an unknown dataset (``data.name``, listing the registered ones) or a class
            subset naming classes the dataset does not have (``data.classes``).
    """
    registry = registry or get_registry(params.plugins.paths)
    try:
        source = registry.create("dataset", params.data.name)
    except QDistillError as exc:
        raise ConfigError(f"data.name: {exc}") from exc
    n = len(source.class_names)
    missing = [c for c in params.data.classes or () if c >= n]
    if missing:
        raise ConfigError(f"data.classes: {params.data.name} has classes 0–{n - 1}; "
                          f"{', '.join(map(str, missing))} {'does' if len(missing) == 1 else 'do'} not exist")
    return source


def load_dataset(params: Params, registry: Registry | None = None) -> PreparedDataset:
    """Load the dataset named by ``params.data`` through its plugin and prepare it.

    Raises:
        qkernel.errors.PluginError: unknown dataset name (lists the registered ones).
        qkernel.errors.DatasetNotFoundError: no copy found (lists every place tried).
        qkernel.errors.DataFormatError: a file is corrupt or the arrays are malformed.
    """
    registry = registry or get_registry(params.plugins.paths)
    source = registry.create("dataset", params.data.name)
    raw = source.load(params.data.data_dir, download=params.data.download)
    return prepare(source, raw, params.data, params.seed)


def prepared_path(params: Params) -> Path:
    """Where ``qdistill data prepare`` writes the dataset named by ``params``."""
    return Path(params.data.out_dir) / f"{params.data.name}.npz"


@stage("prepare")
def prepare_stage(params: Params, out_dir: Path, stem: str | None = None) -> tuple[PreparedDataset, Path]:
    """Load and prepare the configured dataset; write ``<out_dir>/<stem>.npz`` + ``.json`` atomically.

    Returns:
        The prepared dataset and the ``.npz`` path.
    """
    data = load_dataset(params)
    npz, _ = save_prepared(data, Path(out_dir), stem=stem)
    return data, npz
