"""``qdistill transpile``: which student designs survive a Google processor (before any training)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from flows.cli import ParamsOpt, SetOpt, app, console, friendly_errors, load


@app.command("transpile")
@friendly_errors
def transpile_cmd(
    processor: Annotated[list[str] | None, typer.Option(help="rainbow and/or weber (repeatable).")] = None,
    encoder: Annotated[list[str] | None, typer.Option(help="Encoders (repeatable; default: every registered one).")] = None,
    ansatz: Annotated[list[str] | None, typer.Option(help="Ansatzes (repeatable; default: every registered one).")] = None,
    qubits: Annotated[list[int] | None, typer.Option(help="Qubit counts (repeatable; default 4 and 8).")] = None,
    depth: Annotated[list[int] | None, typer.Option(help="Ansatz depths (repeatable; default 1 and student.depth).")] = None,
    gateset: Annotated[list[str] | None, typer.Option(help="sqrt_iswap and/or cz (repeatable; default sqrt_iswap).")] = None,
    out: Annotated[Path | None, typer.Option(help="Folder for transpile.{md,json,png} (default: <runs_dir>/transpile).")] = None,
    params: ParamsOpt = None,
    set_: SetOpt = None,
) -> None:
    """Compile every encoder × ansatz × qubit count for rainbow and weber and predict its fidelity.

    Each student circuit is placed, routed and converted exactly as `qdistill
    evaluate` does it; the table gives the compiled depth, two-qubit gates and
    routing SWAPs, and the fidelity the processor's calibration predicts, with a
    verdict: usable (>= 0.4), degraded, or near chance (< 0.1). Pick a design that
    survives, then train it (e.g. -S student.encoder=angle -S student.depth=1),
    noise-aware with -S student.backend=noisy.
    """
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from qkernel.hardware.transpile import designs, plot_designs, transpile_designs
    from qkernel.io import atomic_write_json, atomic_write_text
    from qkernel.plugin.registry import get_registry
    from qkernel.reporting import markdown_table

    p = load(params, set_)
    registry = get_registry(p.plugins.paths)
    grid = designs(processor or ["rainbow", "weber"], encoder or registry.names("encoder"),
                   ansatz or registry.names("ansatz"), qubits or [4, 8], depth or sorted({1, p.student.depth}),
                   gateset or ["sqrt_iswap"])
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=console, transient=True) as bar:
        task = bar.add_task("compiling", total=len(grid))
        rows = transpile_designs(grid, registry, lambda done, total, label: bar.update(task, completed=done,
                                                                                       description=label))
    rows.sort(key=lambda r: (r["processor"], r["gateset"], -r["fidelity"]))
    styles = {"usable": "green", "degraded": "yellow", "near chance": "red"}
    for target in dict.fromkeys((r["processor"], r["gateset"]) for r in rows):
        table = Table(title=f"{target[0]} ({target[1]}): estimated fidelity from the median calibration",
                      title_justify="left", box=None, pad_edge=False)
        for col in ("encoder", "ansatz", "q", "L", "depth", "2q", "swaps", "fidelity", "verdict"):
            table.add_column(col, justify="left" if col in ("encoder", "ansatz", "verdict") else "right", no_wrap=True)
        for r in (r for r in rows if (r["processor"], r["gateset"]) == target):
            table.add_row(r["encoder"], r["ansatz"], str(r["n_qubits"]), str(r["depth"]), str(r["depth_compiled"]),
                          str(r["two_qubit_gates"]), str(r["swaps"]), f"{r['fidelity']:.2g}",
                          f"[{styles[r['verdict']]}]{r['verdict']}[/]")
        console.print(table)
        missing = sorted({g for r in rows if (r["processor"], r["gateset"]) == target for g in r["uncalibrated"]})
        if missing:
            console.print(f"note: the calibration has no error data for {', '.join(missing)}; the QVM simulates them "
                          "without gate error, so these estimates are optimistic for hardware.", highlight=False)
    console.print("q: qubits, L: ansatz layers, depth / 2q / swaps: compiled moments, two-qubit gates, routing SWAPs",
                  highlight=False)
    folder = out or Path(p.runs_dir) / "transpile"
    atomic_write_json(folder / "transpile.json", rows)
    atomic_write_text(folder / "transpile.md", "# Student designs on Google processors\n\n" + markdown_table(rows))
    console.print(f"wrote {folder / 'transpile.md'}, transpile.json and {plot_designs(rows, folder / 'transpile.png')}",
                  highlight=False)
