"""Lifecycle hooks around pipeline stages: ``before_stage``, ``after_stage``, ``on_stage_error``.

Every stage function (:mod:`qkernel.data`, :mod:`qkernel.methods.kd.stages`,
:mod:`qkernel.methods.dd.stages`, the report writers) is decorated with :func:`stage`, so a
plugin's hooks fire whether the stage runs in a Prefect flow, in ``dvc repro`` or from Python.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from qkernel.config import Params

__all__ = ["STAGES", "stage"]

#: Every stage name the hooks receive.
STAGES = ("prepare", "teacher", "reducer", "student", "report", "distill", "dd-evaluate", "dd-report")

F = TypeVar("F", bound=Callable[..., Any])


def stage(name: str) -> Callable[[F], F]:
    """Decorate a stage function whose first argument is the validated :class:`~qkernel.config.Params`.

    The plugins of the registry for ``params.plugins.paths`` get ``before_stage`` first, then
    ``after_stage`` with the stage's return value, or ``on_stage_error`` with the exception
    (which is then re-raised unchanged).
    """
    if name not in STAGES:
        raise ValueError(f"unknown stage {name!r}; stages: {', '.join(STAGES)}")

    def decorate(fn: F) -> F:
        @functools.wraps(fn)
        def run(params: Params, *args: Any, **kwargs: Any) -> Any:
            from qkernel.plugin.registry import get_registry

            hook = get_registry(params.plugins.paths).hook
            mapping = params.as_dict()
            hook.before_stage(stage=name, params=mapping)
            try:
                result = fn(params, *args, **kwargs)
            except BaseException as error:
                hook.on_stage_error(stage=name, params=mapping, error=error)
                raise
            hook.after_stage(stage=name, params=mapping, result=result)
            return result

        run.stage_name = name  # type: ignore[attr-defined]
        return run  # type: ignore[return-value]

    return decorate
