"""The plugin registry: built-ins via entry points, user folders, duplicates, documented hooks."""

from __future__ import annotations

import inspect
from pathlib import Path

import pytest

from qkernel.plugin import hookspecs
from qkernel.plugin.contracts import PluginInfo
from qkernel.errors import PluginError
from qkernel.plugin.registry import ENV_PLUGINS_PATH, KINDS, Registry, get_plugin_manager, get_registry

USER_PLUGIN = '''
"""A user's dataset plugin, loaded from a folder."""
from qkernel.plugin.hookspecs import hookimpl

class Digits3:
    """Three fake digit classes for a plugin test."""
    name = "digits3"

@hookimpl
def register_datasets():
    return [Digits3]
'''


def test_every_hook_is_documented() -> None:
    specs = [f for name, f in inspect.getmembers(hookspecs, inspect.isfunction) if hasattr(f, "qkernel_spec")]
    assert {f.__name__ for f in specs} >= set(KINDS.values()) | {"before_stage", "after_stage", "on_stage_error"}
    for f in specs:
        doc = inspect.getdoc(f) or ""
        assert doc.splitlines()[0].endswith("."), f"{f.__name__} lacks a one-line summary"
        assert "Returns:" in doc or "Args:" in doc, f"{f.__name__} does not document arguments or results"
        assert f.__annotations__.get("return") is not None, f"{f.__name__} has no return annotation"


def test_builtins_register_through_the_entry_point_group() -> None:
    registry = get_registry()
    info = registry.get("dataset", "mnist-5k")
    assert info.origin.startswith("qdistill ") and info.description.startswith("5000 real MNIST digits")


def test_plugin_from_user_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "my_digits.py").write_text(USER_PLUGIN)
    (tmp_path / "_private.py").write_text("raise RuntimeError('must not be imported')")
    monkeypatch.setenv(ENV_PLUGINS_PATH, str(tmp_path))
    registry = get_registry()
    info = registry.get("dataset", "digits3")
    assert info.origin == str(tmp_path / "my_digits.py")
    assert registry.create("dataset", "digits3").name == "digits3"
    assert info.description == "Three fake digit classes for a plugin test."


def test_duplicate_names_are_an_error_naming_both(tmp_path: Path) -> None:
    (tmp_path / "clash.py").write_text(USER_PLUGIN.replace('"digits3"', '"mnist"'))
    with pytest.raises(PluginError, match=r"two dataset plugins are named 'mnist': one from qdistill 0\.1\.0, one from .*clash\.py"):
        Registry(get_plugin_manager([tmp_path]))


def test_explicit_override_replaces(tmp_path: Path) -> None:
    registry = Registry(get_plugin_manager())
    registry.add("dataset", PluginInfo(name="mnist", factory=dict, description="mine", override=True))
    assert registry.get("dataset", "mnist").description == "mine"


def test_unknown_names_and_kinds() -> None:
    registry = get_registry()
    with pytest.raises(PluginError, match=r"unknown dataset 'nope'; registered dataset plugins: .*mnist-5k"):
        registry.get("dataset", "nope")
    with pytest.raises(PluginError, match="unknown plugin kind 'gadget'"):
        registry.names("gadget")


def test_bad_registration_and_folders(tmp_path: Path) -> None:
    (tmp_path / "bad.py").write_text(
        "from qkernel.plugin.hookspecs import hookimpl\n@hookimpl\ndef register_encoders():\n    return [42]\n"
    )
    with pytest.raises(PluginError, match=r"register_encoders from .*bad\.py returned 42"):
        Registry(get_plugin_manager([tmp_path]))
    with pytest.raises(PluginError, match="does not exist"):
        get_plugin_manager([tmp_path / "missing"])
    (tmp_path / "bad.py").write_text("import not_a_module_anywhere\n")
    with pytest.raises(PluginError, match=r"bad\.py.*failed to import"):
        get_plugin_manager([tmp_path])


def test_lifecycle_hooks_are_called(tmp_path: Path) -> None:
    (tmp_path / "watch.py").write_text(
        "from qkernel.plugin.hookspecs import hookimpl\nseen = []\n"
        "@hookimpl\ndef before_stage(stage, params):\n    seen.append(('before', stage))\n"
        "@hookimpl\ndef after_stage(stage, params, result):\n    seen.append(('after', stage, result))\n"
    )
    registry = Registry(get_plugin_manager([tmp_path]))
    registry.hook.before_stage(stage="prepare", params={})
    registry.hook.after_stage(stage="prepare", params={}, result=3)
    module = registry.pm.get_plugin(str(tmp_path / "watch.py"))
    assert module.seen == [("before", "prepare"), ("after", "prepare", 3)]
