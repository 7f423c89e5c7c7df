"""The ``evaluate_hardware`` flow: a trained KD student on a Google processor, as Prefect artifacts.

One task calls :func:`qkernel.hardware.evaluate.evaluate_student` (the QVM on the native
kernel's noisy mode by default); it logs the compiled circuit and the calibration's fidelity
estimate before any image runs, with a warning when the result is expected near chance.
The flow publishes the report (markdown) and the numbers (a table) as artifacts and writes
them beside the student. Nothing is cached: a hardware run is a measurement, repeated on purpose.
Credentials never reach the flow's parameters, logs or artifacts: the Engine client reads
Google's application-default credentials itself.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE
from prefect.artifacts import create_markdown_artifact, create_table_artifact

from flows import artifacts
from qkernel.config import load_params


@task(cache_policy=NO_CACHE, retries=0)
def evaluate_on_processor(run_id: str, overrides: list[str], params_file: str | None, options: dict[str, Any],
                          mode: str, student_seed: int | None) -> dict[str, Any]:
    """Locate the run, rebuild its student and evaluate it on the processor (see ``qdistill evaluate``)."""
    from qkernel.hardware.evaluate import evaluate_student, load_run, write_report

    log = get_run_logger()
    p = load_params(params_file, overrides)
    run = load_run(run_id, p, overrides, mode=mode, seed=student_seed)
    log.info("student %s (parameters from %s)", run.student_dir, run.params_from)
    def compiled(info: dict[str, Any]) -> None:
        c, f = info.get("compiled") or {}, info.get("fidelity")
        log.info("compiled: depth %s, %s two-qubit gates, %s routing SWAPs; estimated circuit fidelity %s",
                 c.get("depth"), c.get("two_qubit_gates"), c.get("swaps"), f"{f['fidelity']:.3g}" if f else "n/a")
        if info.get("warning"):
            log.warning(info["warning"])

    result = evaluate_student(run, **options, on_compiled=compiled,
                              progress=lambda done, total: log.info("%d/%d test images evaluated", done, total))
    result["report"] = str(write_report(result, run.student_dir / "hardware"))
    log.info("exact %.3f, processor %.3f on %d images; %d jobs, %d shots", result["exact_accuracy"],
             result["device_accuracy"], result["samples"], result["executions"]["jobs"], result["executions"]["shots"])
    return result


def result_rows(result: dict[str, Any]) -> list[dict[str, Any]]:
    """One table row: accuracies, compiled-circuit size and executions."""
    c, e = result["compiled"], result["executions"]
    return [{
        "processor": result["processor"], "samples": result["samples"], "shots": result["shots"],
        "exact_accuracy_%": round(100 * result["exact_accuracy"], 2),
        "processor_accuracy_%": round(100 * result["device_accuracy"], 2),
        "same_prediction_%": round(100 * result["agreement"], 2),
        "depth": c["depth"], "two_qubit_gates": c["two_qubit_gates"], "qubits": c["qubits"],
        "estimated_fidelity": (result.get("fidelity_estimate") or {}).get("fidelity"),
        "jobs": e["jobs"], "circuits": e["circuits"], "total_shots": e["shots"],
        "wall_time_s": result["wall_time_s"],
    }]


@flow(name="evaluate_hardware", log_prints=True)
def evaluate_hardware(
    run_id: str,
    processor: str = "weber",
    project_id: str | None = None,
    shots: int = 1000,
    limit: int = 100,
    batch_size: int | None = None,
    gateset: str = "sqrt_iswap",
    readout_mitigation: bool = False,
    noise: bool = True,
    method: str = "native",
    mode: str = "kd",
    student_seed: int | None = None,
    overrides: list[str] | None = None,
    params_file: str | None = None,
) -> dict[str, Any]:
    """Evaluate a trained KD student on a Google processor (QVM offline, Engine with ``project_id``).

    Args:
        run_id: Run name under ``runs_dir`` (or unique prefix), run folder or student folder.
        processor: ``rainbow``/``weber`` on the QVM, or an Engine processor id.
        project_id: Google Cloud project; runs on Quantum Engine when given.
        shots, limit, batch_size, gateset, readout_mitigation, noise, method: As ``qdistill evaluate``.
        mode, student_seed: Which student of the run.
        overrides, params_file: ``-S`` overrides and ``-p`` file (``runs_dir``; the parameters
            of runs saved without ``params.json``).

    Returns:
        The evaluation (see :func:`qkernel.hardware.evaluate.evaluate_student`) and ``report``.
    """
    options = {"processor": processor, "project_id": project_id, "shots": shots, "limit": limit,
               "batch_size": batch_size, "gateset": gateset, "readout_mitigation": readout_mitigation, "noise": noise,
               "method": method}
    result = evaluate_on_processor(run_id, list(overrides or []), params_file, options, mode, student_seed)
    key = artifacts._key(f"hardware-{processor}-{Path(result['student_dir']).parent.parent.name}")
    create_table_artifact(result_rows(result), key=key, description="Student accuracy on the processor vs exact")
    create_markdown_artifact(Path(result["report"]).read_text(), key=f"{key}-report"[:100],
                             description=f"{result['processor']}: compiled circuit and executions")
    return result
