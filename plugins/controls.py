"""Classical controls of the quantum student, as model plugins (``control_matched``, ``control_none``).

The KD pipeline trains every name in ``kd.controls`` beside the quantum student, with the same
data, budget, optimiser, schedule and selection rule, passing the student's built parts (its
reducer already fitted) as ``parts``. Used on their own they take the student's design as
options, like ``quantum_student``. The models are :class:`qkernel.nn.controls.ClassicalStudent`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import qkernel  # noqa: F401  (environment before TensorFlow)
import tensorflow as tf

from qkernel.plugin.hookspecs import hookimpl
from qkernel.plugin.registry import get_registry


def _build(name: str, middle: str, input_shape: Sequence[int], num_classes: int, parts: Any, seed: int | None,
           design: dict[str, Any]) -> tf.keras.Model:
    from qkernel.errors import QDistillError
    from qkernel.nn.controls import ClassicalStudent
    from qkernel.nn.student import StudentDesign, build_parts

    if parts is None:
        try:
            parts = build_parts(StudentDesign(**design), get_registry(), tuple(input_shape))
        except TypeError as exc:
            raise ValueError(f"{name}: {exc}") from None
        if parts.reducer.needs_fit:
            raise ValueError(f"{name}: reducer {parts.reducer.name!r} must be fitted on data first; pass parts=")
    elif design:
        raise ValueError(f"{name}: give either parts= or design options, not both (got {sorted(design)})")
    if seed is None:
        seed = int(tf.random.uniform([], 0, 2**31 - 1, dtype=tf.int64))  # follows the global seed
    tf.keras.utils.set_random_seed(seed)
    try:
        return ClassicalStudent(parts, tuple(input_shape), num_classes, seed, middle)
    except QDistillError as exc:
        raise ValueError(f"{name}: {exc}") from None


class MatchedControl:
    """The quantum student with its circuit replaced by a classical layer of exactly its trainable-parameter count."""

    name = "control_matched"

    def __new__(cls, input_shape: Sequence[int], num_classes: int, parts: Any = None, seed: int | None = None,
                **design: Any) -> tf.keras.Model:
        return _build(cls.name, "matched", input_shape, num_classes, parts, seed, design)


class NoMiddleControl:
    """The quantum student without its circuit: reducer features straight into the dense head."""

    name = "control_none"

    def __new__(cls, input_shape: Sequence[int], num_classes: int, parts: Any = None, seed: int | None = None,
                **design: Any) -> tf.keras.Model:
        return _build(cls.name, "none", input_shape, num_classes, parts, seed, design)


@hookimpl
def register_models() -> list[type]:
    return [MatchedControl, NoMiddleControl]
