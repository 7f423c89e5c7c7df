"""qdistill's plugin system: hook specifications, the registry, the contracts and the conformance kit.

A plugin is a module (or object) whose functions carry :data:`hookimpl`; it registers
through the ``qkernel`` entry-point group, a user plugin folder, or
:meth:`Registry.register`. Built-ins (``plugins/``) register the same way::

    from qkernel.plugin import hookimpl

    @hookimpl
    def register_encoders():
        return [MyEncoder]

* :mod:`qkernel.plugin.hookspecs` — every hook, documented;
* :mod:`qkernel.plugin.registry` — :func:`get_registry`, one process-wide :class:`Registry`;
* :mod:`qkernel.plugin.contracts` — the protocols plugins implement;
* :mod:`qkernel.plugin.lifecycle` — how stages call the lifecycle hooks;
* :mod:`qkernel.plugin.testing` — :func:`check_plugin`, the conformance checks qdistill runs
  on its own plugins (imported on first use: it loads the simulators).
"""

from __future__ import annotations

from typing import Any

from qkernel.plugin.contracts import PluginInfo
from qkernel.plugin.hookspecs import hookimpl, hookspec
from qkernel.plugin.registry import KINDS, Registry, get_registry

__all__ = ["KINDS", "PluginInfo", "Registry", "check_plugin", "get_registry", "hookimpl", "hookspec"]


def __getattr__(name: str) -> Any:
    if name == "check_plugin":  # lazily: the conformance kit imports Cirq, TensorFlow and the backends
        from qkernel.plugin.testing import check_plugin

        return check_plugin
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
