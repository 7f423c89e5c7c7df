"""``qdistill evaluate`` and the ``evaluate_hardware`` flow on a tiny trained student (QVM, no network)."""

from __future__ import annotations

import asyncio
import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from flows.cli import app

runner = CliRunner()
# A baseline student (no teacher needed): 20 images per class, 4 qubits, one layer, one epoch.
TINY = ["data.per_class=20", "data.test_per_class=4", "student.n_qubits=4", "student.depth=1", "student.epochs=1",
        "kd.modes=[baseline]"]
RUN = "kd-tiny-4q"


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``<runs>/kd-tiny-4q`` laid out as the KD flow writes it (students/baseline-seed0, reducer.npz)."""
    from qkernel.methods.kd import stages as kd
    from qkernel.config import load_params
    from qkernel.data import load_dataset, save_prepared

    runs = tmp_path_factory.mktemp("runs")
    p = load_params(None, [*TINY, f"runs_dir={runs}"])
    npz, _ = save_prepared(load_dataset(p), runs / "data")
    reducer = kd.reducer_stage(p, npz, runs / RUN / "reducer.npz")
    kd.student_stage(p, "baseline", p.seed, npz, None, reducer, runs / RUN / "students" / "baseline-seed0")
    return runs


def evaluate(runs: Path, *args: str):
    return runner.invoke(app, ["evaluate", "--mode", "baseline", "-S", f"runs_dir={runs}", *args])


def test_cli_reports_processor_beside_exact_accuracy(tiny_run: Path) -> None:
    result = evaluate(tiny_run, "kd-tiny", "--processor", "weber", "--shots", "200", "--limit", "6",
                      "--mitigate-readout")
    assert result.exit_code == 0, result.output
    for text in ("exact accuracy", "accuracy on the processor", "2-qubit gates", "weber Quantum Virtual", "report:",
                 "native density matrix", "estimated circuit fidelity (calibration)"):
        assert text in result.output
    # the circuit and its fidelity estimate are printed before any image runs
    assert result.output.index("estimated circuit fidelity") < result.output.index("accuracy on the processor")
    student = tiny_run / RUN / "students" / "baseline-seed0"
    saved = json.loads(next((student / "hardware").glob("weber-qvm-sqrt_iswap-6x200-mitigated.json")).read_text())
    assert saved["samples"] == 6 and saved["kind"] == "qvm" and saved["readout_mitigation"]
    assert saved["executions"] == {"jobs": 2, "circuits": 8, "shots": 6 * 200 + 2 * 200, "calibration_shots": 400}
    assert saved["compiled"]["qubits"] == 4 and saved["compiled"]["two_qubit_gates"] > 0
    assert saved["state_preparation"]["logical"]["two_qubit_gates"] == 14
    assert saved["params_from"].endswith("params.json")
    assert 0.0 < saved["fidelity_estimate"]["fidelity"] < 1.0 and saved["method"] == "native"
    assert 0.0 <= saved["device_accuracy"] <= 1.0 and 0.0 <= saved["exact_accuracy"] <= 1.0


def test_noiseless_qvm_reproduces_the_exact_predictions(tiny_run: Path) -> None:
    result = evaluate(tiny_run, str(tiny_run / RUN), "--no-noise", "--shots", "20000", "--limit", "4",
                      "--batch-size", "2")
    assert result.exit_code == 0, result.output
    hardware = tiny_run / RUN / "students" / "baseline-seed0" / "hardware"
    saved = json.loads(next(hardware.glob("*-4x20000-noiseless.json")).read_text())
    assert saved["expectation_abs_error"] < 0.02 and saved["executions"]["jobs"] == 2
    assert "noiseless" in saved["processor"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("kd-tiny", "--processor", "sycamore"), "unknown processor 'sycamore'"),
        (("nothing-here",), "matches no run"),
        (("kd-tiny", "--backend", "qsim"), "backend 'qsim' does not run on quantum hardware; hardware backends: google"),
        (("kd-tiny", "--mode", "kd"), "no student matching 'kd-seed*'"),
    ],
)
def test_cli_errors_exit_2_with_a_message(tiny_run: Path, args: tuple[str, ...], message: str) -> None:
    result = runner.invoke(app, ["evaluate", "-S", f"runs_dir={tiny_run}", *args]
                           + ([] if "--mode" in args else ["--mode", "baseline"]))
    output = " ".join(result.output.split())  # rich wraps long messages
    assert result.exit_code == 2 and message in output and "Traceback" not in output


def test_cli_without_credentials_points_to_the_qvm(tiny_run: Path, tmp_path: Path, monkeypatch) -> None:
    import cirq_google

    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(tmp_path / "missing.json"))
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setattr(cirq_google, "get_engine", lambda *a, **k: pytest.fail("Engine contacted"))
    result = evaluate(tiny_run, "kd-tiny", "--project", "my-project", "--limit", "2")
    output = " ".join(result.output.split())
    assert result.exit_code == 2
    assert "no Google Cloud credentials" in output and "--processor weber" in output


def test_runs_saved_without_params_need_the_training_parameters(tiny_run: Path, tmp_path: Path) -> None:
    old = tmp_path / "kd-old-run"
    shutil.copytree(tiny_run / RUN, old)
    (old / "students" / "baseline-seed0" / "params.json").unlink()
    result = evaluate(tiny_run, str(old), "--limit", "2")  # defaults: 8 qubits, not the run's 4
    output = " ".join(result.output.split())
    assert result.exit_code == 2 and "n_qubits 4" in output and "same -p/-S" in output
    sets = [x for s in TINY for x in ("-S", s)]
    result = evaluate(tiny_run, str(old), "--limit", "2", "--shots", "50", "--no-noise", *sets)
    assert result.exit_code == 0, result.output
    assert "-p/-S parameters" in " ".join(result.output.split())


def _artifact_types(flow_run_id) -> set[str]:
    from prefect.client.orchestration import get_client

    async def fetch() -> list[dict]:
        async with get_client() as client:
            body = {"artifacts": {"flow_run_id": {"any_": [str(flow_run_id)]}}, "limit": 50}
            return (await client._client.post("/artifacts/filter", json=body)).json()

    return {a["type"] for a in asyncio.run(fetch())}


def test_flow_publishes_table_and_markdown(prefect_server, tiny_run: Path) -> None:
    from flows.evaluate import evaluate_hardware

    state = evaluate_hardware(run_id=RUN, shots=100, limit=3, mode="baseline", overrides=[f"runs_dir={tiny_run}"],
                              return_state=True)
    result = state.result()
    assert result["samples"] == 3 and result["executions"]["jobs"] == 1 and result["executions"]["shots"] == 300
    assert Path(result["report"]).read_text().startswith("# weber Quantum Virtual Machine")
    assert {"table", "markdown"} <= _artifact_types(state.state_details.flow_run_id)
