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


@app.callback()
def _setup() -> None:
    """Runs before every command (not for --help)."""
    qkernel.configure_tensorflow()

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


def _overrides(overrides: list[str] | None, data_dir: Path | None = None) -> list[str]:
    """``-S`` overrides plus ``--data-dir`` as the override it stands for."""
    return [*(overrides or []), *([f"data.data_dir={data_dir}"] if data_dir is not None else [])]


def _params(params: Path | None, overrides: list[str] | None, data_dir: Path | None = None) -> Params:
    return load_params(params, _overrides(overrides, data_dir))


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
def run(
    params: ParamsOpt = None, set_: SetOpt = None, data_dir: DataDirOpt = None,
    skip_dd: Annotated[bool, typer.Option("--skip-dd", help="Knowledge distillation only.")] = False,
) -> None:
    """Run the main job on the configured data (default: embedded mnist-5k): KD, then dataset distillation.

    Knowledge distillation trains the teacher, then the quantum students (baseline
    and KD). Dataset distillation then learns dd.images_per_class synthetic images
    per class for each dd.models entry (quantum LeNet, trainable and fixed Hermitian
    readout; classical LeNet) and scores models trained on them against random real
    images and the full set. Accuracies are printed beside the published figures;
    outputs go to runs/<run-id>/.
    """
    from flows.dd import check as check_dd
    from flows.dd import dd_pipeline
    from flows.kd import check, kd_pipeline

    overrides = _overrides(set_, data_dir)
    p = load_params(params, overrides)
    check(p)  # fail fast on bad parameters, before a Prefect server starts
    if not skip_dd:
        check_dd(p)
    params_file = str(params) if params else None
    print_kd_results(kd_pipeline(overrides=overrides, params_file=params_file))
    if not skip_dd:
        print_dd_results(dd_pipeline(overrides=overrides, params_file=params_file))


@app.command("dd")
@friendly_errors
def dd_cmd(params: ParamsOpt = None, set_: SetOpt = None, data_dir: DataDirOpt = None) -> None:
    """Dataset distillation only (the dd_pipeline flow; dd.* in params)."""
    from flows.dd import check, dd_pipeline

    overrides = _overrides(set_, data_dir)
    check(load_params(params, overrides))
    print_dd_results(dd_pipeline(overrides=overrides, params_file=str(params) if params else None))


def print_dd_results(result: dict) -> None:
    """Distilled vs random real vs full set, per model, with the quantum cost reduction."""
    from qkernel.dd_report import accuracy_rows, cost_rows

    rows = accuracy_rows(result["models"])
    first = result["models"][0] if result["models"] else {"dataset": "", "images_per_class": ""}
    table = Table(title=f"dataset distillation on {first['dataset']}, {first['images_per_class']} images per class "
                        "(test %, mean ± std over inits)", title_justify="left")
    known = any(r["distilled_known_init_%"] != "—" for r in rows)
    for col in ("model", "distilled", *(["known init"] if known else []), "random real", "full set", "published"):
        table.add_column(col, justify="left" if col == "model" else "right")
    for r in rows:
        published = "—" if r["published_distilled_%"] is None else f"{r['published_distilled_%']:.1f}"
        table.add_row(r["model"], r["distilled_%"], *([r["distilled_known_init_%"]] if known else []),
                      r["random_real_%"], r["full_set_%"], published)
    console.print(table)
    for c in cost_rows(result["models"]):
        console.print(f"{c['model']}: training on the distilled set needs {c['sim_executions_distilled']:,} circuit "
                      f"executions vs {c['sim_executions_full']:,} on the full set ({c['reduction_x']}× fewer)")
    console.print(f"report: {result['report']}")


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


@app.command("evaluate")
@friendly_errors
def evaluate_hardware_cmd(
    run_id: Annotated[str, typer.Argument(
        metavar="RUN_ID", help="A run name under runs_dir (or a unique prefix), a run folder, or a student folder.")],
    backend: Annotated[str, typer.Option(help="Where the circuits run: google (Google processors).")] = "google",
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
    batch_size: Annotated[int, typer.Option(min=1, help="Test images per job (one parameter sweep each).")] = 100,
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

    Prints both accuracies, the compiled circuit's depth, two-qubit gates and
    qubits, and the jobs, circuits and shots used; writes them to the student's
    hardware/ folder. Runs trained before params.json was saved need the -p/-S
    parameters of their training.
    """
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from qkernel.hardware.evaluate import evaluate_student, load_run, write_report

    if backend != "google":
        raise QDistillError(f"unknown evaluation backend {backend!r}; available: google")
    p = load_params(params, set_ or [])
    student = load_run(run_id, p, set_ or [], mode=mode, seed=student_seed)
    console.print(f"student {student.student_dir} (parameters from {student.params_from})", highlight=False)
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=console, transient=True) as bar:
        task = bar.add_task(f"compiling for {processor}", total=None)
        result = evaluate_student(
            student, processor=processor, project_id=project, shots=shots, limit=limit, batch_size=batch_size,
            gateset=gateset, readout_mitigation=mitigate_readout, noise=noise,
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
    if sp:
        table.add_row("amplitude state preparation", f"logical depth {sp['logical']['depth']}, "
                      f"{sp['logical']['two_qubit_gates']} CNOTs; compiled depth {sp['compiled']['depth']}, "
                      f"{sp['compiled']['two_qubit_gates']} 2-qubit gates")
    table.add_row("physical qubits", ", ".join(result["physical_qubits"]))
    table.add_row("executions", f"{e['jobs']} jobs, {e['circuits']} circuits, {e['shots']} shots")
    table.add_row("wall time", f"{result['wall_time_s']:.1f} s")
    console.print(table)
    console.print(f"report: {write_report(result, student.student_dir / 'hardware')}", highlight=False)


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
    dd: Annotated[bool, typer.Option("--dd/--no-dd", help="Also time the DD outer step of quantum LeNet.")] = True,
) -> None:
    """Throughput of the student's quantum part (native vs TFQ vs PennyLane, qsim eval) and the DD outer step.

    One step: features → encoder (amplitude, angle) → hardware_efficient
    (depth 5) → ⟨Z⟩ each → sum → gradients to the weights and the features,
    on 4 and 8 qubits at batch 256 and 1024 (a few minutes; --quick: 256).
    Then one dataset-distillation outer step of quantum LeNet (100 synthetic
    images, one inner step, real batch 256, second-order gradients), native
    vs the PennyLane reference with explicitly passed circuit weights.
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
    if dd:
        from qkernel.bench.dd_step import run_dd_benchmark

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


@stage_app.command("distill")
@friendly_errors
def stage_distill(out: PathOpt = Path("results/dd/distilled"), params: ParamsOpt = None, set_: SetOpt = None) -> None:
    """Distill the prepared training split for every dd.models entry: OUT/<label>/distilled.npz + history.json."""
    from qkernel.dd_stages import check_dd, distill_stage

    p = load_params(params, set_ or [])
    check_dd(p)
    for spec in p.dd.models:
        r = distill_stage(p, _prepared(p), spec.label, out / spec.label)
        console.print(f"{spec.label}: final outer loss {r['final_loss']:.4f} → {r['distilled']}")


@stage_app.command("dd-evaluate")
@friendly_errors
def stage_dd_evaluate(
    out: PathOpt = Path("results/dd/eval"), distilled: PathOpt = Path("results/dd/distilled"),
    params: ParamsOpt = None, set_: SetOpt = None,
) -> None:
    """Score every distilled set (distilled vs random real vs full set); write OUT/<label>/metrics.json."""
    from qkernel.dd_stages import evaluate_stage

    p = load_params(params, set_ or [])
    for spec in p.dd.models:
        m = evaluate_stage(p, _prepared(p), spec.label, distilled / spec.label / "distilled.npz", out / spec.label)
        console.print(f"{spec.label}: distilled {m['distilled']['mean']:.4f}, random real {m['random_real']['mean']:.4f}")


@stage_app.command("dd-report")
@friendly_errors
def stage_dd_report(
    out: PathOpt = Path("results/dd"), distilled: PathOpt = Path("results/dd/distilled"),
    evaluated: Annotated[Path, typer.Option("--eval", help="Folder of the dd-evaluate stage.")] = Path("results/dd/eval"),
    params: ParamsOpt = None, set_: SetOpt = None,
) -> None:
    """Write OUT/metrics.json, OUT/plots/*.png and OUT/report.md from the distill and dd-evaluate stages."""
    import json

    from flows.artifacts import publish_dd_report

    p = load_params(params, set_ or [])
    results = [json.loads((evaluated / spec.label / "metrics.json").read_text()) for spec in p.dd.models]
    console.print(f"wrote {publish_dd_report(p, results, out, distilled_dir=distilled)}")


def main() -> None:  # pragma: no cover - console-script shim
    app(prog_name="qdistill")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
