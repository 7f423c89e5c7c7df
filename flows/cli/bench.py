"""``qdistill bench``: train-step throughput (native vs TFQ vs PennyLane) and the DD outer step."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from flows.cli import app, console, friendly_errors


def bench_table(rows: list[dict[str, Any]]) -> Table:
    """The ``qdistill bench`` results as a rich table (fits in 80 columns)."""
    from benchmarks import format_rows

    columns, cells = format_rows(rows)
    table = Table(title="samples/s (batch ÷ median step); ×: native ÷ other", title_justify="left")
    for col in columns:
        table.add_column(col, justify="left" if col in ("encoder", "backend") else "right", no_wrap=True)
    previous = None
    for row in cells:
        group = ("eval",) if row[3].endswith(" eval") else tuple(row[:3])  # train: qubits, encoder, batch
        if previous is not None and group != previous:
            table.add_section()
        previous = group
        table.add_row(*row)
    return table


@app.command()
@friendly_errors
def bench(
    json_path: Annotated[
        Path | None, typer.Option("--json", help="Also write the rows as JSON to this file.", dir_okay=False)
    ] = None,
    quick: Annotated[bool, typer.Option("--quick", help="Batch 256 only, fewer timed steps.")] = False,
    dd: Annotated[bool, typer.Option("--dd/--no-dd", help="Also time the DD outer step of quantum LeNet.")] = True,
    qvm: Annotated[bool, typer.Option(
        "--qvm/--no-qvm", help="Also time QVM evaluation: native noisy kernel vs Cirq density matrix vs qsim.")] = True,
) -> None:
    """Throughput of the student's quantum part (native vs TFQ vs PennyLane, qsim eval) and the DD outer step.

    One step: features → encoder (amplitude, angle) → hardware_efficient
    (depth 5) → ⟨Z⟩ each → sum → gradients to the weights and the features,
    on 4 and 8 qubits at batch 256 and 1024 (a few minutes; --quick: 256).
    Then one dataset-distillation outer step of quantum LeNet (100 synthetic
    images, one inner step, real batch 256, second-order gradients), native
    vs the PennyLane reference with explicitly passed circuit weights.
    Last, evaluation of the default student on the weber Quantum Virtual
    Machine (1000 shots per image): the native noisy kernel against Cirq's
    density-matrix simulator and qsim's trajectories on the same images
    (8 and 4 qubits; --quick: 8 only; the references take ~1 min per image).
    PennyLane rows need the bench extra: pip install -e ".\\[bench]".
    """
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from benchmarks import run_benchmarks
    from qkernel.io import atomic_write_json

    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=console, transient=True) as bar:
        task = bar.add_task("loading backends", total=None)
        rows = run_benchmarks(
            batches=(256,) if quick else (256, 1024),
            time_budget=0.5 if quick else 2.0,
            min_steps=1 if quick else 2,
            progress=lambda label, done, total: bar.update(task, description=label, completed=done, total=total),
        )
    console.print(bench_table(rows))
    if dd:
        from benchmarks.dd_step import run_dd_benchmark

        with console.status("DD outer step: native vs PennyLane (tracing the second-order step takes a minute)"):
            dd_row = run_dd_benchmark(steps=3 if quick else 10)
        table = Table(title="DD outer step, quantum LeNet (100 synthetic, 1 inner step, real batch 256)",
                      title_justify="left")
        for col in ("native ms", "PennyLane ms", "native ×", "max gap"):
            table.add_column(col, justify="right")
        fmt = lambda v, f: "—" if v is None else format(v, f)  # noqa: E731
        table.add_row(fmt(dd_row["native_s"] and 1000 * dd_row["native_s"], ".0f"),
                      fmt(dd_row["pennylane_s"] and 1000 * dd_row["pennylane_s"], ".0f"),
                      fmt(dd_row["speedup"], ".1f"), fmt(dd_row["max_grad_gap"], ".1e"))
        console.print(table)
        if dd_row["note"]:
            console.print(dd_row["note"])
        rows.append({"kind": "dd_outer_step", **dd_row})
    if qvm:
        rows += _qvm_rows(quick)
    for note in dict.fromkeys(r["note"] for r in rows if r.get("note")):
        console.print(f"note: {note}", highlight=False, markup=False)
    if json_path is not None:
        console.print(f"wrote {atomic_write_json(json_path, rows)}")


def _qvm_rows(quick: bool) -> list[dict[str, Any]]:
    """Run :func:`benchmarks.qvm.run_qvm_benchmark` and print its table."""
    from benchmarks.qvm import run_qvm_benchmark

    with console.status("QVM evaluation") as status:
        rows = run_qvm_benchmark(qubits=(8,) if quick else (8, 4), images=16 if quick else 64,
                                 reference_images=1 if quick else 2, progress=status.update)
    table = Table(title=f"QVM evaluation, weber, {rows[0]['shots']} shots per image (wall time)", title_justify="left")
    for col in ("qubits", "method", "images", "setup s", "s/image", "1000 images", "× DM", "× DM cpu", "Δ⟨Z⟩/σ"):
        table.add_column(col, justify="left" if col == "method" else "right", no_wrap=True)
    fmt = lambda v: "—" if v is None else f"{v:.0f}"  # noqa: E731
    for r in rows:
        table.add_row(str(r["n_qubits"]), r["method"], str(r["images"]), f"{r['setup_s']:.1f}",
                      f"{r['per_image_s']:.3g}", f"{r['per_1000_images_s'] / 60:.1f} min",
                      fmt(r["speedup_vs_density_matrix"]), fmt(r["cpu_speedup_vs_density_matrix"]),
                      f"{r['max_z_gap_sigma']:.1f}")
    console.print(table)
    console.print(f"load average while measuring: {min(r['load_average'] for r in rows):.1f}–"
                  f"{max(r['load_average'] for r in rows):.1f}", highlight=False)
    return rows
