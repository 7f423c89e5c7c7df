"""The dataset-distillation models (REFERENCE B, C): LeNet, quantum LeNet, the literature's ConvNet and quantum ConvNet.

The two LeNets share the ReLU/max-pool LeNet trunk of the DD literature (conv6 5×5 "same" → pool →
conv16 5×5 → pool → fc120). The classical LeNet ends fc84 → fc10; the quantum LeNet ends
fc ``2**n`` → amplitude encoding on ``n`` qubits (6 → 64 features) → strongly entangling
layers → per-qubit Hermitian readout → fc(n→C), mixed with a classical residual
``ReLU(fc(2**n→C)(F2))`` by a trainable ``α`` (init 0.5) → fc(C→C). The quantum ConvNet puts that
head on the ConvNet's trunk.

Layer names are fixed (``conv1 conv2 fc1 fc2 pqc hermitian fc_q fc_c mix out``): the
PennyLane reference of :mod:`benchmarks` and the tests address weights by them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import qkernel  # noqa: F401  (environment before TensorFlow)
import tensorflow as tf

from qkernel.nn.layers import QuantumLayer
from qkernel.nn.readouts import READOUTS, readout_head, readout_observables
from qkernel.plugin.registry import get_registry

layers = tf.keras.layers

def _trunk(input_shape: Sequence[int], name: str) -> tuple[tf.Tensor, tf.Tensor]:
    shape = tuple(int(s) for s in input_shape)
    if len(shape) not in (2, 3) or min(shape[:2]) < 16:
        raise ValueError(f"{name}: input_shape must be (H, W) or (H, W, C) with H, W >= 16, got {shape}")
    inp = tf.keras.Input(shape=shape)
    x = layers.Reshape((*shape, 1))(inp) if len(shape) == 2 else inp
    x = layers.Conv2D(6, 5, padding="same", activation="relu", name="conv1")(x)
    x = layers.MaxPooling2D(2, name="pool1")(x)
    x = layers.Conv2D(16, 5, activation="relu", name="conv2")(x)
    x = layers.MaxPooling2D(2, name="pool2")(x)
    x = layers.Flatten(name="flatten")(x)
    return inp, layers.Dense(120, activation="relu", name="fc1")(x)


class LeNet:
    """Classical LeNet of the DD literature: conv6-pool-conv16-pool-fc120-fc84-fcC, ReLU, max-pool."""

    name = "lenet"

    def __new__(cls, input_shape: Sequence[int], num_classes: int) -> tf.keras.Model:
        if num_classes < 2:
            raise ValueError(f"{cls.name}: num_classes must be at least 2, got {num_classes}")
        inp, x = _trunk(input_shape, cls.name)
        x = layers.Dense(84, activation="relu", name="fc2")(x)
        return tf.keras.Model(inp, layers.Dense(num_classes, name="out")(x), name=cls.name)


def _convnet_trunk(input_shape: Sequence[int], name: str, width: int, depth: int) -> tuple[tf.Tensor, tf.Tensor]:
    shape = tuple(int(s) for s in input_shape)
    if len(shape) not in (2, 3) or min(shape[:2]) < 2 ** depth:
        raise ValueError(f"{name}: input_shape must be (H, W) or (H, W, C) with H, W >= 2**depth "
                         f"({2 ** depth}), got {shape}")
    inp = tf.keras.Input(shape=shape)
    x = layers.Reshape((*shape, 1))(inp) if len(shape) == 2 else inp
    for k in range(1, depth + 1):
        x = layers.Conv2D(width, 3, padding="same", name=f"conv{k}")(x)
        x = layers.GroupNormalization(groups=width, epsilon=1e-5, name=f"norm{k}")(x)  # instance norm
        x = layers.ReLU(name=f"relu{k}")(x)
        x = layers.AveragePooling2D(2, name=f"pool{k}")(x)
    return inp, layers.Flatten(name="flatten")(x)


class ConvNet:
    """ConvNet of the DC/DSA/DM/MTT papers: conv128-instance norm-ReLU-avgpool ×3, then one linear layer.

    The architecture the literature's distillation anchors are measured on (REFERENCE C), so a set
    distilled for it compares with them directly: ``depth`` blocks of 3×3 "same" convolution with
    ``width`` filters, instance norm (affine), ReLU and 2×2 average pooling.

    Options:
        width: Filters per block (published 128).
        depth: Blocks (published 3: 28×28 → 3×3 feature maps).
    """

    name = "convnet"

    def __new__(cls, input_shape: Sequence[int], num_classes: int, width: int = 128, depth: int = 3
                ) -> tf.keras.Model:
        if num_classes < 2:
            raise ValueError(f"{cls.name}: num_classes must be at least 2, got {num_classes}")
        inp, x = _convnet_trunk(input_shape, cls.name, width, depth)
        return tf.keras.Model(inp, layers.Dense(num_classes, name="out")(x), name=cls.name)


class Mix(layers.Layer):
    """``α·q + (1 − α)·c`` with a trainable scalar ``α``."""

    def __init__(self, alpha: float = 0.5, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.alpha_init = float(alpha)

    def build(self, input_shape: Any) -> None:
        self.alpha = self.add_weight(
            name="alpha", shape=(), initializer=tf.keras.initializers.Constant(self.alpha_init)
        )
        super().build(input_shape)

    def call(self, inputs: Sequence[tf.Tensor]) -> tf.Tensor:
        quantum, classical = inputs
        return self.alpha * quantum + (1.0 - self.alpha) * classical

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "alpha": self.alpha_init}


#: What sits between ``fc2`` and ``fc_q``: the circuit with its readout, or the parameter-matched classical control.
MIDDLES = ("circuit", "matched")


def _quantum_head(name: str, x: tf.Tensor, num_classes: int, n_qubits: int, depth: int, readout: str,
                  ansatz: str, encoder: str, backend: str, backend_options: dict[str, Any] | None,
                  alpha: float, middle: str) -> tf.Tensor:
    """fc ``2**n`` → encoder → ansatz → readout → fc(n→C), mixed by ``α`` with ``ReLU(fc(2**n→C))`` → fc(C→C).

    ``middle="matched"`` puts :class:`~qkernel.nn.controls.MatchedLayer` in place of encoder → ansatz →
    readout: the same inputs and output width, exactly their trainable-parameter count, no circuit.
    """
    if num_classes < 2:
        raise ValueError(f"{name}: num_classes must be at least 2, got {num_classes}")
    if readout not in READOUTS:
        raise ValueError(f"{name}: readout must be one of {', '.join(READOUTS)}; got {readout!r}")
    if middle not in MIDDLES:
        raise ValueError(f"{name}: middle must be one of {', '.join(MIDDLES)}; got {middle!r}")
    registry = get_registry()
    enc = registry.create("encoder", encoder, n_qubits=n_qubits)
    pqc = registry.create("ansatz", ansatz, n_qubits=n_qubits, depth=depth)
    features = layers.Dense(enc.n_features, name="fc2")(x)
    if middle == "matched":
        from qkernel.nn.controls import MatchedLayer, circuit_part_shape

        n_params, width = circuit_part_shape(pqc, readout, n_qubits)
        seed = int(tf.random.uniform([], 0, 2**31 - 1, dtype=tf.int64))  # follows the global seed
        q = MatchedLayer(enc.n_features, width, n_params, seed=seed, name="matched")(features)
    else:
        runner = registry.create("backend", backend, **(backend_options or {}))
        q = QuantumLayer(enc, pqc, readout_observables(readout, n_qubits), runner, name="pqc")(features)
        head = readout_head(readout, n_qubits)
        if head is not None:
            q = head(q)
    q = layers.Dense(num_classes, name="fc_q")(q)
    c = layers.Dense(num_classes, activation="relu", name="fc_c")(features)
    mixed = Mix(alpha, name="mix")([q, c])
    return layers.Dense(num_classes, name="out")(mixed)


class QuantumLeNet:
    """Quantum LeNet (Phalak, Li, Ghosh 2025): LeNet trunk → amplitude PQC → Hermitian readout, residual.

    Options:
        n_qubits: Qubits of the circuit (default 6: 64 amplitudes).
        depth: Strongly entangling layers (default 3: 54 angles on 6 qubits).
        readout: ``hermitian`` (trainable), ``hermitian-fixed`` or ``z`` (any of ``qkernel.nn.readouts.READOUTS``).
        ansatz, encoder, backend: Registered plugin names (defaults ``strongly_entangling``,
            ``amplitude``, ``native``); ``backend_options`` are passed to the backend.
        alpha: Initial residual weight ``α``.
        middle: ``circuit``, or ``matched``: the parameter-matched classical control, the circuit and its
            readout replaced by a classical layer of exactly their trainable-parameter count (as the KD
            student's ``control_matched``).
    """

    name = "quantum_lenet"

    def __new__(
        cls,
        input_shape: Sequence[int],
        num_classes: int,
        n_qubits: int = 6,
        depth: int = 3,
        readout: str = "hermitian",
        ansatz: str = "strongly_entangling",
        encoder: str = "amplitude",
        backend: str = "native",
        backend_options: dict[str, Any] | None = None,
        alpha: float = 0.5,
        middle: str = "circuit",
    ) -> tf.keras.Model:
        inp, x = _trunk(input_shape, cls.name)
        out = _quantum_head(cls.name, x, num_classes, n_qubits, depth, readout, ansatz, encoder, backend,
                            backend_options, alpha, middle)
        return tf.keras.Model(inp, out, name=cls.name)


class QuantumConvNet:
    """The literature's ConvNet trunk with quantum LeNet's head: ConvNet blocks → flatten → amplitude PQC →
    Hermitian readout, mixed with the classical residual (as :class:`QuantumLeNet`).

    Tells a trunk limit from a circuit limit: a set distilled for it compares with ``convnet`` sets and
    the literature's anchors. Options as :class:`QuantumLeNet`, plus the trunk's ``width`` (default 64)
    and ``blocks`` (3; ``depth`` stays the ansatz's).
    """

    name = "quantum_convnet"

    def __new__(
        cls,
        input_shape: Sequence[int],
        num_classes: int,
        width: int = 64,
        blocks: int = 3,
        n_qubits: int = 6,
        depth: int = 3,
        readout: str = "hermitian",
        ansatz: str = "strongly_entangling",
        encoder: str = "amplitude",
        backend: str = "native",
        backend_options: dict[str, Any] | None = None,
        alpha: float = 0.5,
        middle: str = "circuit",
    ) -> tf.keras.Model:
        inp, x = _convnet_trunk(input_shape, cls.name, width, blocks)
        out = _quantum_head(cls.name, x, num_classes, n_qubits, depth, readout, ansatz, encoder, backend,
                            backend_options, alpha, middle)
        return tf.keras.Model(inp, out, name=cls.name)


class QuantumStudentModel:
    """The KD pipeline's quantum student as a model: reducer → encoder → ansatz → readout → dense head.

    Options are a :class:`qkernel.nn.student.StudentDesign` (default: the 8-qubit fc + amplitude
    student of ``qdistill run``), so a distilled set can train it (the cross-architecture table).
    A reducer that must be fitted first (PCA) cannot be built here.
    """

    name = "quantum_student"

    def __new__(cls, input_shape: Sequence[int], num_classes: int, **design: Any) -> tf.keras.Model:
        from qkernel.errors import QDistillError
        from qkernel.nn.student import StudentDesign, build_parts, build_student

        try:
            parts = build_parts(StudentDesign(**design), get_registry(), tuple(input_shape))
        except TypeError as exc:
            raise ValueError(f"{cls.name}: {exc}") from None
        if parts.reducer.needs_fit:
            raise ValueError(f"{cls.name}: reducer {parts.reducer.name!r} must be fitted on data first; use fc or a "
                             "pooling or crop reducer")
        try:
            seed = int(tf.random.uniform([], 0, 2**31 - 1, dtype=tf.int64))  # follows the global seed
            return build_student(parts, tuple(input_shape), num_classes, seed)
        except QDistillError as exc:
            raise ValueError(f"{cls.name}: {exc}") from None
