"""The DVC pipeline, run for real with DVC in a temporary git repository (offline)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]


def _run(args: tuple[str, ...], cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    done = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, f"{' '.join(args)} failed:\n{done.stdout}\n{done.stderr}"
    return done


def sh(*args: str, cwd: Path) -> str:
    done = _run(args, cwd)
    return done.stdout + done.stderr


def sh_json(*args: str, cwd: Path):
    return json.loads(_run(args, cwd).stdout)


def make_repo(tmp_path: Path) -> Path:
    """A git + DVC repository holding the project's pipeline, code and parameters."""
    repo = tmp_path / "project"
    repo.mkdir()
    for name in ("dvc.yaml", "params.yaml", ".dvcignore", ".gitignore"):
        shutil.copy(ROOT / name, repo / name)
    for src in ("qkernel", "plugins", "flows"):
        shutil.copytree(ROOT / src, repo / src, ignore=shutil.ignore_patterns("__pycache__"))
    sh("git", "init", "-q", cwd=repo)
    sh("dvc", "init", "-q", cwd=repo)
    sh("dvc", "config", "core.analytics", "false", cwd=repo)
    sh("dvc", "config", "core.check_update", "false", cwd=repo)
    return repo


@pytest.fixture
def dvc_repo(tmp_path: Path) -> Path:
    return make_repo(tmp_path)


@pytest.mark.slow
def test_repro_status_nothing_to_do_then_a_param_change_reruns(dvc_repo: Path) -> None:
    # The README's line exactly as typed: `.venv/bin/dvc repro`, the venv not on PATH.
    (dvc_repo / ".venv").symlink_to(Path(sys.executable).parent.parent)
    bare = {**os.environ, "PATH": "/usr/bin:/bin"}
    done = subprocess.run([".venv/bin/dvc", "repro", "prepare"], cwd=dvc_repo, env=bare, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    out = done.stdout + done.stderr
    assert "Running stage 'prepare'" in out
    meta = json.loads((dvc_repo / "data/prepared/mnist-5k.json").read_text())
    assert sum(meta["sizes"].values()) == 5000
    assert "up to date" in sh("dvc", "status", "prepare", cwd=dvc_repo)
    again = sh("dvc", "repro", "prepare", cwd=dvc_repo)
    assert "didn't change, skipping" in again and "Running stage" not in again
    # generated data stays out of git: DVC wrote the ignore entries
    ignored = (dvc_repo / "data/prepared/.gitignore").read_text().split()
    assert {"/mnist-5k.npz", "/mnist-5k.json"} <= set(ignored)

    # a parameter change makes the stage stale and reruns it
    params = (dvc_repo / "params.yaml").read_text().replace("per_class: null", "per_class: 20", 1)
    (dvc_repo / "params.yaml").write_text(params)
    assert "changed" in sh("dvc", "status", "prepare", cwd=dvc_repo)
    assert "Running stage 'prepare'" in sh("dvc", "repro", "prepare", cwd=dvc_repo)
    meta = json.loads((dvc_repo / "data/prepared/mnist-5k.json").read_text())
    assert meta["sizes"]["train"] == 180


def test_full_pipeline_matches_the_flow(tiny_flows, tmp_path_factory: pytest.TempPathFactory) -> None:
    """``dvc repro`` of every stage on the session's tiny configuration gives the flows' numbers."""
    from qkernel.config import load_params

    repo = make_repo(tmp_path_factory.mktemp("dvc"))
    params = load_params(None, tiny_flows.overrides).as_dict()
    params.update(runs_dir="runs", plugins={"paths": []})
    params["data"]["out_dir"] = "data/prepared"
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    out = sh("dvc", "repro", cwd=repo)
    for stage in ("prepare", "teacher", "students", "report", "distill", "dd_evaluate", "dd_report"):
        assert f"Running stage '{stage}'" in out
    assert "up to date" in sh("dvc", "status", cwd=repo)
    metrics = json.loads((repo / "results/metrics.json").read_text())
    assert (repo / "results/report.md").is_file() and (repo / "results/plots/training_curves.png").is_file()
    columns = sh_json("dvc", "metrics", "show", "--json", cwd=repo)[""]["data"]
    assert "kd" in columns["results/metrics.json"]["data"] and "baseline" in columns["results/metrics.json"]["data"]
    assert columns["results/dd/metrics.json"]["data"]["dd"]["lenet"]["fresh"]["mean"] > 0

    dd_metrics = json.loads((repo / "results/dd/metrics.json").read_text())
    assert (repo / "results/dd/plots/images_lenet.png").is_file() and (repo / "results/dd/report.md").is_file()
    assert (repo / "results/dd/distilled/lenet/distilled.npz").is_file()

    flow = tiny_flows.kd
    assert metrics["teacher"]["test_accuracy"] == pytest.approx(flow["teacher"]["test_accuracy"])
    by_kind = {(s["variant"], s["mode"], s["seed"]): s for s in flow["students"]}
    assert len(metrics["students"]) == len(by_kind) == 12  # quantum + 2 controls, baseline and KD, 2 seeds
    for s in metrics["students"]:
        theirs = by_kind[s["variant"], s["mode"], s["seed"]]
        for key in ("test_accuracy", "test_accuracy_fixed", "val_accuracy"):
            assert s[key] == pytest.approx(theirs[key]), (s["variant"], s["mode"], s["seed"], key)
    for ours, theirs in zip(dd_metrics["models"], tiny_flows.dd["models"], strict=True):
        assert ours["distilled"]["values"] == pytest.approx(theirs["distilled"]["values"])
        assert ours["random_real"]["values"] == pytest.approx(theirs["random_real"]["values"])

    # `dvc exp run -S …`, then `dvc exp show`: the experiment's KD and DD accuracies as columns (the
    # experiment's commit must carry the params file and the metrics files, not a link or nothing).
    sh("git", "add", "-A", cwd=repo)
    sh("git", "-c", "user.name=qdistill", "-c", "user.email=ci@qdistill", "commit", "-qm", "tiny", cwd=repo)
    sh("dvc", "exp", "run", "-S", "kd.temperature=2", "--name", "t2", cwd=repo)
    baseline, = [rev for rev in sh_json("dvc", "exp", "show", "--json", cwd=repo) if rev["rev"] != "workspace"]
    experiment, = [rev for e in baseline["experiments"] for rev in e["revs"] if rev["name"] == "t2"]
    for rev in (baseline, experiment):
        assert not rev.get("error"), rev.get("error")
        shown = rev["data"]["metrics"]
        assert 0 <= shown["results/metrics.json"]["data"]["kd"]["test_accuracy"] <= 1
        assert 0 <= shown["results/dd/metrics.json"]["data"]["dd"]["lenet"]["fresh"]["mean"] <= 100
    assert experiment["data"]["params"]["params.yaml"]["data"]["kd"]["temperature"] == 2


@pytest.mark.slow
def test_trajectory_matching_keeps_its_expert_trajectories_in_the_dvc_tracked_set(dvc_repo: Path) -> None:
    """``dvc exp run … distill`` with trajectory matching: the experts land beside the distilled set, inside the
    stage's output, so DVC caches and versions them (hashed in ``dvc.lock``) and restores them on checkout."""
    sets = ["data.per_class=20", "data.test_per_class=2", "dd.method=trajectory-matching", "dd.outer_steps=2",
            "dd.images_per_class=1",
            "dd.models=[{label: lenet, model: lenet, options: {}}]",
            *(f"dd.methods.trajectory-matching.{o}" for o in
              ("experts=1", "expert_epochs=2", "max_start_epoch=1", "expert_span=1", "syn_steps=2"))]
    args = [a for s in sets for a in ("-S", s)]
    sh("git", "add", "-A", cwd=dvc_repo)
    sh("git", "-c", "user.name=qdistill", "-c", "user.email=ci@qdistill", "commit", "-qm", "init", cwd=dvc_repo)
    sh("dvc", "exp", "run", *args, "distill", cwd=dvc_repo)  # `dvc exp run -S` writes the settings and repros
    experts = list((dvc_repo / "results/dd/distilled/lenet").glob("experts-*.npz"))
    assert len(experts) == 1 and np.load(experts[0])["trajectories"].shape[:2] == (1, 3)
    lock = yaml.safe_load((dvc_repo / "dvc.lock").read_text())
    out, = lock["stages"]["distill"]["outs"]
    assert out["path"] == "results/dd/distilled" and out["nfiles"] == 3  # distilled.npz, history.json, experts
    kept = np.load(experts[0])["trajectories"]
    shutil.rmtree(dvc_repo / "results/dd/distilled")
    sh("dvc", "checkout", "distill", cwd=dvc_repo)
    np.testing.assert_array_equal(np.load(experts[0])["trajectories"], kept)
    assert "up to date" in sh("dvc", "status", "distill", cwd=dvc_repo)
