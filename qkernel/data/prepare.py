"""From a dataset plugin's raw arrays to validated, split, normalised, versionable data."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from qkernel.config import DataParams
from qkernel.plugin.contracts import DatasetSource, RawDataset
from qkernel.errors import DataFormatError
from qkernel.io import atomic_save_npz, atomic_write_json

SPLITS = ("train", "val", "test")


@dataclass
class PreparedDataset:
    """Train/validation/test splits ready for training.

    Attributes:
        name: Dataset plugin name.
        x: Split name → float32 images ``(n, H, W[, C])``.
        y: Split name → int64 labels in ``[0, num_classes)``.
        class_names: Name of each (remapped) label.
        meta: Provenance: source, options, normalisation statistics, counts, hashes.
    """

    name: str
    x: dict[str, np.ndarray]
    y: dict[str, np.ndarray]
    class_names: tuple[str, ...]
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    @property
    def image_shape(self) -> tuple[int, ...]:
        return tuple(self.x["train"].shape[1:])

    def counts(self) -> dict[str, list[int]]:
        """Images per class in each split."""
        return {s: np.bincount(self.y[s], minlength=self.num_classes).tolist() for s in SPLITS}


def validate_raw(source: DatasetSource, raw: RawDataset) -> None:
    """Check shapes, dtypes and label ranges of a plugin's raw arrays.

    Raises:
        DataFormatError: naming the dataset, the array and what was expected.
    """
    n_classes = len(source.class_names)
    pairs = [("train", raw.x_train, raw.y_train)]
    if raw.x_test is not None or raw.y_test is not None:
        if raw.x_test is None or raw.y_test is None:
            raise DataFormatError(f"{source.name}: x_test and y_test must both be given or both be None")
        pairs.append(("test", raw.x_test, raw.y_test))
    for split, x, y in pairs:
        where = f"{source.name} ({raw.source}) {split}"
        if x.shape[1:] != tuple(source.image_shape):
            raise DataFormatError(f"{where}: images have shape {x.shape[1:]}, expected {tuple(source.image_shape)}")
        if not (np.issubdtype(x.dtype, np.integer) or np.issubdtype(x.dtype, np.floating)):
            raise DataFormatError(f"{where}: images have dtype {x.dtype}, expected integers or floats")
        if y.ndim != 1 or len(y) != len(x):
            raise DataFormatError(f"{where}: {len(x)} images but labels of shape {y.shape}")
        if not np.issubdtype(y.dtype, np.integer):
            raise DataFormatError(f"{where}: labels have dtype {y.dtype}, expected integers")
        if len(y) and (y.min() < 0 or y.max() >= n_classes):
            raise DataFormatError(f"{where}: labels span [{y.min()}, {y.max()}], expected [0, {n_classes - 1}]")
        if np.issubdtype(x.dtype, np.floating) and not np.isfinite(x).all():
            raise DataFormatError(f"{where}: images contain NaN or infinite values")


def _stratified_split(y: np.ndarray, fraction: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Indices (kept, held_out), holding out round(fraction * n_c) of each class (≥1 if fraction > 0)."""
    kept, held = [], []
    for c in np.unique(y):
        idx = rng.permutation(np.flatnonzero(y == c))
        k = int(round(fraction * len(idx)))
        if fraction > 0 and len(idx) > 1:
            k = min(max(k, 1), len(idx) - 1)
        held.append(idx[:k])
        kept.append(idx[k:])
    return np.sort(np.concatenate(kept)), np.sort(np.concatenate(held))


def _cap(y: np.ndarray, per_class: int | None, rng: np.random.Generator) -> np.ndarray:
    if per_class is None:
        return np.arange(len(y))
    return np.sort(np.concatenate([rng.permutation(np.flatnonzero(y == c))[:per_class] for c in np.unique(y)]))


def prepare(source: DatasetSource, raw: RawDataset, params: DataParams, seed: int) -> PreparedDataset:
    """Validate, subset, split and normalise a raw dataset deterministically.

    The official test split is kept when the source has one; otherwise a stratified
    ``test_fraction`` is held out. Validation is a stratified ``val_fraction`` of the
    remaining training pool. Labels of a class subset are remapped to ``0..k-1``.
    Normalisation statistics come from the training split only.

    Raises:
        DataFormatError: if the raw data is malformed, or a requested class is absent.
    """
    validate_raw(source, raw)
    rng = np.random.default_rng(seed)
    x_pool, y_pool = raw.x_train, raw.y_train.astype(np.int64)
    if raw.x_test is None:
        keep, test = _stratified_split(y_pool, params.test_fraction, rng)
        x_test, y_test = x_pool[test], y_pool[test]
        x_pool, y_pool = x_pool[keep], y_pool[keep]
    else:
        x_test, y_test = raw.x_test, raw.y_test.astype(np.int64)

    classes = params.classes or tuple(range(len(source.class_names)))
    missing = [c for c in classes if c >= len(source.class_names)]
    if missing:
        raise DataFormatError(
            f"{source.name} has classes 0-{len(source.class_names) - 1}; requested classes {missing} do not exist"
        )
    remap = np.full(len(source.class_names), -1, dtype=np.int64)
    remap[list(classes)] = np.arange(len(classes))

    def select(x: np.ndarray, y: np.ndarray, cap: int | None) -> tuple[np.ndarray, np.ndarray]:
        mask = np.flatnonzero(remap[y] >= 0)
        x, y = x[mask], remap[y[mask]]
        idx = _cap(y, cap, rng)
        return x[idx], y[idx]

    x_pool, y_pool = select(x_pool, y_pool, params.per_class)
    x_test, y_test = select(x_test, y_test, params.test_per_class)
    train, val = _stratified_split(y_pool, params.val_fraction, rng)

    xs = {"train": x_pool[train], "val": x_pool[val], "test": x_test}
    ys = {"train": y_pool[train], "val": y_pool[val], "test": y_test}
    for split in SPLITS:
        if len(ys[split]) == 0 and not (split == "val" and params.val_fraction == 0):
            raise DataFormatError(f"{source.name}: the {split} split is empty after subsetting; use more data")
    scale = 255.0 if np.issubdtype(raw.x_train.dtype, np.integer) or raw.x_train.max() > 1.0 else 1.0
    stats: dict[str, float] = {"scale": scale}
    if params.normalize == "none":
        xs = {s: v.astype(np.float32) for s, v in xs.items()}
    else:
        xs = {s: (v.astype(np.float32) / np.float32(scale)) for s, v in xs.items()}
        if params.normalize == "standard":
            mean, std = float(xs["train"].mean()), float(xs["train"].std()) or 1.0
            xs = {s: (v - mean) / np.float32(std) for s, v in xs.items()}
            stats.update(mean=mean, std=std)

    meta = {
        "name": source.name,
        "source": raw.source,
        "source_sizes": {"train": len(raw.y_train), "test": None if raw.y_test is None else len(raw.y_test)},
        "seed": seed,
        "options": params.model_dump(mode="json", exclude={"out_dir", "data_dir", "download"}),
        "normalization": {"mode": params.normalize, **stats},
        "original_classes": list(classes),
    }
    data = PreparedDataset(source.name, xs, ys, tuple(source.class_names[c] for c in classes), meta)
    meta["image_shape"] = list(data.image_shape)
    meta["class_names"] = list(data.class_names)
    meta["sizes"] = {s: int(len(ys[s])) for s in SPLITS}
    meta["counts"] = data.counts()
    return data


def save_prepared(data: PreparedDataset, out_dir: Path, stem: str | None = None) -> tuple[Path, Path]:
    """Write ``<out_dir>/<stem>.npz`` and ``<stem>.json`` (metadata with content hashes), atomically.

    Args:
        data: The prepared dataset.
        out_dir: Destination folder.
        stem: File name without suffix (default: the dataset name).

    Returns:
        The two paths.
    """
    stem = stem or data.name
    arrays = {f"{k}_{s}": getattr(data, k)[s] for k in ("x", "y") for s in SPLITS}
    npz = atomic_save_npz(Path(out_dir) / f"{stem}.npz", arrays)
    meta = dict(data.meta)
    meta["sha256"] = {name: array_hash(a) for name, a in arrays.items()}
    meta_path = atomic_write_json(Path(out_dir) / f"{stem}.json", meta)
    return npz, meta_path


def load_prepared(npz_path: Path) -> PreparedDataset:
    """Read a dataset written by :func:`save_prepared`, verifying the array hashes.

    Raises:
        DataFormatError: if a file is missing, or an array does not match its recorded hash.
    """
    npz_path = Path(npz_path)
    meta_path = npz_path.with_suffix(".json")
    if not npz_path.is_file() or not meta_path.is_file():
        raise DataFormatError(f"prepared dataset {npz_path} (and {meta_path.name}) not found; run `qdistill data prepare`")
    meta = json.loads(meta_path.read_text())
    with np.load(npz_path, allow_pickle=False) as archive:
        arrays = {k: archive[k] for k in archive.files}
    for name, digest in meta.get("sha256", {}).items():
        if name not in arrays or array_hash(arrays[name]) != digest:
            raise DataFormatError(f"{npz_path}: array {name!r} does not match the hash in {meta_path.name}")
    return PreparedDataset(
        meta["name"],
        {s: arrays[f"x_{s}"] for s in SPLITS},
        {s: arrays[f"y_{s}"] for s in SPLITS},
        tuple(meta["class_names"]),
        meta,
    )


def array_hash(a: np.ndarray) -> str:
    """SHA-256 hex digest of an array's dtype, shape and contents (prepared files; caches keyed by data)."""
    h = hashlib.sha256(f"{a.dtype.str}{a.shape}".encode())
    h.update(np.ascontiguousarray(a).tobytes())
    return h.hexdigest()
