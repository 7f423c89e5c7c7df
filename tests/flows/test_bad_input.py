"""Bad input, case by case: caught before any work where it can be, one clear message (exit 2, no traceback),
deterministic errors not retried, nothing left behind in ``runs/``."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from flows.cli import app

runner = CliRunner()


def run_cli(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, " ".join(result.output.split())  # rich wraps long messages


@pytest.mark.parametrize(("sets", "message"), [
    (["data.classes=0,12"], "data.classes: mnist-5k has classes 0–9; 12 does not exist"),
    (["teacher.model=vgg"], "teacher.model: unknown model 'vgg'; registered model plugins:"),
    (["student.encoder=angle", "student.encoder_options={axs: z}"],
     "student.encoder_options: angle encoder: unknown option(s) axs; accepted: axis, scale, validate"),
    (["student.reducer_options={size: 3}"], "student.reducer_options: reducer 'fc' does not take 'size'; it takes:"),
    (["dd.methods.distribution-matching.lr=-1", "dd.method=distribution-matching"],
     "dd.methods.distribution-matching.lr"),
    (["dd.method=trajectory-matching", "dd.methods.trajectory-matching.expert_span=50"],
     "dd.methods.trajectory-matching.expert_span (50) must not exceed expert_epochs (15)"),
])
def test_bad_parameters_stop_before_any_work_with_the_key_named(tmp_path: Path, sets, message) -> None:
    code, output = run_cli("run", *[a for s in [*sets, f"runs_dir={tmp_path / 'runs'}"] for a in ("-S", s)])
    assert code == 2 and message in output and "Traceback" not in output, output
    assert not (tmp_path / "runs").exists()


def test_plugin_options_can_be_set_on_the_command_line() -> None:
    from qkernel.config import load_params
    from qkernel.methods.kd.stages import check_params
    from qkernel.plugin.registry import get_registry

    p = load_params(None, ["student.encoder=angle", "student.encoder_options={axis: z}", "student.n_qubits=4",
                           "student.reducer=avgpool", "student.encoder_options.scale=2.0"])
    assert p.student.encoder_options == {"axis": "z", "scale": 2.0}
    parts = check_params(p, get_registry())
    assert parts.encoder.options["axis"] == "z" and parts.encoder.scale == 2.0


def test_a_missing_dataset_fails_once_with_one_message_and_leaves_no_runs_dir(prefect_server, tmp_path) -> None:
    from prefect.states import exception_to_failed_state

    from flows.common import transient
    from qkernel.errors import DatasetNotFoundError

    code, output = run_cli("run", "--skip-dd", "-S", "data.name=mnist", "-S", "data.download=false",
                           "-S", f"data.data_dir={tmp_path / 'nowhere'}", "-S", f"runs_dir={tmp_path / 'runs'}")
    assert code == 2 and "error: dataset 'mnist' not found" in output and "Traceback" not in output, output
    assert output.count("error:") == 1
    assert not (tmp_path / "runs").exists()  # not even the cache id or the log
    # ... and the task was not retried: a deterministic error is not transient.
    def failed(exc: BaseException):
        return asyncio.run(exception_to_failed_state(exc))

    assert transient(None, None, failed(DatasetNotFoundError("gone"))) is False
    assert transient(None, None, failed(ConnectionError("reset"))) is True


def test_blank_centred_digits_train_a_four_qubit_crop_student(tmp_path: Path) -> None:
    """308 of 3,600 mnist-5k training digits have an all-zero 4×4 centre; the amplitude encoder's
    stated policy (uniform state) lets the student train on and score them."""
    from qkernel.config import load_params
    from qkernel.data import prepare_stage
    from qkernel.methods.kd import stages as kd

    p = load_params(None, ["student.n_qubits=4", "student.reducer=crop", "student.depth=1", "student.epochs=1",
                           "data.per_class=60", "data.test_per_class=20", f"runs_dir={tmp_path}", "kd.seeds=[0]"])
    data, npz = prepare_stage(p, tmp_path / "data")
    centre = data.x["train"][:, 12:16, 12:16].reshape(len(data.y["train"]), -1)
    assert (np.abs(centre).max(axis=1) == 0).sum() > 0  # the case really occurs in this data
    reducer = kd.reducer_stage(p, npz, tmp_path / "reducer.npz")
    metrics = kd.student_stage(p, "baseline", 0, npz, None, reducer, tmp_path / "baseline")
    assert 0.0 <= metrics["test_accuracy"] <= 1.0 and np.isfinite(metrics["history"][-1]["loss"])


def test_a_rerun_says_which_checkpoint_it_resumes(tmp_path: Path) -> None:
    from flows.kd import resume_points, run_dir
    from qkernel.config import load_params

    p = load_params(None, [f"runs_dir={tmp_path}"])
    student = run_dir(p) / "students" / "baseline-seed0"
    (student / "checkpoints").mkdir(parents=True)
    (student / "checkpoints" / "checkpoint").write_text("model_checkpoint_path: ckpt-3")
    (student / "checkpoints" / "history.json").write_text(json.dumps([{"epoch": e} for e in (1, 2, 3)]))
    [line] = resume_points(p)
    assert line.startswith(f"resuming {student.relative_to(tmp_path)} from its checkpoint after epoch 3")
    (student / "metrics.json").write_text("{}")  # a finished student is not resumed
    assert resume_points(p) == []
