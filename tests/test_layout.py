"""The house rules that keep the code navigable: import direction, module size, documented contracts."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
LIBRARY = sorted((ROOT / "qkernel").rglob("*.py"))


def imported_modules(path: Path) -> set[str]:
    """Top-level names of every module ``path`` imports (at any depth of the file)."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize("path", LIBRARY, ids=lambda p: str(p.relative_to(ROOT)))
def test_the_library_never_imports_orchestration_or_benchmarks(path: Path) -> None:
    forbidden = imported_modules(path) & {"prefect", "prefect_dask", "dvc", "flows", "benchmarks", "pennylane", "torch"}
    assert not forbidden, f"{path.relative_to(ROOT)} imports {sorted(forbidden)}; qkernel must not"


@pytest.mark.parametrize("path", LIBRARY, ids=lambda p: str(p.relative_to(ROOT)))
def test_library_modules_stay_small(path: Path) -> None:
    lines = len(path.read_text().splitlines())
    assert lines <= 400, f"{path.relative_to(ROOT)} has {lines} lines; split it by concern"


def test_plugins_use_only_the_public_library() -> None:
    for path in sorted((ROOT / "plugins").rglob("*.py")):
        assert not imported_modules(path) & {"prefect", "flows", "dvc"}, path


def test_the_default_params_ship_inside_the_package() -> None:
    from qkernel.config import DEFAULT_PARAMS

    assert DEFAULT_PARAMS.parent == ROOT / "qkernel" and DEFAULT_PARAMS.is_file()
    # The project's params.yaml (what DVC tracks and `dvc exp run -S` edits) starts as the defaults. A real
    # file, not a link: DVC reads it from git at every experiment's revision.
    assert not (ROOT / "params.yaml").is_symlink()
    assert yaml.safe_load((ROOT / "params.yaml").read_text()) == yaml.safe_load(DEFAULT_PARAMS.read_text())
