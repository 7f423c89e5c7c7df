"""Parameters of knowledge distillation: the teacher, the quantum student, the KD loss, the ablation grid."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field

from qkernel.schema import PositiveFloat, PositiveInt, Strict

__all__ = ["KDParams", "StudentParams", "TeacherParams"]


class TeacherParams(Strict):
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


class StudentParams(Strict):
    """The quantum student: reducer → encoder → ansatz → readout → dense head.

    Attributes:
        n_qubits: Qubits of the circuit.
        reducer, encoder, ansatz, backend: Registered plugin names.
        reducer_options, encoder_options, ansatz_options, backend_options: Factory options.
        depth: Ansatz layers.
        readout: A readout of :data:`qkernel.nn.readouts.READOUTS` (``z``, ``xyz``, ``hermitian``,
            ``hermitian-fixed``); checked with the other plugin names before any work.
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
    readout: str = Field(min_length=1)
    backend: str
    backend_options: dict[str, Any]
    epochs: PositiveInt
    batch_size: PositiveInt
    learning_rate: PositiveFloat
    patience: PositiveInt


class KDParams(Strict):
    """Knowledge distillation: ``L = α·T²·KL(teacher_T ‖ student_T) + (1−α)·CE``.

    Attributes:
        temperature: Softmax temperature ``T`` (> 0).
        alpha: Weight ``α`` of the distillation term, in [0, 1].
        modes: Students to train: ``baseline`` (CE only) and/or ``kd``.
    """

    temperature: PositiveFloat
    alpha: Annotated[float, Field(ge=0.0, le=1.0)]
    modes: tuple[Literal["baseline", "kd"], ...] = Field(min_length=1)
