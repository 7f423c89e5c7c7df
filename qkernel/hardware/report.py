"""The report of a hardware evaluation: markdown and JSON beside the student, written atomically."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from qkernel.io import atomic_write_json, atomic_write_text

__all__ = ["report_markdown", "write_report"]


def report_markdown(result: dict[str, Any]) -> str:
    """The evaluation as a short markdown report (tables of accuracies, circuit and executions)."""
    c = result.get("compiled") or {}
    e = result["executions"]
    lines = [
        f"# {result['processor']}: {result['student']}",
        "",
        f"{result['samples']} test images of {result['dataset']} ({result['mode']} student, "
        f"{result['shots']} shots each, gateset {result['gateset']}, readout mitigation "
        f"{'on' if result['readout_mitigation'] else 'off'}).",
        "",
        "| accuracy | value |",
        "|---|---|",
        f"| exact ({result['exact_backend']}) | {100 * result['exact_accuracy']:.1f} % |",
        f"| on the processor | {100 * result['device_accuracy']:.1f} % |",
        f"| same prediction | {100 * result['agreement']:.1f} % |",
        f"| mean abs. error of expectations | {result['expectation_abs_error']:.4f} "
        f"(shot s.e. {result['mean_standard_error']:.4f}) |",
        f"| exact, whole test split ({result['test_images']} images) | "
        f"{100 * result['test_accuracy_full_split']:.2f} % |",
        *_fidelity_lines(result),
        "",
        "| compiled circuit | depth | two-qubit gates | one-qubit gates | qubits | routing SWAPs |",
        "|---|---|---|---|---|---|",
        f"| encoder + ansatz | {c.get('depth')} | {c.get('two_qubit_gates')} | {c.get('one_qubit_gates')} | "
        f"{c.get('qubits')} | {c.get('swaps')} |",
    ]
    sp = result.get("state_preparation")
    if sp:
        lc, cc = sp["logical"], sp["compiled"]
        lines.append(f"| state preparation alone | {cc['depth']} | {cc['two_qubit_gates']} | {cc['one_qubit_gates']} | "
                     f"{cc['qubits']} | {cc['swaps']} |")
        lines.append(f"| state preparation, logical (RY + CNOT) | {lc['depth']} | {lc['two_qubit_gates']} | "
                     f"{lc['rotations']} | {c.get('qubits')} | 0 |")
    lines += [
        "",
        f"Physical qubits: {', '.join(result.get('physical_qubits') or [])}.",
        f"Executions: {e['jobs']} jobs, {e['circuits']} circuits, {e['shots']} shots "
        f"({e['calibration_shots']} for readout calibration). "
        f"Wall time {result['wall_time_s']:.1f} s ({result['device_time_s']:.1f} s on the processor).",
        "",
    ]
    return "\n".join(lines)


def _fidelity_lines(result: dict[str, Any]) -> list[str]:
    """Table rows of the calibration's fidelity estimate, and the warning it implies."""
    f = result.get("fidelity_estimate")
    if not f:
        return []
    parts = ", ".join(f"{k.replace('_', ' ')} {v:.3g}" for k, v in f["factors"].items())
    rows = [f"| estimated circuit fidelity (calibration) | {f['fidelity']:.3g} ({parts}) |"]
    if result.get("warning"):
        rows += ["", f"**Warning:** {result['warning']}"]
    return rows


def write_report(result: dict[str, Any], out_dir: Path) -> Path:
    """Write ``<out_dir>/<processor>-<kind>-<gateset>-<samples>x<shots>[-mitigated].json`` and ``.md``
    atomically; returns the markdown path."""
    stem = (f"{result['processor'].split()[0]}-{result['kind']}-{result['gateset']}-{result['samples']}x"
            f"{result['shots']}{'-mitigated' if result['readout_mitigation'] else ''}")
    if result["kind"] == "qvm" and "noiseless" in result["processor"]:
        stem += "-noiseless"
    atomic_write_json(Path(out_dir) / f"{stem}.json", result)
    return atomic_write_text(Path(out_dir) / f"{stem}.md", report_markdown(result))
