"""The result tables the commands print (rich; they fit 80 columns)."""

from __future__ import annotations

from typing import Any

from rich.measure import Measurement
from rich.table import Table

from flows.cli import console


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


def print_dd_results(result: dict) -> None:
    """The headline: fresh-init distilled vs random real vs full set per model, the gain, the quantum cost."""
    from qkernel.methods.dd.report import COLLAPSED_LEGEND, accuracy_rows, any_collapsed, cost_rows, formed_rows

    rows = accuracy_rows(result["models"], counted=False)
    first = result["models"][0] if result["models"] else {"dataset": "", "images_per_class": ""}
    known = any(r["known_init_%"] != "—" for r in rows)
    table = Table(title=f"dataset distillation, {first['dataset']}, {first['images_per_class']} images/class: "
                        "test %, fresh inits", title_justify="left")
    for col in ("model", "distilled", "random real", "gain [95% CI]", "full set", *(["known init"] if known else [])):
        # Too wide for the console, cells wrap at spaces; a model's label is never split.
        table.add_column(col, justify="left" if col == "model" else "right", overflow="fold", no_wrap=col == "model")
    methods = sorted({r["method"] for r in rows})
    for r in rows:
        table.add_row(r["model"], r["distilled_%"], r["random_real_%"], r["gain_vs_random"], r["full_set_%"],
                      *([r["known_init_%"]] if known else []))
    # Wide rows (two-digit gains and bounds) fit 80 columns without the edge padding.
    natural = Measurement.get(console, console.options.update(max_width=10 * console.width), table).maximum
    table.pad_edge = natural <= console.width
    console.print(table)
    if any_collapsed(result["models"]):
        console.print(COLLAPSED_LEGEND, highlight=False)
    for f in formed_rows(result["models"]):
        console.print(f"{f['model']}: random real stored the same way (multi-formed) {f['random_formed_%']}; "
                      f"distilled − it {f['gain_vs_random_formed']}", highlight=False)
    console.print(f"method: {', '.join(methods)}; protocol: {first.get('protocol', '')}", highlight=False)
    console.print("quantum / classical parameters: " + "; ".join(
        f"{r['label']} {r['parameters']['quantum']} / {r['parameters']['classical']:,}" for r in result["models"]),
        highlight=False)
    for c in cost_rows(result["models"]):
        console.print(f"{c['model']}: circuit executions per epoch {c['per_epoch_distilled']:,} on the distilled "
                      f"set vs {c['per_epoch_full']:,} on the full set; over the protocol's epochs "
                      f"{c['sim_executions_distilled']:,} vs {c['sim_executions_full']:,} "
                      f"({c['distilled_cost']})")
    console.print(f"report: {result['report']}")


def print_kd_results(result: dict) -> None:
    """KD vs baseline vs classical controls over seeds (equal budgets), beside the published accuracy,
    with trainable-parameter counts and the paired KD − baseline difference with its 95 % CI."""
    from qkernel.methods.kd.summary import format_gain, format_stats, kd_summary
    from qkernel.published import kd_published_accuracy

    teacher = result.get("teacher")
    if teacher:
        console.print(f"teacher {teacher['model']}: {teacher['parameters']} parameters, "
                      f"test accuracy {100 * teacher['test_accuracy']:.2f} %")
    students = result["students"]
    summary = kd_summary(students)
    first = students[0] if students else {"dataset": "", "n_qubits": "", "reducer": "", "encoder": "", "epochs_run": 0}
    published = kd_published_accuracy(first["reducer"], first["encoder"], first["dataset"], first["n_qubits"])
    n = len(summary["seeds"])
    shown = "—" if published is None else f"{published:.1f} %"
    table = Table(title=f"{first['reducer']}+{first['encoder']} students on {first['dataset']}, {first['n_qubits']} "
                        f"qubits: test %, {n} seed{'s' * (n != 1)} × {first['epochs_run']} epochs each "
                        f"(published KD student: {shown})", title_justify="left")
    for col in ("student", "mode", "early stop", "fixed budget", "quantum / classical params"):
        table.add_column(col, justify="left" if col in ("student", "mode") else "right")
    for r in summary["rows"]:
        table.add_row(r["variant"], r["mode"], format_stats(r.get("early_stopping")),
                      format_stats(r.get("fixed_budget")), f"{r['quantum_params']} / {r['classical_params']}")
    console.print(table)
    console.print("Same epochs, optimiser, schedule; early stop = best on validation.", highlight=False)
    gain = summary["kd_minus_baseline"].get("quantum") or {}
    if gain.get("early_stopping"):  # a paired interval needs two seeds
        console.print(f"KD − baseline, quantum student, paired over {n} seeds (95 % CI): "
                      f"{format_gain(gain.get('early_stopping'))} early stop, "
                      f"{format_gain(gain.get('fixed_budget'))} fixed budget", highlight=False)
    controls = [f"{label.removeprefix('quantum - ').removesuffix(' (baseline)')} "
                f"{format_gain(g.get('early_stopping'))}"
                for label, g in summary["quantum_minus_control"].items() if label.endswith("(baseline)")]
    if controls:  # the other modes, the controls' own KD gains: report.md
        console.print(f"quantum − control (baselines, early stop, 95 % CI): {'; '.join(controls)}", highlight=False)
    console.print(f"report: {result['report']}")


