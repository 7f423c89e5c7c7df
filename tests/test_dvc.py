"""The DVC pipeline, run for real with DVC in a temporary git repository (offline)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def sh(*args: str, cwd: Path) -> str:
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    done = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, f"{' '.join(args)} failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout + done.stderr


@pytest.fixture
def dvc_repo(tmp_path: Path) -> Path:
    repo = tmp_path / "project"
    repo.mkdir()
    for name in ("dvc.yaml", "params.yaml", ".dvcignore"):
        shutil.copy(ROOT / name, repo / name)
    for src in ("qkernel", "plugins"):
        shutil.copytree(ROOT / src, repo / src, ignore=shutil.ignore_patterns("__pycache__"))
    sh("git", "init", "-q", cwd=repo)
    sh("dvc", "init", "-q", cwd=repo)
    sh("dvc", "config", "core.analytics", "false", cwd=repo)
    sh("dvc", "config", "core.check_update", "false", cwd=repo)
    return repo


def test_repro_then_status_up_to_date_then_nothing_to_do(dvc_repo: Path) -> None:
    out = sh("dvc", "repro", cwd=dvc_repo)
    assert "Running stage 'prepare'" in out
    meta = json.loads((dvc_repo / "data/prepared/mnist-5k.json").read_text())
    assert sum(meta["sizes"].values()) == 5000
    assert "up to date" in sh("dvc", "status", cwd=dvc_repo)
    again = sh("dvc", "repro", cwd=dvc_repo)
    assert "didn't change, skipping" in again and "Running stage" not in again
    # generated data stays out of git: DVC wrote the ignore entries
    ignored = (dvc_repo / "data/prepared/.gitignore").read_text().split()
    assert {"/mnist-5k.npz", "/mnist-5k.json"} <= set(ignored)


def test_param_change_reruns_the_stage(dvc_repo: Path) -> None:
    sh("dvc", "repro", cwd=dvc_repo)
    params = (dvc_repo / "params.yaml").read_text().replace("per_class: null", "per_class: 20")
    (dvc_repo / "params.yaml").write_text(params)
    assert "changed" in sh("dvc", "status", cwd=dvc_repo)
    assert "Running stage 'prepare'" in sh("dvc", "repro", cwd=dvc_repo)
    meta = json.loads((dvc_repo / "data/prepared/mnist-5k.json").read_text())
    assert meta["sizes"]["train"] == 180
