"""``qdistill stage …``: single pipeline stages on fixed paths, what ``dvc.yaml`` runs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from flows.cli import ParamsOpt, SetOpt, console, friendly_errors, load, stage_app
from qkernel.config import Params

PathOpt = Annotated[Path, typer.Option(help="Input or output path.")]


def _prepared(p: Params) -> Path:
    from qkernel.data import prepared_path

    return prepared_path(p)


def _registry(p: Params):  # noqa: ANN202 - a qkernel.plugin.Registry
    from qkernel.plugin.registry import get_registry

    return get_registry(p.plugins.paths)


@stage_app.command("teacher")
@friendly_errors
def stage_teacher(out: PathOpt = Path("results/teacher"), params: ParamsOpt = None, set_: SetOpt = None) -> None:
    """Train the teacher on the prepared dataset; write weights, cached logits and metrics to OUT."""
    from qkernel.methods.kd import stages as kd

    p = load(params, set_)
    m = kd.teacher_stage(p, _prepared(p), out)
    console.print(f"teacher {m['model']}: val {m['val_accuracy']:.4f}, test {m['test_accuracy']:.4f} → {out}")


@stage_app.command("students")
@friendly_errors
def stage_students(
    out: PathOpt = Path("results/students"), teacher: PathOpt = Path("results/teacher"),
    params: ParamsOpt = None, set_: SetOpt = None,
) -> None:
    """Fit the reducer and train the quantum student and every kd.controls model in each mode of kd.modes and
    seed of kd.seeds; write them under OUT/<name> (kd.stages.student_name)."""
    import itertools

    from qkernel.methods.kd import stages as kd

    p = load(params, set_)
    kd.check_params(p, _registry(p))
    reducer = kd.reducer_stage(p, _prepared(p), out / "reducer.npz")
    for mode, variant in itertools.product(p.kd.modes, (kd.QUANTUM, *p.kd.controls)):
        for m in kd.students_stage(p, mode, variant, p.kd.seeds, _prepared(p), teacher / "logits.npz", reducer, out):
            console.print(f"{kd.student_name(variant, mode, m['seed'])}: val {m['val_accuracy']:.4f}, test "
                          f"{m['test_accuracy']:.4f} (early stopping), {m['test_accuracy_fixed']:.4f} (fixed budget)")


@stage_app.command("report")
@friendly_errors
def stage_report(
    out: PathOpt = Path("results"), teacher: PathOpt = Path("results/teacher"),
    students: PathOpt = Path("results/students"), params: ParamsOpt = None, set_: SetOpt = None,
) -> None:
    """Write OUT/metrics.json, OUT/plots/*.png and OUT/report.md from the teacher and student stages."""
    import itertools

    from qkernel.methods.kd.report import write_kd_report
    from qkernel.methods.kd.stages import QUANTUM, student_name

    p = load(params, set_)
    t = json.loads((teacher / "metrics.json").read_text()) if "kd" in p.kd.modes else None
    results = [json.loads((students / student_name(v, mode, seed) / "metrics.json").read_text())
               for mode, v, seed in itertools.product(p.kd.modes, (QUANTUM, *p.kd.controls), p.kd.seeds)]
    console.print(f"wrote {write_kd_report(p, t, results, out).report}")


@stage_app.command("distill")
@friendly_errors
def stage_distill(out: PathOpt = Path("results/dd/distilled"), params: ParamsOpt = None, set_: SetOpt = None) -> None:
    """Distill the prepared training split for every dd.models entry: OUT/<label>/distilled.npz + history.json."""
    from qkernel.methods.dd.stages import check_dd, distill_stage

    p = load(params, set_)
    check_dd(p, _registry(p))
    for spec in p.dd.models:
        r = distill_stage(p, _prepared(p), spec.label, out / spec.label)
        console.print(f"{spec.label}: final outer loss {r['final_loss']:.4f} → {r['distilled']}")


@stage_app.command("dd-evaluate")
@friendly_errors
def stage_dd_evaluate(
    out: PathOpt = Path("results/dd/eval"), distilled: PathOpt = Path("results/dd/distilled"),
    params: ParamsOpt = None, set_: SetOpt = None,
) -> None:
    """Train every model on the distilled sets, random real subsets and the full set; write OUT/<label>/metrics.json."""
    from qkernel.methods.dd.stages import evaluate_stage, sets_for, targets

    p = load(params, set_)
    for spec in targets(p):
        sets = {s: distilled / s / "distilled.npz" for s in sets_for(p, spec.label)}
        m = evaluate_stage(p, _prepared(p), spec.label, sets, out / spec.label)
        console.print(f"{spec.label}: random real {m['random_real']['mean']:.4f}, "
                      + ", ".join(f"{s} set {r['distilled']['mean']:.4f}" for s, r in m["sets"].items()))


@stage_app.command("dd-report")
@friendly_errors
def stage_dd_report(
    out: PathOpt = Path("results/dd"), distilled: PathOpt = Path("results/dd/distilled"),
    evaluated: Annotated[Path, typer.Option("--eval", help="Folder of the dd-evaluate stage.")] = Path("results/dd/eval"),
    params: ParamsOpt = None, set_: SetOpt = None,
) -> None:
    """Write OUT/metrics.json, OUT/plots/*.png and OUT/report.md from the distill and dd-evaluate stages."""
    from qkernel.methods.dd.report import write_dd_report

    p = load(params, set_)
    from qkernel.methods.dd.stages import targets

    results = [json.loads((evaluated / spec.label / "metrics.json").read_text()) for spec in targets(p)]
    sets = {spec.label: distilled / spec.label / "distilled.npz" for spec in p.dd.models}
    console.print(f"wrote {write_dd_report(p, results, out, sets).report}")


