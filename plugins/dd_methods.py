"""Built-in dataset-distillation methods (``dd.method``), registered like any third-party method.

Each class satisfies :class:`qkernel.plugin.contracts.DatasetDistiller`: it is built with the
options of ``dd.methods.<name>``, validates them against its option model, and distils a
:class:`qkernel.methods.dd.synthetic.DistillTask`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from qkernel.methods.dd import performance_matching as pm
from qkernel.methods.dd.synthetic import Distilled, DistillTask
from qkernel.plugin import hookimpl
from qkernel.schema import validate_options


class PerformanceMatching:
    """Wang et al. 2018: unrolled inner SGD on the set, second-order outer gradient (as in the DD paper)."""

    name = pm.METHOD
    Options = pm.PerformanceMatchingOptions

    def __init__(self, **options: Any) -> None:
        self.options = validate_options(self.Options, options, f"dd.methods.{self.name}")

    def check(self, images_per_class: int, num_classes: int) -> None:
        """Fail before any work on a set that cannot be sliced into the inner steps."""
        pm.check_task(self.options, images_per_class, num_classes)

    def distill(self, task: DistillTask, on_step: Callable[[dict[str, float]], None] | None = None) -> Distilled:
        return pm.distill(task, self.options, on_step)


@hookimpl
def register_dd_methods() -> list[type]:
    return [PerformanceMatching]
