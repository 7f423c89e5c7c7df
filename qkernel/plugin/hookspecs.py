"""Every hook a qdistill plugin can implement, in one place.

Plugins are modules (or objects) with functions decorated by :data:`hookimpl`::

    from qkernel.plugin.hookspecs import hookimpl

    @hookimpl
    def register_encoders():
        return [MyEncoder]

They are found through the ``qkernel`` entry-point group (built-ins register the same
way), through module files in a user folder (``QDISTILL_PLUGINS_PATH`` or
``plugins.paths`` in ``params.yaml``), or by :meth:`qkernel.plugin.registry.Registry.register`.

``register_*`` hooks are collected from every plugin (no ``firstresult``): each returns
an iterable of factories — a class or callable with a ``name`` attribute, or a
:class:`qkernel.plugin.contracts.PluginInfo`. A name claimed twice within one kind is an error
naming both origins unless the later one sets ``PluginInfo.override``.

Lifecycle hooks (``before_stage``, ``after_stage``, ``on_stage_error``) are called on every
plugin around every pipeline stage (:mod:`qkernel.plugin.lifecycle`); results are ignored.
The stages: ``prepare``, ``teacher``, ``reducer``, ``student``, ``report`` (knowledge
distillation) and ``distill``, ``dd-evaluate``, ``dd-report`` (dataset distillation). A stage
run by a Prefect flow and the same stage run by ``dvc repro`` call the hooks alike.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import pluggy

PROJECT = "qkernel"

hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


@hookspec
def register_datasets() -> Iterable[Any]:
    """Register dataset sources.

    Returns:
        Factories called with no arguments, each returning a
        :class:`qkernel.plugin.contracts.DatasetSource`. All plugins' results are collected.
    """


@hookspec
def register_encoders() -> Iterable[Any]:
    """Register quantum data encoders.

    Returns:
        Factories called as ``factory(n_qubits=n, **options)`` returning a
        :class:`qkernel.plugin.contracts.Encoder`. All plugins' results are collected.
    """


@hookspec
def register_ansatzes() -> Iterable[Any]:
    """Register parametrised circuits (ansatzes).

    Returns:
        Factories called as ``factory(n_qubits=n, depth=d, **options)`` returning a
        :class:`qkernel.plugin.contracts.Ansatz`. All plugins' results are collected.
    """


@hookspec
def register_reducers() -> Iterable[Any]:
    """Register dimensionality reducers (images → ``2**n_qubits`` features).

    Returns:
        Factories called as ``factory(n_features=k, **options)`` returning a reducer.
        All plugins' results are collected.
    """


@hookspec
def register_models() -> Iterable[Any]:
    """Register classical or hybrid models (teachers, LeNets, quantum LeNet).

    Returns:
        Factories called as ``factory(input_shape=shape, num_classes=c, **options)``
        returning a Keras model. All plugins' results are collected.
    """


@hookspec
def register_backends() -> Iterable[Any]:
    """Register circuit-execution backends (native kernel, TFQ, qsim, Cirq, hardware).

    Returns:
        Factories called as ``factory(**options)`` returning a
        :class:`qkernel.plugin.contracts.Backend`. All plugins' results are collected.
    """


@hookspec
def register_dd_methods() -> Iterable[Any]:
    """Register dataset-distillation methods (``dd.method``).

    Returns:
        Factories called as ``factory(**options)`` with the options of ``dd.methods.<name>``,
        returning a :class:`qkernel.plugin.contracts.DatasetDistiller`. All plugins' results are
        collected.
    """


@hookspec
def before_stage(stage: str, params: Mapping[str, Any]) -> None:
    """Called before a pipeline stage (``"prepare"``, ``"teacher"``, ``"student"`` …) starts.

    Called on every plugin that implements it; results are ignored. An exception raised here
    stops the stage before it does any work (and ``on_stage_error`` is not called).

    Args:
        stage: Stage name.
        params: The validated parameters, as a plain mapping.
    """


@hookspec
def after_stage(stage: str, params: Mapping[str, Any], result: Any) -> None:
    """Called after a pipeline stage finished successfully (every implementation; results ignored).

    Args:
        stage: Stage name.
        params: The validated parameters, as a plain mapping.
        result: What the stage returned (e.g. metrics).
    """


@hookspec
def on_stage_error(stage: str, params: Mapping[str, Any], error: BaseException) -> None:
    """Called when a pipeline stage raised (every implementation); the error is re-raised afterwards.

    Args:
        stage: Stage name.
        params: The validated parameters, as a plain mapping.
        error: The exception.
    """
