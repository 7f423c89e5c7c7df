"""``qdistill transpile``: student designs compiled for a processor and scored before training."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from flows.cli import app

runner = CliRunner()


def test_transpile_prints_writes_and_plots(tmp_path: Path) -> None:
    result = runner.invoke(app, ["transpile", "--processor", "weber", "--encoder", "angle", "--encoder", "amplitude",
                                 "--ansatz", "hardware_efficient", "--qubits", "3", "--depth", "1",
                                 "--gateset", "cz", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert "weber (cz): estimated fidelity" in result.output and "usable" in result.output
    assert "no error data for CZPowGate" in " ".join(result.output.split())
    rows = json.loads((tmp_path / "transpile.json").read_text())
    assert [r["encoder"] for r in rows] == ["angle", "amplitude"]  # best first
    assert (tmp_path / "transpile.png").stat().st_size > 1000 and (tmp_path / "transpile.md").is_file()


def test_transpile_rejects_unknown_names() -> None:
    result = runner.invoke(app, ["transpile", "--processor", "weber", "--gateset", "syc"])
    assert result.exit_code == 2 and "unknown gateset 'syc'" in result.output and "Traceback" not in result.output
    result = runner.invoke(app, ["transpile", "--processor", "sycamore", "--encoder", "angle", "--qubits", "2"])
    assert result.exit_code == 2 and "unknown processor 'sycamore'" in " ".join(result.output.split())
