"""Built-in dataset-distillation methods (``dd.method``), registered like any third-party method.

Each class satisfies :class:`qkernel.plugin.contracts.DatasetDistiller`: it is built with the
options of ``dd.methods.<name>``, validates them against its option model (naming any bad key
and listing the keys it knows), and distils a :class:`qkernel.methods.dd.synthetic.DistillTask`
with the algorithm in :mod:`qkernel.methods.dd`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

from qkernel.methods.dd import distribution_matching as dm
from qkernel.methods.dd import gradient_matching as gm
from qkernel.methods.dd import performance_matching as pm
from qkernel.methods.dd import trajectory_matching as tm
from qkernel.methods.dd.augment import parse_strategy
from qkernel.methods.dd.synthetic import Distilled, DistillTask
from qkernel.plugin import hookimpl
from qkernel.schema import validate_options


class _Method:
    """Option validation and the call into the algorithm, shared by the built-in methods."""

    name: ClassVar[str]
    Options: ClassVar[type]
    algorithm: ClassVar[Callable[..., Distilled]]

    def __init__(self, **options: Any) -> None:
        self.options = validate_options(self.Options, options, f"dd.methods.{self.name}")

    def check(self, images_per_class: int, num_classes: int) -> None:
        """Nothing beyond the options to check for this method."""

    def distill(self, task: DistillTask, on_step: Callable[[dict[str, float]], None] | None = None) -> Distilled:
        return type(self).algorithm(task, self.options, on_step)


class PerformanceMatching(_Method):
    """Wang et al. 2018: unrolled inner SGD on the set, second-order outer gradient (as in the DD paper)."""

    name = pm.METHOD
    Options = pm.PerformanceMatchingOptions
    algorithm = pm.distill

    def check(self, images_per_class: int, num_classes: int) -> None:
        """Fail before any work on a set that cannot be sliced into the inner steps."""
        pm.check_task(self.options, images_per_class, num_classes)


class DistributionMatching(_Method):
    """Zhao & Bilen 2023: match per-class mean embeddings under fresh networks, with siamese augmentation."""

    name = dm.METHOD
    Options = dm.DistributionMatchingOptions
    algorithm = dm.distill
    multi_formation = True  # matches the decoded images of a dd.factor > 1 set

    def check(self, images_per_class: int, num_classes: int) -> None:
        """Fail before any work on an unknown augmentation."""
        parse_strategy(self.options.augment)


class GradientMatching(_Method):
    """Zhao et al. 2021 (DC) with DSA: match per-class training gradients along short trajectories of fresh networks."""

    name = gm.METHOD
    Options = gm.GradientMatchingOptions
    algorithm = gm.distill
    multi_formation = True  # matches and trains on the decoded images of a dd.factor > 1 set (IDC)

    def check(self, images_per_class: int, num_classes: int) -> None:
        """Fail before any work on an unknown augmentation."""
        parse_strategy(self.options.augment)


class TrajectoryMatching(_Method):
    """Cazenavette et al. 2022 (MTT): a few student steps on the set match long expert training on real images."""

    name = tm.METHOD
    Options = tm.TrajectoryMatchingOptions
    algorithm = tm.distill

    def check(self, images_per_class: int, num_classes: int) -> None:
        """Fail before any work on an unknown augmentation or a segment longer than the experts' training."""
        tm.check_options(self.options)


@hookimpl
def register_dd_methods() -> list[type]:
    return [PerformanceMatching, DistributionMatching, GradientMatching, TrajectoryMatching]
