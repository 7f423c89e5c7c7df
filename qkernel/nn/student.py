"""The quantum student: reducer → encoder → ansatz → readout → dense head → logits."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import tensorflow as tf

from qkernel.config import StudentParams
from qkernel.plugin.contracts import Ansatz, Backend, Encoder, Reducer
from qkernel.errors import ConfigError, QDistillError
from qkernel.nn.layers import QuantumLayer, parameter_counts
from qkernel.nn.readouts import readout_head, readout_observables
from qkernel.plugin.registry import Registry


@dataclass(frozen=True)
class StudentDesign:
    """The design of a student without its training settings (what :func:`build_parts` reads).

    Attributes mirror :class:`qkernel.methods.kd.config.StudentParams`; the defaults are the
    KD pipeline's 8-qubit student (fc reducer, amplitude encoding, 5 hardware-efficient layers, ⟨Z⟩).
    """

    n_qubits: int = 8
    reducer: str = "fc"
    encoder: str = "amplitude"
    ansatz: str = "hardware_efficient"
    depth: int = 5
    readout: str = "z"
    backend: str = "native"
    reducer_options: dict[str, Any] = field(default_factory=dict)
    encoder_options: dict[str, Any] = field(default_factory=dict)
    ansatz_options: dict[str, Any] = field(default_factory=dict)
    backend_options: dict[str, Any] = field(default_factory=dict)


@dataclass
class StudentParts:
    """The plugins a student is made of, built and cross-checked before any training."""

    reducer: Reducer
    encoder: Encoder
    ansatz: Ansatz
    backend: Backend
    readout: str

    def describe(self) -> str:
        return (f"{self.reducer.name} → {self.encoder.name}({self.encoder.n_qubits} qubits) → "
                f"{self.ansatz.name}(depth {self.ansatz.depth}) → {self.readout} readout [{self.backend.name}]")


def build_parts(sp: StudentParams | StudentDesign, registry: Registry, image_shape: tuple[int, ...]) -> StudentParts:
    """Create and cross-check the student's plugins (cheap; call before training).

    ``sp`` is the ``student`` section of the parameters, or a :class:`StudentDesign` (the
    ``quantum_student`` model plugin's options): only the circuit design is read.

    Raises:
        ConfigError: if a plugin name is unknown, the backend cannot train, the readout is
            unknown, or the reducer cannot make the encoder's features from these images.
    """
    encoder = _create(registry, "encoder", sp.encoder, sp.encoder_options, n_qubits=sp.n_qubits)
    ansatz = _create(registry, "ansatz", sp.ansatz, sp.ansatz_options, n_qubits=sp.n_qubits, depth=sp.depth)
    reducer = _create(registry, "reducer", sp.reducer, sp.reducer_options, n_features=encoder.n_features)
    backend = _create(registry, "backend", sp.backend, sp.backend_options)
    if not backend.differentiable:
        raise ConfigError(f"student.backend {sp.backend!r} cannot compute gradients; train with native or tfq")
    try:
        reducer.check(tuple(image_shape))
    except QDistillError as exc:
        raise ConfigError(f"student: encoder {sp.encoder!r} on {sp.n_qubits} qubits needs {encoder.n_features} "
                          f"features: {exc}") from exc
    readout_observables(sp.readout, sp.n_qubits)
    return StudentParts(reducer, encoder, ansatz, backend, sp.readout)


def _create(registry: Registry, kind: str, name: str, options: dict[str, Any], **design: Any) -> Any:
    """``registry.create`` with errors naming the parameter: ``student.<kind>`` or ``student.<kind>_options``."""
    try:
        return registry.create(kind, name, **design, **options)
    except QDistillError as exc:
        known = name in registry.names(kind)
        raise ConfigError(f"student.{kind}{'_options' if known else ''}: {exc}") from exc
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"student.{kind}_options: {kind} {name!r}: {exc}") from exc


class QuantumStudent(tf.keras.Model):
    """Images → logits through a parametrised quantum circuit.

    Attributes:
        reduce: Reducer layer (images → encoder features).
        quantum: :class:`~qkernel.nn.layers.QuantumLayer` (features → expectations).
        readout: Optional Hermitian readout layer.
        head: Dense layer (expectations → logits).
    """

    def __init__(self, parts: StudentParts, input_shape: tuple[int, ...], num_classes: int, seed: int) -> None:
        super().__init__(name="quantum_student")
        self.parts = parts
        self.reduce = parts.reducer.layer(input_shape)
        observables = readout_observables(parts.readout, parts.encoder.n_qubits)
        self.quantum = QuantumLayer(parts.encoder, parts.ansatz, observables, parts.backend, seed=seed, name="pqc")
        self.readout = readout_head(parts.readout, parts.encoder.n_qubits, seed=seed)
        self.head = tf.keras.layers.Dense(
            num_classes, kernel_initializer=tf.keras.initializers.GlorotUniform(seed=seed), name="head"
        )
        self.build((None, *input_shape))

    def call(self, images: tf.Tensor, training: bool = False) -> tf.Tensor:
        expectations = self.quantum(self.reduce(images))
        if self.readout is not None:
            expectations = self.readout(expectations)
        return self.head(expectations)

    def parameter_counts(self) -> dict[str, int]:
        """Trainable parameters: ``quantum`` (circuit angles and trainable observables) and ``classical``."""
        return parameter_counts(self)


def build_student(
    parts: StudentParts,
    input_shape: tuple[int, ...],
    num_classes: int,
    seed: int,
    reducer_state: dict[str, np.ndarray] | None = None,
) -> QuantumStudent:
    """Build the student model; a fitted reducer's ``reducer_state`` is loaded first (e.g. PCA)."""
    tf.keras.utils.set_random_seed(seed)
    if reducer_state:
        parts.reducer.load_state(reducer_state)
    return QuantumStudent(parts, tuple(input_shape), num_classes, seed)


def describe_counts(counts: dict[str, Any]) -> str:
    return f"{counts['quantum']} quantum + {counts['classical']} classical = {counts['total']} trainable"
