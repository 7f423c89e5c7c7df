"""Readers for the standard dataset file formats, and a verified downloader.

* Keras ``mnist.npz`` (arrays ``x_train``, ``y_train``, ``x_test``, ``y_test``);
* IDX files, gzip-compressed (MNIST / Fashion-MNIST: ``*-idx3-ubyte.gz`` images,
  ``*-idx1-ubyte.gz`` labels);
* CIFAR-10 "python version" batches: pickled dicts, read with a restricted unpickler
  that admits only the dict/list/bytes/ndarray content those files hold.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import pickle
import shutil
import struct
import tempfile
import urllib.request
import zipfile
import zlib
from pathlib import Path
from typing import Any

import numpy as np

from qkernel.errors import DataFormatError

# IDX type codes (third byte of the magic number) → numpy dtype (big-endian).
_IDX_DTYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def read_npz(path: Path, keys: tuple[str, ...] = ("x_train", "y_train", "x_test", "y_test")) -> dict[str, np.ndarray]:
    """Read arrays from an ``.npz`` file without allowing pickled objects.

    Raises:
        DataFormatError: if the file is not a valid npz, an array needs pickle, or a key is missing.
    """
    try:
        with np.load(path, allow_pickle=False) as archive:
            missing = [k for k in keys if k not in archive.files]
            if missing:
                raise DataFormatError(
                    f"{path}: missing arrays {missing}; expected {list(keys)}, found {archive.files}"
                )
            return {k: archive[k] for k in keys}
    except DataFormatError:
        raise
    except (ValueError, OSError, EOFError, zlib.error, KeyError, zipfile.BadZipFile) as exc:
        raise DataFormatError(f"{path}: not a readable .npz archive ({exc})") from exc


def read_idx_gz(path: Path) -> np.ndarray:
    """Read a gzip-compressed IDX file (the MNIST format) into an array.

    Raises:
        DataFormatError: on a bad gzip stream, a bad magic number, or a size that does not
            match the header (truncated or padded file).
    """
    try:
        with gzip.open(path, "rb") as fh:
            raw = fh.read()
    except (OSError, EOFError, zlib.error) as exc:
        raise DataFormatError(f"{path}: corrupt or truncated gzip file ({exc})") from exc
    if len(raw) < 4:
        raise DataFormatError(f"{path}: {len(raw)} bytes is too short for an IDX header")
    zero, zero2, type_code, ndim = raw[0], raw[1], raw[2], raw[3]
    if zero or zero2 or type_code not in _IDX_DTYPES or ndim == 0:
        raise DataFormatError(
            f"{path}: bad IDX magic {raw[:4].hex()}; expected 0000 + type byte "
            f"({', '.join(hex(t) for t in _IDX_DTYPES)}) + number of dimensions"
        )
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise DataFormatError(f"{path}: truncated IDX header ({len(raw)} bytes, expected {header})")
    shape = struct.unpack(f">{ndim}I", raw[4:header])
    dtype = np.dtype(_IDX_DTYPES[type_code])
    expected = int(np.prod(shape)) * dtype.itemsize
    if len(raw) - header != expected:
        raise DataFormatError(
            f"{path}: IDX header announces shape {shape} ({expected} bytes of data) "
            f"but the file holds {len(raw) - header} bytes"
        )
    return np.frombuffer(raw, dtype=dtype, offset=header).reshape(shape).astype(dtype.newbyteorder("="))


class _CifarUnpickler(pickle.Unpickler):
    """Unpickler that resolves only the globals a numpy array pickle needs."""

    ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
        ("numpy.core.multiarray", "scalar"),
        ("numpy._core.multiarray", "scalar"),
        ("_codecs", "encode"),  # protocol-2 pickles of bytes made under Python 3
    }

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in self.ALLOWED:
            return super().find_class(module, name)
        raise DataFormatError(
            f"refusing to load {module}.{name}: a CIFAR-10 batch may only contain dicts, lists, "
            "bytes, ints and numpy arrays"
        )


def read_cifar_batch(path: Path) -> dict[str, Any]:
    """Read one CIFAR-10 python batch safely.

    Returns:
        ``{"data": uint8 (n, 3072), "labels": int64 (n,)}``.

    Raises:
        DataFormatError: if the pickle references anything but numpy arrays, is corrupt,
            or lacks ``data``/``labels`` of matching length and the 3072-byte row size.
    """
    try:
        with open(path, "rb") as fh:
            obj = _CifarUnpickler(fh, encoding="bytes").load()
    except DataFormatError as exc:
        raise DataFormatError(f"{path}: {exc}") from exc
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError, IndexError) as exc:
        raise DataFormatError(f"{path}: not a readable CIFAR-10 batch ({exc!r})") from exc
    if not isinstance(obj, dict):
        raise DataFormatError(f"{path}: expected a dict, found {type(obj).__name__}")
    obj = {k.decode() if isinstance(k, bytes) else k: v for k, v in obj.items()}
    if "data" not in obj or "labels" not in obj:
        raise DataFormatError(f"{path}: expected keys 'data' and 'labels', found {sorted(map(str, obj))}")
    data, labels = np.asarray(obj["data"]), np.asarray(obj["labels"])
    if data.ndim != 2 or data.shape[1] != 3072 or data.dtype != np.uint8:
        raise DataFormatError(f"{path}: 'data' must be uint8 of shape (n, 3072), found {data.dtype} {data.shape}")
    if labels.shape != (data.shape[0],):
        raise DataFormatError(f"{path}: {labels.shape[0] if labels.ndim else 0} labels for {data.shape[0]} images")
    return {"data": data, "labels": labels.astype(np.int64)}


def cifar_to_images(data: np.ndarray) -> np.ndarray:
    """CIFAR rows (n, 3072; channel-major) → images (n, 32, 32, 3)."""
    return data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)


def sha256_of(path: Path) -> str:
    """Hex SHA-256 of a file, streamed."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def download(url: str, dest: Path, *, sha256: str | None = None, timeout: float = 30.0) -> Path:
    """Download ``url`` to ``dest`` atomically, verifying the SHA-256 when given.

    The file appears at ``dest`` only once complete and verified.

    Raises:
        OSError: on network failure.
        DataFormatError: if the checksum does not match.
    """
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".part")
    try:
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=timeout) as resp:
            shutil.copyfileobj(resp, out)
        if sha256 is not None and (got := sha256_of(Path(tmp))) != sha256:
            raise DataFormatError(f"download of {url} has SHA-256 {got}, expected {sha256}")
        os.replace(tmp, dest)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return dest
