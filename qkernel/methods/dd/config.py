"""Parameters of dataset distillation: the method and its options, the models, the evaluation protocol."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, field_validator

from qkernel.schema import PositiveFloat, PositiveInt, Strict

__all__ = ["DDEvalParams", "DDModel", "DDParams"]


class DDModel(Strict):
    """One model distilled for (and evaluated) by the ``dd`` pipeline.

    Attributes:
        label: Short name used in file names and tables (letters, digits, ``-``, ``_``).
        model: Registered model plugin (``quantum_lenet``, ``lenet`` …).
        options: Keyword options of the model factory (e.g. ``readout: hermitian-fixed``).
    """

    label: str = Field(pattern=r"^[A-Za-z0-9_-]+$")
    model: str = Field(min_length=1)
    options: dict[str, Any]


class DDEvalParams(Strict):
    """How distilled sets are judged: one training protocol for the distilled set, random real
    subsets of the same size and the full set (:mod:`qkernel.methods.dd.protocol`).

    Attributes:
        inits: Fresh initialisations trained on the distilled set.
        real_draws: Random real subsets of the same size (one fresh initialisation each, paired
            with the distilled initialisations).
        full_inits: Initialisations trained on the full training set (0: skip it).
        learning_rate, momentum, weight_decay: SGD (weight decay on classical kernels only);
            the learning rate is cut ×0.1 at half the epochs.
        batch_size: Mini-batch size.
        epochs: Epochs on the distilled set and on the random real subsets.
        full_epochs: Epochs on the full training set.
        augment: Augmentation of every training batch, the same for all three
            (``qkernel.methods.dd.augment`` transforms, comma-separated, or ``none``).
        cross_models: Extra models (besides ``dd.models``) every distilled set also trains, for
            the cross-architecture table (e.g. the KD student); empty: each set trains the
            model it was distilled for only, unless ``cross`` is on.
        cross: Also train every distilled set on every other ``dd.models`` entry.
        shots: Shots per circuit in the hardware cost estimate.
    """

    inits: Annotated[int, Field(ge=1)]
    real_draws: Annotated[int, Field(ge=1)]
    full_inits: Annotated[int, Field(ge=0)]
    learning_rate: PositiveFloat
    momentum: Annotated[float, Field(ge=0.0, lt=1.0)]
    weight_decay: Annotated[float, Field(ge=0.0)]
    batch_size: PositiveInt
    epochs: PositiveInt
    full_epochs: PositiveInt
    augment: str
    cross_models: tuple[DDModel, ...]
    cross: bool
    shots: PositiveInt


class DDParams(Strict):
    """Dataset distillation: which method, its options, the models it distils for, how sets are judged.

    Attributes:
        method: The registered ``dd_method`` plugin that distils (``qdistill plugins``).
        methods: Options per method name, each validated by that method's own option model
            (a method missing here runs with its own defaults).
        models: The models to distill for, each evaluated on its own distilled set.
        images_per_class: Synthetic images per class (balanced, fixed labels).
        factor: Multi-formation (Kim et al. 2022): each stored image holds ``factor²`` downsampled images,
            decoded to full size for training (:func:`qkernel.methods.dd.synthetic.decode`); 1: off. Only
            methods that say they decode (``multi_formation = True``) accept more than 1.
        image_init: ``noise`` (standard normal, as published) or ``real`` (random real images).
        outer_steps: Optimisation steps on the synthetic set (the method's outer iterations).
        real_batch: Real images per outer step.
        eval: How the distilled sets are evaluated.
    """

    method: str = Field(min_length=1)
    methods: dict[str, dict[str, Any]]
    models: tuple[DDModel, ...] = Field(min_length=1)
    images_per_class: PositiveInt
    factor: PositiveInt
    image_init: Literal["noise", "real"]
    outer_steps: PositiveInt
    real_batch: PositiveInt
    eval: DDEvalParams

    @field_validator("models")
    @classmethod
    def _unique_labels(cls, value: tuple[DDModel, ...]) -> tuple[DDModel, ...]:
        labels = [m.label for m in value]
        if len(set(labels)) != len(labels):
            raise ValueError(f"model labels must be unique; got {labels}")
        return value

    def method_options(self, name: str | None = None) -> dict[str, Any]:
        """The options given for method ``name`` (default: the selected :attr:`method`)."""
        return dict(self.methods.get(name or self.method, {}))
