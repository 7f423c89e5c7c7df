"""The plugin registry: one pluggy manager, every plugin kind, one way in.

Built-in plugins (``plugins/``) and third-party packages register through the same
``qkernel`` entry-point group; module files in user folders are loaded too
(``QDISTILL_PLUGINS_PATH``, ``os.pathsep``-separated, or ``plugins.paths`` in params).
"""

from __future__ import annotations

import importlib.util
import os
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

import pluggy

from qkernel.plugin import hookspecs
from qkernel.plugin.contracts import PluginInfo
from qkernel.errors import PluginError

ENTRY_POINT_GROUP = hookspecs.PROJECT
#: Folders of plugin module files, ``os.pathsep``-separated.
ENV_PLUGINS_PATH = "QDISTILL_PLUGINS_PATH"
#: If set (comma-separated entry-point names), only these entry points are loaded.
ENV_LOAD_PLUGINS = "QDISTILL_LOAD_PLUGINS"

#: Plugin kind → the hook that registers it.
KINDS: dict[str, str] = {
    "dataset": "register_datasets",
    "encoder": "register_encoders",
    "ansatz": "register_ansatzes",
    "reducer": "register_reducers",
    "model": "register_models",
    "backend": "register_backends",
    "dd_method": "register_dd_methods",
}


def get_plugin_manager(paths: Sequence[str | Path] = (), *, entry_points: bool = True) -> pluggy.PluginManager:
    """Create a plugin manager with the specs, the entry-point plugins and the user folders.

    Args:
        paths: Extra folders whose ``*.py`` files (not starting with ``_``) are loaded as plugins,
            after those named by ``QDISTILL_PLUGINS_PATH``.
        entry_points: Load the ``qkernel`` entry-point group (built-ins and installed packages).

    Returns:
        The manager.

    Raises:
        PluginError: if a folder does not exist or a module fails to import.
    """
    pm = pluggy.PluginManager(hookspecs.PROJECT)
    pm.add_hookspecs(hookspecs)
    if entry_points:
        only = os.environ.get(ENV_LOAD_PLUGINS)
        if only is None:
            pm.load_setuptools_entrypoints(ENTRY_POINT_GROUP)
        else:
            for name in filter(None, (n.strip() for n in only.split(","))):
                if not pm.load_setuptools_entrypoints(ENTRY_POINT_GROUP, name=name):
                    raise PluginError(
                        f"{ENV_LOAD_PLUGINS} names entry point {name!r}, but no installed package "
                        f"provides it in group {ENTRY_POINT_GROUP!r}"
                    )
    env_paths = [p for p in os.environ.get(ENV_PLUGINS_PATH, "").split(os.pathsep) if p]
    for folder in [*env_paths, *paths]:
        for module, file in _load_folder(Path(folder)):
            pm.register(module, name=str(file))
    return pm


def _load_folder(folder: Path) -> Iterable[tuple[ModuleType, Path]]:
    if not folder.is_dir():
        raise PluginError(f"plugin folder {str(folder)!r} does not exist or is not a directory")
    for file in sorted(folder.glob("*.py")):
        if file.name.startswith("_"):
            continue
        name = f"qdistill_user_plugins.{file.stem}"
        spec = importlib.util.spec_from_file_location(name, file)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        try:
            spec.loader.exec_module(module)
        except Exception as exc:  # report which file broke, keep the cause
            raise PluginError(f"plugin file {str(file)!r} failed to import: {exc!r}") from exc
        sys.modules[name] = module
        yield module, file


class Registry:
    """Named factories of every kind, collected from a plugin manager.

    Args:
        pm: The plugin manager (see :func:`get_plugin_manager`).

    Raises:
        PluginError: if two plugins claim the same kind and name without ``override``,
            or a hook returns something that is neither a factory with ``name`` nor a
            :class:`~qkernel.plugin.contracts.PluginInfo`.
    """

    def __init__(self, pm: pluggy.PluginManager) -> None:
        self.pm = pm
        self.hook = pm.hook
        self._plugins: dict[str, dict[str, PluginInfo]] = {kind: {} for kind in KINDS}
        # In registration order (entry points, then user folders), so duplicates name the later one.
        for _name, plugin in pm.list_name_plugin():
            self._collect(plugin)

    def _origin(self, plugin: object) -> str:
        for registered, dist in self.pm.list_plugin_distinfo():
            if registered is plugin:
                return f"{dist.project_name} {dist.version}"
        name = self.pm.get_name(plugin) or ""
        return name if name.endswith(".py") else f"module {getattr(plugin, '__name__', name)}"

    def _collect(self, plugin: object) -> None:
        origin = self._origin(plugin)
        for kind, hook_name in KINDS.items():
            impl = getattr(plugin, hook_name, None)
            if impl is None or not hasattr(impl, hookspecs.PROJECT + "_impl"):
                continue
            for item in impl() or ():
                self.add(kind, _as_info(item, origin, hook_name))

    def register(self, plugin: object, name: str | None = None) -> None:
        """Register a plugin object or module at run time and collect its factories."""
        self.pm.register(plugin, name=name)
        self._collect(plugin)

    def add(self, kind: str, info: PluginInfo) -> None:
        """Add one factory of ``kind``; duplicates raise unless ``info.override``."""
        info.kind = kind
        existing = self._plugins[kind].get(info.name)
        if existing is not None and not info.override:
            raise PluginError(
                f"two {kind} plugins are named {info.name!r}: one from {existing.origin}, one from "
                f"{info.origin}. Rename one, or return PluginInfo(..., override=True) to replace it."
            )
        self._plugins[kind][info.name] = info

    def names(self, kind: str) -> list[str]:
        """Sorted names registered for ``kind``."""
        return sorted(self._kind(kind))

    def get(self, kind: str, name: str) -> PluginInfo:
        """The :class:`PluginInfo` of ``kind`` called ``name``.

        Raises:
            PluginError: naming the kind, the unknown name and every registered name.
        """
        plugins = self._kind(kind)
        if name not in plugins:
            known = ", ".join(sorted(plugins)) or "none"
            raise PluginError(f"unknown {kind} {name!r}; registered {kind} plugins: {known}")
        return plugins[name]

    def create(self, kind: str, name: str, /, **kwargs: Any) -> Any:
        """Build the plugin ``name`` of ``kind`` by calling its factory with ``kwargs``.

        Raises:
            PluginError: for an unknown name (listing the registered ones), or options the
                factory does not take (listing the ones it does).
        """
        factory = self.get(kind, name).factory
        try:
            return factory(**kwargs)
        except TypeError as exc:
            if "unexpected keyword argument" not in str(exc):
                raise
            raise PluginError(f"{kind} {name!r} does not take {_unexpected(exc)}; it takes: "
                              f"{', '.join(accepted_options(factory)) or 'no options'}") from None

    def all(self) -> list[PluginInfo]:
        """Every registered factory, ordered by kind then name."""
        return [self._plugins[k][n] for k in KINDS for n in sorted(self._plugins[k])]

    def _kind(self, kind: str) -> dict[str, PluginInfo]:
        if kind not in self._plugins:
            raise PluginError(f"unknown plugin kind {kind!r}; expected one of {', '.join(KINDS)}")
        return self._plugins[kind]


def accepted_options(factory: Any) -> list[str]:
    """The keyword options a factory takes (its signature, or a class's ``option_defaults``)."""
    import inspect

    target = factory.__new__ if isinstance(factory, type) and factory.__new__ is not object.__new__ else factory
    try:
        parameters = inspect.signature(target).parameters.values()
    except (TypeError, ValueError):  # builtins without a signature
        return []
    named = [p.name for p in parameters if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY) and p.name != "cls"]
    return sorted({*named, *getattr(factory, "option_defaults", {})} - {"self"})


def _unexpected(exc: TypeError) -> str:
    text = str(exc)
    return text[text.index("unexpected keyword argument") + len("unexpected keyword argument "):]


def _as_info(item: Any, origin: str, hook_name: str) -> PluginInfo:
    if isinstance(item, PluginInfo):
        info = item
    elif callable(item) and isinstance(getattr(item, "name", None), str):
        doc = (item.__doc__ or "").strip().splitlines()
        info = PluginInfo(name=item.name, factory=item, description=doc[0] if doc else "")
    else:
        raise PluginError(
            f"{hook_name} from {origin} returned {item!r}; expected a PluginInfo or a callable "
            "with a string `name` attribute"
        )
    info.origin = origin
    return info


_cache: dict[tuple[str, ...], Registry] = {}


def get_registry(paths: Sequence[str | Path] = ()) -> Registry:
    """The process-wide registry for the given extra plugin folders (built once, then cached).

    ``QDISTILL_PLUGINS_PATH`` is part of the cache key, so changing it yields a new registry.
    """
    key = (os.environ.get(ENV_PLUGINS_PATH, ""), os.environ.get(ENV_LOAD_PLUGINS, "\0"), *map(str, paths))
    if key not in _cache:
        _cache[key] = Registry(get_plugin_manager(paths))
    return _cache[key]
