"""Parameters of knowledge distillation: the teacher, the quantum student, the KD loss, the ablation grid."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, field_validator

from qkernel.schema import PositiveFloat, PositiveInt, Strict

__all__ = ["KDParams", "StudentParams", "TeacherParams", "TuneParams", "TunedRecord"]


class TeacherParams(Strict):
    """The classical teacher (frozen during distillation).

    Attributes:
        model: Registered model plugin (``lenet5``, ``alexnet``, ``ensemble``).
        options: Keyword options for the model factory.
        epochs, batch_size, learning_rate: Adam training (the paper: 10 epochs, 128, 1e-3).
        schedule: Learning-rate schedule over the epochs (:data:`qkernel.nn.training.SCHEDULES`).
        patience: Early stopping on validation accuracy (epochs without improvement).
    """

    model: str = Field(min_length=1)
    options: dict[str, Any]
    epochs: PositiveInt
    batch_size: PositiveInt
    learning_rate: PositiveFloat
    schedule: Literal["constant", "cosine"]
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
        epochs, batch_size, learning_rate: Adam training; ``epochs`` is the budget every student
            (baseline, KD, controls) trains for.
        schedule: Learning-rate schedule over the epochs (``constant`` or ``cosine``).
        patience: Early stopping on validation accuracy. Each student is scored twice on test:
            with the weights early stopping selects (validation only) and with the weights after
            all ``epochs`` (the fixed budget, no selection); one training run gives both.
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
    schedule: Literal["constant", "cosine"]
    patience: PositiveInt


Range = tuple[PositiveFloat, PositiveFloat]


class TuneParams(Strict):
    """The ``qdistill tune`` studies (Optuna, TPE sampler; the objective is validation accuracy, never test).

    The learning rate is tuned first, on the baseline (cross-entropy) student, so the baseline
    is as strong as the search can make it; then ``T`` and ``α`` are tuned for KD at that rate.
    Both modes then share the rate (and every other training setting).

    Attributes:
        trials: Trials per study.
        epochs: Student epochs per trial (the budget and schedule of ``student``, shortened).
        seeds: Student seeds per trial (the objective is their mean best validation accuracy).
        learning_rate, temperature, alpha: ``[low, high]`` search ranges (the rate log-uniform).
    """

    trials: PositiveInt
    epochs: PositiveInt
    seeds: tuple[Annotated[int, Field(ge=0)], ...] = Field(min_length=1)
    learning_rate: Range
    temperature: Range
    alpha: tuple[Annotated[float, Field(ge=0.0, le=1.0)], Annotated[float, Field(ge=0.0, le=1.0)]]

    @field_validator("learning_rate", "temperature", "alpha")
    @classmethod
    def _ordered(cls, value: tuple[float, float]) -> tuple[float, float]:
        if value[0] >= value[1]:
            raise ValueError(f"a range must be [low, high] with low < high, got {list(value)}")
        return value


class TunedRecord(Strict):
    """Where the current ``T``, ``α`` and learning rate came from (written by ``qdistill tune``).

    Attributes:
        dataset: The dataset tuned on (its validation split).
        trials: Trials of each study (learning rate; ``T`` and ``α``).
        epochs: Student epochs per trial.
        seeds: Seeds averaged per trial.
        baseline_val_accuracy: Best mean validation accuracy of the baseline study.
        kd_val_accuracy: Best mean validation accuracy of the KD study.
    """

    dataset: str
    trials: PositiveInt
    epochs: PositiveInt
    seeds: tuple[int, ...]
    baseline_val_accuracy: float
    kd_val_accuracy: float


class KDParams(Strict):
    """Knowledge distillation: ``L = α·T²·KL(teacher_T ‖ student_T) + (1−α)·CE``.

    Attributes:
        temperature: Softmax temperature ``T`` (> 0).
        alpha: Weight ``α`` of the distillation term, in [0, 1].
        modes: Students to train: ``baseline`` (CE only) and/or ``kd``.
        seeds: Student seeds (initialisation and data order); each mode trains once per seed, so
            KD − baseline is a paired difference over seeds (mean with its 95 % t-interval).
        controls: Classical control models (``model`` plugins such as ``control_matched``,
            ``control_none``) trained beside the quantum student in every mode and seed.
        tune: The ``qdistill tune`` studies.
        tuned: Provenance of ``temperature``, ``alpha`` and ``student.learning_rate`` when
            ``qdistill tune`` chose them, else ``None``.
    """

    temperature: PositiveFloat
    alpha: Annotated[float, Field(ge=0.0, le=1.0)]
    modes: tuple[Literal["baseline", "kd"], ...] = Field(min_length=1)
    seeds: tuple[Annotated[int, Field(ge=0)], ...] = Field(min_length=1)
    controls: tuple[str, ...]
    tune: TuneParams
    tuned: TunedRecord | None

    @field_validator("seeds", "controls")
    @classmethod
    def _unique(cls, value: tuple) -> tuple:
        if len(set(value)) != len(value):
            raise ValueError(f"entries must be unique, got {list(value)}")
        return value
