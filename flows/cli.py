"""The ``qdistill`` command line."""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import qkernel  # noqa: F401  (sets the environment before TensorFlow/Prefect/DVC load)
import typer
from rich.console import Console
from rich.table import Table

from qkernel.config import Params, load_params
from qkernel.errors import QDistillError

app = typer.Typer(
    help="qdistill: distil classical networks and datasets into small quantum neural networks.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
data_app = typer.Typer(help="Inspect and prepare datasets.", no_args_is_help=True)
app.add_typer(data_app, name="data")
stage_app = typer.Typer(help="Single pipeline stages on fixed paths (what dvc.yaml runs).", no_args_is_help=True)
app.add_typer(stage_app, name="stage")

console = Console()
err_console = Console(stderr=True)

ParamsOpt = Annotated[
    Path | None,
    typer.Option("--params", "-p", help="Parameter file merged over the project's params.yaml.", dir_okay=False),
]
SetOpt = Annotated[
    list[str] | None,
    typer.Option("--set", "-S", help="Override a parameter, e.g. -S data.name=fashion-mnist (repeatable)."),
]
DataDirOpt = Annotated[
    Path | None, typer.Option("--data-dir", help="Folder searched first for dataset files (data.data_dir).")
]

F = TypeVar("F", bound=Callable[..., Any])


def friendly_errors(fn: F) -> F:
    """Print qdistill's own errors as one clear message and exit 2 instead of a traceback."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except QDistillError as exc:
            err_console.print(f"[bold red]error:[/] {exc}", highlight=False, markup=True)
            raise typer.Exit(2) from None

    return wrapper  # type: ignore[return-value]


def _params(params: Path | None, overrides: list[str] | None, data_dir: Path | None = None) -> Params:
    sets = list(overrides or [])
    if data_dir is not None:
        sets.append(f"data.data_dir={data_dir}")
    return load_params(params, sets)


def print_data_summary(data: Any) -> None:
    """Print split sizes, per-class counts, shape and provenance of a prepared dataset."""
    meta = data.meta
    counts = data.counts()
    table = Table(title=f"{data.name}  (from {meta['source']})", title_justify="left")
    table.add_column("class")
    for split in counts:
        table.add_column(split, justify="right")
    for i, name in enumerate(data.class_names):
        table.add_row(f"{i} {name}", *(str(c[i]) for c in counts.values()))
    table.add_section()
    table.add_row("total", *(str(sum(c)) for c in counts.values()), style="bold")
    console.print(table)
    raw = meta["source_sizes"]
    origin = f"{raw['train']} train / {raw['test']} test" if raw["test"] is not None else f"{raw['train']} images, no official test split"
    console.print(
        f"source: {origin}; images {data.image_shape} float32, normalised '{meta['normalization']['mode']}', "
        f"{data.num_classes} classes, seed {meta['seed']}"
    )


@app.command()
@friendly_errors
def run(params: ParamsOpt = None, set_: SetOpt = None, data_dir: DataDirOpt = None) -> None:
    """Run the main job: knowledge distillation on the configured data (default: embedded mnist-5k).

    Trains the teacher, then the quantum students (baseline and KD), and prints their test
    accuracy beside the published figures. Outputs go to runs/<run-id>/.
    """
    from flows.kd import check, kd_pipeline

    overrides = [*(set_ or []), *([f"data.data_dir={data_dir}"] if data_dir else [])]
    p = load_params(params, overrides)
    check(p)  # fail fast on bad parameters, before a Prefect server starts
    result = kd_pipeline(overrides=overrides, params_file=str(params) if params else None)
    print_kd_results(result)


def print_kd_results(result: dict) -> None:
    """Results table: ours beside the published accuracy, with parameter counts."""
    from qkernel.report import results_rows

    teacher = result.get("teacher")
    if teacher:
        console.print(f"teacher {teacher['model']}: {teacher['parameters']} parameters, "
                      f"test accuracy {100 * teacher['test_accuracy']:.2f} %")
    rows = results_rows(result["students"])
    first = rows[0] if rows else {"dataset": "", "qubits": ""}
    table = Table(title=f"quantum students on {first['dataset']}, {first['qubits']} qubits (test accuracy)",
                  title_justify="left")
    for col in ("student", "mode", "test %", "published %", "quantum / classical params"):
        table.add_column(col, justify="left" if col in ("student", "mode") else "right")
    for r in rows:
        published = "—" if r["published_%"] is None else f"{r['published_%']:.1f}"
        table.add_row(f"{r['reducer']}+{r['encoder']}", r["mode"], f"{r['test_accuracy_%']:.2f}", published,
                      f"{r['quantum_params']} / {r['classical_params']}")
    console.print(table)
    console.print(f"report: {result['report']}")


@app.command()
@friendly_errors
def ablation(params: ParamsOpt = None, set_: SetOpt = None, dask: Annotated[
        str | None, typer.Option(help="Dask scheduler address (ablation.dask_address), e.g. tcp://host:8786.")] = None,
) -> None:
    """Run the ablation sweep (ablation.* in params) locally, or on a Dask cluster with --dask."""
    from flows.kd import ablation as ablation_flow

    overrides = [*(set_ or []), *([f"ablation.dask_address={dask}"] if dask else [])]
    load_params(params, overrides)
    result = ablation_flow(overrides=overrides, params_file=str(params) if params else None)
    console.print(Path(result["summary"]).read_text())


@app.command()
@friendly_errors
def serve(params: ParamsOpt = None, set_: SetOpt = None) -> None:
    """Register the deployments (kd-default; nightly-ablation on ablation.schedule) and serve them.

    Start a server first (`prefect server start`) and point PREFECT_API_URL at it to watch
    runs and artifacts in the Prefect UI.
    """
    from flows.deployments import serve as serve_deployments

    p = load_params(params, set_ or [])
    serve_deployments(p, set_ or [])


@data_app.command("list")
@friendly_errors
def data_list(params: ParamsOpt = None, set_: SetOpt = None, data_dir: DataDirOpt = None) -> None:
    """List registered datasets and where each would be loaded from."""
    from qkernel.registry import get_registry

    p = _params(params, set_, data_dir)
    registry = get_registry(p.plugins.paths)
    table = Table("name", "available", "from", "description")
    table.columns[2].overflow = "fold"
    for name in registry.names("dataset"):
        source = registry.create("dataset", name)
        where = source.locate(p.data.data_dir)
        remote = bool(getattr(source, "remote", ()))
        status = "[green]yes[/]" if where else ("download" if remote and p.data.download else "[red]no[/]")
        table.add_row(name, status, where or "—", source.description)
    console.print(table)


@data_app.command("show")
@friendly_errors
def data_show(
    name: Annotated[str, typer.Argument(help="Dataset name (see `qdistill data list`).")],
    params: ParamsOpt = None,
    set_: SetOpt = None,
    data_dir: DataDirOpt = None,
) -> None:
    """Load NAME with the configured options; show split sizes, class counts, shape and origin."""
    from qkernel.data import load_dataset

    p = _params(params, [*(set_ or []), f"data.name={name}"], data_dir)
    with console.status(f"loading {name}"):
        data = load_dataset(p)
    print_data_summary(data)


@data_app.command("prepare")
@friendly_errors
def data_prepare(params: ParamsOpt = None, set_: SetOpt = None, data_dir: DataDirOpt = None) -> None:
    """Write the configured dataset to data.out_dir as <name>.npz + <name>.json (the DVC `prepare` stage)."""
    from qkernel.data import load_dataset, save_prepared

    p = _params(params, set_, data_dir)
    data = load_dataset(p)
    npz, meta = save_prepared(data, p.data.out_dir)
    console.print(f"wrote {npz} ({sum(data.meta['sizes'].values())} images) and {meta}")


@app.command("plugins")
@friendly_errors
def plugins_cmd(params: ParamsOpt = None, set_: SetOpt = None) -> None:
    """List every registered plugin: kind, name, origin and a one-line description."""
    from qkernel.registry import get_registry

    p = _params(params, set_)
    table = Table("kind", "name", "origin", "description")
    table.columns[2].overflow = "fold"  # file paths are shown whole, wrapped
    for info in get_registry(p.plugins.paths).all():
        table.add_row(info.kind, info.name, info.origin, info.description)
    console.print(table)


def bench_table(rows: list[dict[str, Any]]) -> Table:
    """The ``qdistill bench`` results as a rich table (fits in 80 columns)."""
    from qkernel.bench import format_rows

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
) -> None:
    """Train-step throughput of the student's quantum part: native vs TFQ vs PennyLane, plus qsim eval.

    One step: features → encoder (amplitude, angle) → hardware_efficient
    (depth 5) → ⟨Z⟩ each → sum → gradients to the weights and the features,
    on 4 and 8 qubits at batch 256 and 1024 (a few minutes; --quick: 256).
    PennyLane rows need the bench extra: pip install -e ".\\[bench]".
    """
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from qkernel.bench import run_benchmarks
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
    for note in dict.fromkeys(r["note"] for r in rows if r["note"]):
        console.print(f"note: {note}", highlight=False, markup=False)
    if json_path is not None:
        console.print(f"wrote {atomic_write_json(json_path, rows)}")


PathOpt = Annotated[Path, typer.Option(help="Input or output path.")]


def _prepared(p: Params) -> Path:
    from qkernel.data import prepared_path

    return prepared_path(p)


@stage_app.command("teacher")
@friendly_errors
def stage_teacher(out: PathOpt = Path("results/teacher"), params: ParamsOpt = None, set_: SetOpt = None) -> None:
    """Train the teacher on the prepared dataset; write weights, cached logits and metrics to OUT."""
    from qkernel import kd

    p = load_params(params, set_ or [])
    m = kd.teacher_stage(p, _prepared(p), out)
    console.print(f"teacher {m['model']}: val {m['val_accuracy']:.4f}, test {m['test_accuracy']:.4f} → {out}")


@stage_app.command("students")
@friendly_errors
def stage_students(
    out: PathOpt = Path("results/students"), teacher: PathOpt = Path("results/teacher"),
    params: ParamsOpt = None, set_: SetOpt = None,
) -> None:
    """Fit the reducer and train every student mode in kd.modes; write them under OUT/<mode>-seed<seed>."""
    from qkernel import kd

    p = load_params(params, set_ or [])
    reducer = kd.reducer_stage(p, _prepared(p), out / "reducer.npz")
    for mode in p.kd.modes:
        m = kd.student_stage(p, mode, p.seed, _prepared(p), teacher / "logits.npz", reducer, out / f"{mode}-seed{p.seed}")
        console.print(f"{mode}: val {m['val_accuracy']:.4f}, test {m['test_accuracy']:.4f}")


@stage_app.command("report")
@friendly_errors
def stage_report(
    out: PathOpt = Path("results"), teacher: PathOpt = Path("results/teacher"),
    students: PathOpt = Path("results/students"), params: ParamsOpt = None, set_: SetOpt = None,
) -> None:
    """Write OUT/metrics.json, OUT/plots/*.png and OUT/report.md from the teacher and student stages."""
    import json

    from flows.artifacts import publish_kd_report

    p = load_params(params, set_ or [])
    t = json.loads((teacher / "metrics.json").read_text()) if "kd" in p.kd.modes else None
    results = [json.loads((students / f"{mode}-seed{p.seed}" / "metrics.json").read_text()) for mode in p.kd.modes]
    console.print(f"wrote {publish_kd_report(p, t, results, out)}")


def main() -> None:  # pragma: no cover - console-script shim
    app(prog_name="qdistill")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
