"""Configuration: one ``params.yaml``, validated into typed, frozen objects.

``params.yaml`` at the project root is the single source of defaults, read by the CLI,
the flows and ``dvc.yaml`` alike. The models below therefore declare types and bounds
but no default values. A user parameter file is deep-merged over the defaults, then
``-S key=value`` overrides are applied; unknown keys and bad values raise
:class:`~qkernel.errors.ConfigError` naming the key.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from qkernel.errors import ConfigError

#: The project's parameter file (single source of defaults), found beside the packages.
DEFAULT_PARAMS = Path(__file__).resolve().parents[1] / "params.yaml"

Fraction = Annotated[float, Field(ge=0.0, lt=1.0)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


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


class DataParams(_Strict):
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


class PluginParams(_Strict):
    """Where to find user plugins.

    Attributes:
        paths: Folders whose ``*.py`` files are loaded as plugins (besides ``QDISTILL_PLUGINS_PATH``).
    """

    paths: tuple[Path, ...]


PositiveInt = Annotated[int, Field(ge=1)]
PositiveFloat = Annotated[float, Field(gt=0.0)]


class TeacherParams(_Strict):
    """The classical teacher (frozen during distillation).

    Attributes:
        model: Registered model plugin (``lenet5``, ``alexnet``, ``ensemble``).
        options: Keyword options for the model factory.
        epochs, batch_size, learning_rate: Adam training (the paper: 10 epochs, 128, 1e-3).
        patience: Early stopping on validation accuracy (epochs without improvement).
    """

    model: str = Field(min_length=1)
    options: dict[str, Any]
    epochs: PositiveInt
    batch_size: PositiveInt
    learning_rate: PositiveFloat
    patience: PositiveInt


class StudentParams(_Strict):
    """The quantum student: reducer → encoder → ansatz → readout → dense head.

    Attributes:
        n_qubits: Qubits of the circuit.
        reducer, encoder, ansatz, backend: Registered plugin names.
        reducer_options, encoder_options, ansatz_options, backend_options: Factory options.
        depth: Ansatz layers.
        readout: ``z`` (⟨Z_i⟩), ``xyz``, ``hermitian`` (trainable) or ``hermitian-fixed``.
        epochs, batch_size, learning_rate, patience: Adam training with early stopping.
    """

    n_qubits: Annotated[int, Field(ge=1, le=16)]
    reducer: str
    reducer_options: dict[str, Any]
    encoder: str
    encoder_options: dict[str, Any]
    ansatz: str
    depth: PositiveInt
    ansatz_options: dict[str, Any]
    readout: Literal["z", "xyz", "hermitian", "hermitian-fixed"]
    backend: str
    backend_options: dict[str, Any]
    epochs: PositiveInt
    batch_size: PositiveInt
    learning_rate: PositiveFloat
    patience: PositiveInt


class KDParams(_Strict):
    """Knowledge distillation: ``L = α·T²·KL(teacher_T ‖ student_T) + (1−α)·CE``.

    Attributes:
        temperature: Softmax temperature ``T`` (> 0).
        alpha: Weight ``α`` of the distillation term, in [0, 1].
        modes: Students to train: ``baseline`` (CE only) and/or ``kd``.
    """

    temperature: PositiveFloat
    alpha: Annotated[float, Field(ge=0.0, le=1.0)]
    modes: tuple[Literal["baseline", "kd"], ...] = Field(min_length=1)


class AblationParams(_Strict):
    """The sweep of the ``ablation`` flow (every combination × seed is one run).

    Attributes:
        datasets, qubits, reducers, encoders, modes, seeds: The grid.
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
    max_workers: PositiveInt
    dask_address: str | None
    schedule: str


class DDModel(_Strict):
    """One model distilled for (and evaluated) by the ``dd`` pipeline.

    Attributes:
        label: Short name used in file names and tables (letters, digits, ``-``, ``_``).
        model: Registered model plugin (``quantum_lenet``, ``lenet`` …).
        options: Keyword options of the model factory (e.g. ``readout: hermitian-fixed``).
    """

    label: str = Field(pattern=r"^[A-Za-z0-9_-]+$")
    model: str = Field(min_length=1)
    options: dict[str, Any]


class DDEvalParams(_Strict):
    """How distilled sets are judged.

    Attributes:
        inits: Fresh initialisations trained on the distilled set (and on random real images).
        full_inits: Initialisations trained on the full training set.
        epochs, batch_size, learning_rate, patience: Adam training (early stopping on
            validation) of the full-set comparison.
        subset_epochs, subset_patience: Epochs and patience of the random-real-images
            comparison (a few batches per epoch: it needs many more epochs to converge).
        shots: Shots per circuit in the hardware cost estimate.
    """

    inits: Annotated[int, Field(ge=1)]
    full_inits: Annotated[int, Field(ge=0)]
    epochs: PositiveInt
    batch_size: PositiveInt
    learning_rate: PositiveFloat
    patience: PositiveInt
    subset_epochs: PositiveInt
    subset_patience: PositiveInt
    shots: PositiveInt


class DDParams(_Strict):
    """Dataset distillation by performance matching (Wang et al. 2018; REFERENCE B).

    Attributes:
        models: The models to distill for, each evaluated on its own distilled set.
        images_per_class: Synthetic images per class (balanced, fixed labels).
        image_init: ``noise`` (standard normal, as published) or ``real`` (random real images).
        init: ``random`` (fresh model initialisation each outer step) or ``fixed`` (one).
        init_pool: Initialisations drawn from in ``random`` mode.
        steps, epochs: Unrolled inner steps per epoch and epochs (``steps × epochs`` learned rates).
        rates: ``step`` (one learned rate per inner step, as published) or ``layer`` (one per
            inner step and weight tensor).
        lr_init: Initial inner learning rate (rates are ``softplus`` of learned values).
        outer_steps: Outer (Adam) steps.
        outer_lr, betas: Outer Adam settings (published: 0.01, (0.5, 0.999)).
        real_batch: Real images per outer loss.
        eval: How the distilled sets are evaluated.
    """

    models: tuple[DDModel, ...] = Field(min_length=1)
    images_per_class: PositiveInt
    image_init: Literal["noise", "real"]
    init: Literal["random", "fixed"]
    init_pool: PositiveInt
    steps: PositiveInt
    epochs: PositiveInt
    rates: Literal["step", "layer"]
    lr_init: PositiveFloat
    outer_steps: PositiveInt
    outer_lr: PositiveFloat
    betas: tuple[Annotated[float, Field(ge=0.0, lt=1.0)], Annotated[float, Field(ge=0.0, lt=1.0)]]
    real_batch: PositiveInt
    eval: DDEvalParams

    @field_validator("models")
    @classmethod
    def _unique_labels(cls, value: tuple[DDModel, ...]) -> tuple[DDModel, ...]:
        labels = [m.label for m in value]
        if len(set(labels)) != len(labels):
            raise ValueError(f"model labels must be unique; got {labels}")
        return value


class Params(_Strict):
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


def _merge(base: dict[str, Any], update: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    for key, value in update.items():
        dotted = f"{prefix}{key}"
        if key not in base:
            raise ConfigError(f"unknown parameter {dotted!r}; known here: {', '.join(sorted(base))}")
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
    path: str | Path | None = None,
    overrides: Iterable[str] = (),
    *,
    defaults: str | Path = DEFAULT_PARAMS,
) -> Params:
    """Load and validate parameters.

    Args:
        path: A user parameter file merged over the defaults (may set only some keys),
            or ``None`` to use ``./params.yaml`` if it exists, else the defaults alone.
        overrides: ``key.sub=value`` strings applied last.
        defaults: The defaults file (the project's ``params.yaml``).

    Returns:
        The validated parameters.

    Raises:
        ConfigError: naming the unknown key or the key whose value is invalid.
    """
    merged = read_yaml(Path(defaults))
    if path is None and Path("params.yaml").resolve() != Path(defaults).resolve() and Path("params.yaml").is_file():
        path = "params.yaml"
    if path is not None:
        merged = _merge(copy.deepcopy(merged), read_yaml(Path(path)))
    for text in overrides:
        keys, value = parse_override(text)
        nested: Any = value
        for key in reversed(keys):
            nested = {key: nested}
        merged = _merge(merged, nested)
    try:
        return Params.model_validate(merged)
    except ValidationError as exc:
        raise ConfigError(_describe(exc)) from None


def _describe(exc: ValidationError) -> str:
    lines = []
    for err in exc.errors():
        key = ".".join(str(p) for p in err["loc"])
        got = err.get("input")
        if err["type"] == "extra_forbidden":
            lines.append(f"unknown parameter {key!r}")
        else:
            lines.append(f"parameter {key!r}: {err['msg']} (got {got!r})")
    return "invalid parameters:\n  " + "\n  ".join(lines)
