"""Configuration: one ``params.yaml``, validated into typed, frozen objects, loaded once per command.

The package's ``params.yaml`` (package data) is the single source of defaults, read by the
CLI, the flows and ``dvc.yaml`` alike; the project root's ``params.yaml`` (DVC's, which
``dvc exp run -S`` edits) starts as a copy of it, and a test keeps the two equal. The section models therefore declare types and bounds but no default
values; each method's section lives with the method (:mod:`qkernel.methods.kd.config`,
:mod:`qkernel.methods.dd.config`). A user parameter file is deep-merged over the defaults,
then ``-S key=value`` overrides are applied; unknown keys and bad values raise
:class:`~qkernel.errors.ConfigError` naming the key. Plugin option mappings (keys ending in
``options``, and ``dd.methods``) take any key: each plugin validates its own options.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterable, Mapping
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import Field, ValidationError, field_validator

from qkernel.errors import ConfigError
from qkernel.methods.dd.config import DDParams
from qkernel.methods.kd.config import KDParams, StudentParams, TeacherParams
from qkernel.schema import Fraction, PositiveInt, Strict, describe_validation_error

#: The defaults: ``params.yaml`` shipped inside the package (works in any install).
DEFAULT_PARAMS = Path(str(resources.files("qkernel") / "params.yaml"))

#: How many times :func:`load_params` ran in this process (a command loads its parameters once).
LOADS = 0


def parse_classes(spec: str | int | Iterable[int] | None) -> tuple[int, ...] | None:
    """Parse a class subset: ``"0-5"``, ``"1,3,7"``, ``"0-2,9"``, a list of ints, or ``None`` (all).

    Raises:
        ValueError: naming the bad part of the spec.
    """
    if spec is None:
        return None
    if isinstance(spec, int):
        return (spec,)
    if isinstance(spec, str):
        out: list[int] = []
        for part in filter(None, (p.strip() for p in spec.split(","))):
            m = re.fullmatch(r"(\d+)(?:\s*-\s*(\d+))?", part)
            if not m:
                raise ValueError(f"bad class spec part {part!r}; expected e.g. '0-5', '1,3,7' or '0-2,9'")
            lo, hi = int(m[1]), int(m[2] if m[2] is not None else m[1])
            if hi < lo:
                raise ValueError(f"bad class range {part!r}: end is below start")
            out.extend(range(lo, hi + 1))
        classes = out
    else:
        classes = [int(c) for c in spec]
    if not classes:
        raise ValueError("class subset is empty; use null for all classes")
    if len(set(classes)) != len(classes):
        raise ValueError(f"class subset {classes} lists a class twice")
    if min(classes) < 0:
        raise ValueError(f"class subset {classes} has a negative class")
    return tuple(sorted(classes))


class DataParams(Strict):
    """Which dataset to prepare, and how.

    Attributes:
        name: Registered dataset plugin (``qdistill data list``).
        data_dir: Folder searched first for the dataset files, or ``None``.
        download: Try the official download when no local copy is found.
        classes: Class subset (``"0-5"``, ``"1,3,7"``, list) or ``None`` for all.
        per_class: Cap on training-pool (train + validation) images per class, or ``None``.
        test_per_class: Cap on test images per class, or ``None``.
        val_fraction: Fraction of the training pool held out for validation (stratified).
        test_fraction: Fraction held out as test set when the source has no official test split.
        normalize: ``unit`` (pixels / 255), ``standard`` (z-score with training mean and std),
            or ``none`` (raw values as float32).
        out_dir: Where prepared datasets are written (``<out_dir>/<name>.npz`` + ``.json``).
    """

    name: str = Field(min_length=1)
    data_dir: Path | None
    download: bool
    classes: tuple[int, ...] | None
    per_class: Annotated[int, Field(ge=1)] | None
    test_per_class: Annotated[int, Field(ge=1)] | None
    val_fraction: Fraction
    test_fraction: Annotated[float, Field(gt=0.0, lt=1.0)]
    normalize: Literal["unit", "standard", "none"]
    out_dir: Path

    @field_validator("classes", mode="before")
    @classmethod
    def _classes(cls, value: Any) -> tuple[int, ...] | None:
        return parse_classes(value)


class PluginParams(Strict):
    """Where to find user plugins.

    Attributes:
        paths: Folders whose ``*.py`` files are loaded as plugins (besides ``QDISTILL_PLUGINS_PATH``).
    """

    paths: tuple[Path, ...]


class AblationParams(Strict):
    """The sweep of the ``ablation`` flow (every combination × seed is one run).

    Attributes:
        datasets, qubits, reducers, encoders, modes, seeds: The knowledge-distillation grid.
        dd_methods, images_per_class: The dataset-distillation grid (each method × images per
            class × dataset × seed runs the DD pipeline on ``dd.models``); no methods: no DD runs.
        max_workers: Concurrent runs on the local task runner.
        dask_address: Scheduler address of a Dask cluster (``tcp://host:8786``) to run on, or ``None``.
        schedule: Cron schedule of the ``nightly-ablation`` deployment.
    """

    datasets: tuple[str, ...] = Field(min_length=1)
    qubits: tuple[Annotated[int, Field(ge=1, le=16)], ...] = Field(min_length=1)
    reducers: tuple[str, ...] = Field(min_length=1)
    encoders: tuple[str, ...] = Field(min_length=1)
    modes: tuple[Literal["baseline", "kd"], ...] = Field(min_length=1)
    seeds: tuple[Annotated[int, Field(ge=0)], ...] = Field(min_length=1)
    dd_methods: tuple[str, ...]
    images_per_class: tuple[PositiveInt, ...] = Field(min_length=1)
    max_workers: PositiveInt
    dask_address: str | None
    schedule: str


class Params(Strict):
    """All parameters of a qdistill run.

    Attributes:
        seed: Seed for every random choice (splits, initialisations, shuffling).
        runs_dir: Where run outputs go (``<runs_dir>/<run-id>/``).
        data, plugins, teacher, student, kd, ablation, dd: See the section classes.
    """

    seed: Annotated[int, Field(ge=0)]
    runs_dir: Path
    data: DataParams
    plugins: PluginParams
    teacher: TeacherParams
    student: StudentParams
    kd: KDParams
    ablation: AblationParams
    dd: DDParams

    def as_dict(self) -> dict[str, Any]:
        """Plain JSON-able mapping (for reports, hooks and Prefect)."""
        return self.model_dump(mode="json")


def read_yaml(path: Path) -> dict[str, Any]:
    """Read a YAML mapping.

    Raises:
        ConfigError: if the file is missing, is not valid YAML, or is not a mapping.
    """
    try:
        text = Path(path).read_text()
    except OSError as exc:
        raise ConfigError(f"cannot read parameter file {path}: {exc.strerror}") from exc
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path} is not valid YAML: {exc}") from exc
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path} must contain a mapping of parameters, found {type(data).__name__}")
    return data


def _free_form(dotted: str) -> bool:
    """Whether ``dotted`` is a plugin option mapping: any key is accepted here, the plugin validates it."""
    return dotted.endswith("options") or dotted == "dd.methods" or dotted.startswith("dd.methods.")


def _merge(base: dict[str, Any], update: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    for key, value in update.items():
        dotted = f"{prefix}{key}"
        if key not in base:
            if not _free_form(prefix.rstrip(".")):
                raise ConfigError(f"unknown parameter {dotted!r}; known here: {', '.join(sorted(base)) or 'none'}")
            base[key] = {} if isinstance(value, Mapping) else value
        if isinstance(base[key], dict) and isinstance(value, Mapping):
            _merge(base[key], value, dotted + ".")
        else:
            base[key] = value
    return base


def parse_override(text: str) -> tuple[list[str], Any]:
    """Parse ``key.sub=value`` (value in YAML syntax) into a key path and a value.

    Raises:
        ConfigError: if there is no ``=`` or the key is empty.
    """
    key, sep, raw = text.partition("=")
    if not sep or not key.strip():
        raise ConfigError(f"override {text!r} must look like key.sub=value")
    try:
        value = yaml.safe_load(raw) if raw.strip() else None
    except yaml.YAMLError as exc:
        raise ConfigError(f"override {text!r}: value is not valid YAML ({exc})") from exc
    return key.strip().split("."), value


def load_params(
    path: str | Path | Mapping[str, Any] | None = None,
    overrides: Iterable[str] = (),
    *,
    defaults: str | Path = DEFAULT_PARAMS,
) -> Params:
    """Load and validate parameters (a command does this once and passes the result on).

    Args:
        path: A user parameter file merged over the defaults (may set only some keys), such
            parameters already read (a mapping), or ``None`` to use ``./params.yaml`` if it
            exists, else the defaults alone.
        overrides: ``key.sub=value`` strings applied last.
        defaults: The defaults file (the package's ``params.yaml``).

    Returns:
        The validated parameters.

    Raises:
        ConfigError: naming the unknown key or the key whose value is invalid.
    """
    global LOADS
    LOADS += 1
    merged = read_yaml(Path(defaults))
    if path is None and Path("params.yaml").resolve() != Path(defaults).resolve() and Path("params.yaml").is_file():
        path = "params.yaml"
    if path is not None:
        user = copy.deepcopy(dict(path)) if isinstance(path, Mapping) else read_yaml(Path(path))
        merged = _merge(copy.deepcopy(merged), user)
    for text in overrides:
        keys, value = parse_override(text)
        nested: Any = value
        for key in reversed(keys):
            nested = {key: nested}
        merged = _merge(merged, nested)
    try:
        return Params.model_validate(merged)
    except ValidationError as exc:
        raise ConfigError("invalid parameters:\n  " + describe_validation_error(exc)) from None
