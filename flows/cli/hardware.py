"""``qdistill evaluate``: a trained student on a Google processor (QVM offline, Quantum Engine online)."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.table import Table

from flows.cli import ParamsOpt, SetOpt, app, console, friendly_errors, load


@app.command("evaluate")
@friendly_errors
def evaluate_hardware_cmd(
    run_id: Annotated[str, typer.Argument(
        metavar="RUN_ID", help="A run name under runs_dir (or a unique prefix), a run folder, or a student folder.")],
    backend: Annotated[str, typer.Option(help="A hardware backend plugin: google (Google processors, QVM or Engine).")] = "google",
    processor: Annotated[str, typer.Option(
        help="rainbow or weber on the offline Quantum Virtual Machine, or an Engine processor with --project.")] = "weber",
    project: Annotated[str | None, typer.Option(
        help="Google Cloud project: run on Quantum Engine (application-default credentials) instead of the QVM.")] = None,
    shots: Annotated[int, typer.Option(min=1, help="Repetitions per test image.")] = 1000,
    limit: Annotated[int, typer.Option(min=1, help="Test images evaluated (a seeded random subset).")] = 100,
    mode: Annotated[str, typer.Option(help="Which student of the run: kd or baseline.")] = "kd",
    student_seed: Annotated[int | None, typer.Option(help="The student's seed, if the run has several.")] = None,
    gateset: Annotated[str, typer.Option(help="Two-qubit gate compiled to: sqrt_iswap or cz.")] = "sqrt_iswap",
    mitigate_readout: Annotated[bool, typer.Option(
        "--mitigate-readout", help="Measure readout errors (one extra job) and correct the estimates.")] = False,
    noise: Annotated[bool, typer.Option(help="QVM only: --no-noise samples the same compiled circuits noiselessly.")] = True,
    method: Annotated[str, typer.Option(
        help="QVM only: native (the native kernel's density matrices), density_matrix (Cirq) or qsim "
             "(trajectories); the last two are slow references.")] = "native",
    batch_size: Annotated[int | None, typer.Option(
        min=1, help="Test images per job (one parameter sweep each); default 100 on the Engine, 16 on the QVM.")] = None,
    params: ParamsOpt = None,
    set_: SetOpt = None,
) -> None:
    """Accuracy of a trained KD student on a Google processor, beside its exact accuracy.

    RUN_ID: the run `qdistill run` wrote, by name under runs_dir
    (kd-mnist-5k-4q-fc-amplitude-<hash>, or a unique prefix such as
    kd-mnist-5k-4q), a run folder, or a student folder (.../students/kd-seed0).

    Without --project: offline, on the processor's Quantum Virtual Machine
    (calibration-based noise). With --project: Google Quantum Engine, with
    application-default credentials (gcloud auth application-default login).

    Before running, prints the compiled circuit's size and the fidelity the
    processor's calibration predicts for it, with a warning when the result is
    expected near chance. Then prints both accuracies and the jobs, circuits and
    shots used; writes them to the student's hardware/ folder. Runs trained
    before params.json was saved need the -p/-S parameters of their training.
    """
    from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn,
                               TimeRemainingColumn)

    from qkernel.hardware.evaluate import evaluate_student, load_run, write_report

    p = load(params, set_)
    student = load_run(run_id, p, set_ or [], mode=mode, seed=student_seed)
    console.print(f"student {student.student_dir} (parameters from {student.params_from})", highlight=False)
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
               TextColumn("ETA"), TimeRemainingColumn())
    with Progress(*columns, console=console, transient=True) as bar:
        task = bar.add_task(f"compiling for {processor}", total=None)
        result = evaluate_student(
            student, backend_name=backend, processor=processor, project_id=project, shots=shots, limit=limit,
            batch_size=batch_size, gateset=gateset, readout_mitigation=mitigate_readout, noise=noise,
            method=method, on_compiled=lambda info: _before_running(info, bar, task),
            progress=lambda done, total: bar.update(task, description="images", completed=done, total=total),
        )
    c, e, sp = result["compiled"], result["executions"], result["state_preparation"]
    table = Table("", "value", title=f"{result['processor']}: {result['samples']} test images × {shots} shots",
                  title_justify="left")
    table.add_row(f"exact accuracy ({result['exact_backend']})", f"{100 * result['exact_accuracy']:.1f} %")
    table.add_row("accuracy on the processor", f"{100 * result['device_accuracy']:.1f} %")
    table.add_row("same prediction", f"{100 * result['agreement']:.1f} %")
    table.add_row("compiled circuit", f"depth {c['depth']}, {c['two_qubit_gates']} 2-qubit gates ({result['gateset']}), "
                  f"{c['qubits']} qubits, {c['swaps']} routing SWAPs")
    if result.get("fidelity_estimate"):
        table.add_row("estimated circuit fidelity", f"{result['fidelity_estimate']['fidelity']:.3g} (from the calibration)")
    if sp:
        table.add_row("amplitude state preparation", f"logical depth {sp['logical']['depth']}, "
                      f"{sp['logical']['two_qubit_gates']} CNOTs; compiled depth {sp['compiled']['depth']}, "
                      f"{sp['compiled']['two_qubit_gates']} 2-qubit gates")
    table.add_row("physical qubits", ", ".join(result["physical_qubits"]))
    table.add_row("executions", f"{e['jobs']} jobs, {e['circuits']} circuits, {e['shots']} shots")
    table.add_row("wall time", f"{result['wall_time_s']:.1f} s")
    console.print(table)
    console.print(f"report: {write_report(result, student.student_dir / 'hardware')}", highlight=False)


def _before_running(info: dict, bar: Any, task: Any) -> None:
    """Print the compiled circuit and the calibration's fidelity estimate (and its warning) before any image runs."""
    c, f = info.get("compiled") or {}, info.get("fidelity")
    console.print(f"compiled for {info['processor']}: depth {c.get('depth')}, {c.get('two_qubit_gates')} two-qubit "
                  f"gates ({info['gateset']}), {c.get('one_qubit_gates')} one-qubit gates, {c.get('qubits')} qubits, "
                  f"{c.get('swaps')} routing SWAPs", highlight=False)
    if f:
        parts = ", ".join(f"{k.replace('_', ' ')} {v:.3g}" for k, v in f["factors"].items())
        console.print(f"estimated circuit fidelity (calibration): {f['fidelity']:.3g} ({parts})", highlight=False,
                      markup=False)
    if info.get("warning"):
        console.print(f"[bold yellow]warning:[/] {info['warning']}", highlight=False)
    bar.update(task, description="images", completed=0, total=info["images"])
