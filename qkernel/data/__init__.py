"""Data layer: dataset plugins' raw files → validated, split, normalised, versioned arrays."""

from __future__ import annotations

from pathlib import Path

from qkernel.config import Params
from qkernel.data.prepare import SPLITS, PreparedDataset, load_prepared, prepare, save_prepared
from qkernel.plugin.lifecycle import stage
from qkernel.plugin.registry import Registry, get_registry

__all__ = [
    "SPLITS", "PreparedDataset", "load_dataset", "load_prepared", "prepare", "prepare_stage", "prepared_path",
    "save_prepared",
]


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
