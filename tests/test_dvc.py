"""The DVC pipeline, run for real with DVC in a temporary git repository (offline)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

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
    for src in ("qkernel", "plugins", "flows"):
        shutil.copytree(ROOT / src, repo / src, ignore=shutil.ignore_patterns("__pycache__"))
    sh("git", "init", "-q", cwd=repo)
    sh("dvc", "init", "-q", cwd=repo)
    sh("dvc", "config", "core.analytics", "false", cwd=repo)
    sh("dvc", "config", "core.check_update", "false", cwd=repo)
    return repo


def test_repro_then_status_up_to_date_then_nothing_to_do(dvc_repo: Path) -> None:
    out = sh("dvc", "repro", "prepare", cwd=dvc_repo)
    assert "Running stage 'prepare'" in out
    meta = json.loads((dvc_repo / "data/prepared/mnist-5k.json").read_text())
    assert sum(meta["sizes"].values()) == 5000
    assert "up to date" in sh("dvc", "status", "prepare", cwd=dvc_repo)
    again = sh("dvc", "repro", "prepare", cwd=dvc_repo)
    assert "didn't change, skipping" in again and "Running stage" not in again
    # generated data stays out of git: DVC wrote the ignore entries
    ignored = (dvc_repo / "data/prepared/.gitignore").read_text().split()
    assert {"/mnist-5k.npz", "/mnist-5k.json"} <= set(ignored)


def test_param_change_reruns_the_stage(dvc_repo: Path) -> None:
    sh("dvc", "repro", "prepare", cwd=dvc_repo)
    params = (dvc_repo / "params.yaml").read_text().replace("per_class: null", "per_class: 20")
    (dvc_repo / "params.yaml").write_text(params)
    assert "changed" in sh("dvc", "status", "prepare", cwd=dvc_repo)
    assert "Running stage 'prepare'" in sh("dvc", "repro", "prepare", cwd=dvc_repo)
    meta = json.loads((dvc_repo / "data/prepared/mnist-5k.json").read_text())
    assert meta["sizes"]["train"] == 180


TINY_DD = {"images_per_class": 2, "steps": 2, "epochs": 1, "outer_steps": 3, "init_pool": 2, "real_batch": 64,
           "models": [{"label": "lenet", "model": "lenet", "options": {}}]}
TINY = {"per_class: null": "per_class: 20", "test_per_class: null": "test_per_class: 10",
        "n_qubits: 8": "n_qubits: 4", "depth: 5": "depth: 1"}


def test_full_pipeline_matches_the_flow(dvc_repo: Path, tmp_path: Path, prefect_server) -> None:
    text = (dvc_repo / "params.yaml").read_text()
    for old, new in TINY.items():
        text = text.replace(old, new, 1)
    text = text.replace("epochs: 30 ", "epochs: 2 ", 1).replace("epochs: 40", "epochs: 2")
    params = yaml.safe_load(text)
    params["dd"].update(TINY_DD)
    params["dd"]["eval"].update(inits=2, full_inits=1, epochs=1, subset_epochs=2)
    (dvc_repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    out = sh("dvc", "repro", cwd=dvc_repo)
    for stage in ("prepare", "teacher", "students", "report", "distill", "dd_evaluate", "dd_report"):
        assert f"Running stage '{stage}'" in out
    assert "up to date" in sh("dvc", "status", cwd=dvc_repo)
    metrics = json.loads((dvc_repo / "results/metrics.json").read_text())
    assert (dvc_repo / "results/report.md").is_file() and (dvc_repo / "results/plots/training_curves.png").is_file()
    shown = sh("dvc", "metrics", "show", cwd=dvc_repo)
    assert "test_accuracy" in shown

    dd_metrics = json.loads((dvc_repo / "results/dd/metrics.json").read_text())
    assert (dvc_repo / "results/dd/plots/images_lenet.png").is_file() and (dvc_repo / "results/dd/report.md").is_file()
    assert (dvc_repo / "results/dd/distilled/lenet/distilled.npz").is_file()

    from flows.dd import dd_pipeline
    from flows.kd import kd_pipeline

    flow = kd_pipeline(params_file=str(dvc_repo / "params.yaml"),
                       overrides=[f"runs_dir={tmp_path / 'runs'}", f"data.out_dir={tmp_path / 'data'}"])
    assert metrics["teacher"]["test_accuracy"] == pytest.approx(flow["teacher"]["test_accuracy"])
    by_mode = {s["mode"]: s for s in flow["students"]}
    for s in metrics["students"]:
        assert s["test_accuracy"] == pytest.approx(by_mode[s["mode"]]["test_accuracy"])
        assert s["val_accuracy"] == pytest.approx(by_mode[s["mode"]]["val_accuracy"])

    dd_flow = dd_pipeline(params_file=str(dvc_repo / "params.yaml"),
                          overrides=[f"runs_dir={tmp_path / 'runs'}", f"data.out_dir={tmp_path / 'data'}"])
    for ours, theirs in zip(dd_metrics["models"], dd_flow["models"], strict=True):
        assert ours["distilled"]["values"] == pytest.approx(theirs["distilled"]["values"])
