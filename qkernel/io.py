"""Atomic file output: every artifact appears complete or not at all."""

from __future__ import annotations

import io
import json
import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np


def atomic_write_bytes(path: str | Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` through a temporary file in the same folder and a rename.

    Returns:
        The path written.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path


def atomic_write_text(path: str | Path, text: str) -> Path:
    """Write UTF-8 text atomically (see :func:`atomic_write_bytes`)."""
    return atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: str | Path, obj: Any) -> Path:
    """Write ``obj`` as indented, key-sorted JSON atomically."""
    return atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=True, default=_json_default) + "\n")


def atomic_save_npz(path: str | Path, arrays: dict[str, np.ndarray]) -> Path:
    """Save arrays as a compressed ``.npz`` atomically (no pickled objects)."""
    buf = io.BytesIO()
    np.savez_compressed(buf, **arrays)
    return atomic_write_bytes(path, buf.getvalue())


def read_npz(path: str | Path) -> dict[str, np.ndarray]:
    """All arrays of an ``.npz`` artifact (pickled objects are refused)."""
    with np.load(path, allow_pickle=False) as arrays:
        return {k: arrays[k] for k in arrays.files}


def save_weights(model: Any, path: str | Path) -> Path:
    """A Keras model's variables (``model.weights``, in order) as an npz, written atomically."""
    return atomic_save_npz(path, {f"{i:04d}": v.numpy() for i, v in enumerate(model.weights)})


def load_weights(model: Any, path: str | Path) -> Any:
    """Load weights written by :func:`save_weights` into a model of the same architecture.

    Raises:
        ValueError: if the number or shapes of the arrays do not match the model's variables.
    """
    arrays = read_npz(path)
    values = [arrays[k] for k in sorted(arrays)]
    if len(values) != len(model.weights):
        raise ValueError(f"{path} holds {len(values)} arrays, the model has {len(model.weights)} variables")
    for var, value in zip(model.weights, values):
        if tuple(var.shape) != value.shape:
            raise ValueError(f"{path}: array of shape {value.shape} for variable {var.name} of shape {tuple(var.shape)}")
        var.assign(value)
    return model


def _json_default(obj: Any) -> Any:
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"cannot serialise {type(obj).__name__} to JSON")
