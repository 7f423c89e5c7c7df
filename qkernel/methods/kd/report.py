"""The knowledge-distillation report: ``metrics.json``, plots and ``report.md`` of a run (no Prefect).

:func:`write_kd_report` is the ``report`` stage (flow and DVC alike); :func:`write_ablation_summary`
summarises a sweep. :mod:`flows.artifacts` publishes what these write as Prefect artifacts.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cirq
import numpy as np

from qkernel.config import Params
from qkernel.io import atomic_write_json, atomic_write_text
from qkernel.methods.kd.summary import comparison_rows, flat_metrics, format_gain, kd_summary
from qkernel.plugin.lifecycle import stage
from qkernel.plugin.registry import get_registry
from qkernel.published import kd_published_accuracy
from qkernel.reporting import markdown_table, plot_confusion, plot_training_curves

__all__ = ["KDReport", "circuit_diagram", "class_names", "results_rows", "write_ablation_summary", "write_kd_report"]


@dataclass
class KDReport:
    """The files of a KD report: ``report.md``, ``metrics.json`` and the plots, plus the circuit diagram."""

    report: Path
    metrics: Path
    curves: Path
    confusions: list[Path] = field(default_factory=list)
    diagram: str = ""


def results_rows(results: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per trained student with the published accuracy beside ours."""
    rows = []
    for r in results:
        published = kd_published_accuracy(r["reducer"], r["encoder"], r["dataset"], r["n_qubits"])
        fixed = r.get("test_accuracy_fixed")
        rows.append({
            "dataset": r["dataset"], "qubits": r["n_qubits"], "reducer": r["reducer"], "encoder": r["encoder"],
            "student": r.get("variant", "quantum"), "mode": r["mode"], "seed": r["seed"],
            "test_accuracy_%": round(100 * r["test_accuracy"], 2),
            "test_fixed_budget_%": None if fixed is None else round(100 * fixed, 2),
            "val_accuracy_%": round(100 * r["val_accuracy"], 2),
            "published_%": published if r.get("variant", "quantum") == "quantum" else None,
            "quantum_params": r["parameters"]["quantum"], "classical_params": r["parameters"]["classical"],
        })
    return rows


def class_names(p: Params) -> tuple[str, ...]:
    """The class names of the configured dataset (subset by ``data.classes``), from its plugin's metadata."""
    names = tuple(get_registry(p.plugins.paths).create("dataset", p.data.name).class_names)
    return tuple(names[c] for c in p.data.classes) if p.data.classes else names


def circuit_diagram(p: Params) -> str:
    """Text diagram of the student's encoder + ansatz circuit (symbols, not trained values)."""
    registry = get_registry(p.plugins.paths)
    s = p.student
    encoder = registry.create("encoder", s.encoder, n_qubits=s.n_qubits, **s.encoder_options)
    ansatz = registry.create("ansatz", s.ansatz, n_qubits=s.n_qubits, depth=s.depth, **s.ansatz_options)
    qubits = cirq.LineQubit.range(s.n_qubits)
    if encoder.loads_state:
        text = "(amplitude encoding: the normalised features are loaded as the state; hardware uses the "
        text += "Möttönen template)\n" + ansatz.circuit(qubits).to_text_diagram(transpose=False)
    else:
        text = (encoder.circuit(qubits) + ansatz.circuit(qubits)).to_text_diagram(transpose=False)
    return text


def _write_markdown(
    path: Path,
    *,
    title: str,
    teacher: dict[str, Any] | None,
    results: Sequence[dict[str, Any]],
    circuit_diagram: str,
    images: Sequence[str] = (),
    notes: Sequence[str] = (),
) -> Path:
    """The run's ``report.md``: teacher, students (ours beside published), circuit and plots."""
    parts = [f"# {title}\n"]
    if teacher is not None:
        parts.append(
            f"**Teacher** `{teacher['model']}`: {teacher['parameters']} parameters, "
            f"validation accuracy {100 * teacher['val_accuracy']:.2f} %, test accuracy "
            f"{100 * teacher['test_accuracy']:.2f} %.\n"
        )
    parts += [f"\n{n}\n" for n in notes]
    parts.append("## Every student (test accuracy; each model is scored once on test, after selection on validation)\n")
    parts.append(markdown_table(results_rows(results)))
    parts.append(
        "\n`published_%` is the KD paper's accuracy (100 − error read off its bar chart, ±1) for the same "
        "reducer, encoder and qubit count on the full dataset; mnist-5k is compared with MNIST.\n"
    )
    parts.append("\n## Circuit\n\n```\n" + circuit_diagram + "\n```\n")
    for image in images:
        parts.append(f"\n![{Path(image).stem}]({image})\n")
    return atomic_write_text(path, "\n".join(parts))


def comparison_notes(p: Params, summary: dict[str, Any]) -> list[str]:
    """The report's comparison section: the table, the training settings and tuning, one line per paired difference."""
    s, kd = p.student, p.kd
    seeds = summary["seeds"]
    lines = [f"Seeds {seeds} ({len(seeds)}). Every student trains {s.epochs} epochs with Adam (learning rate "
             f"{s.learning_rate:g}, {s.schedule} schedule, batch {s.batch_size}); KD uses T = {kd.temperature:g}, "
             f"α = {kd.alpha:g}. *early stopping*: the weights of the best validation epoch within patience "
             f"{s.patience}; *fixed budget*: the weights after epoch {s.epochs}. Only the validation split selects; "
             "each model is scored once on test."]
    if kd.tuned is not None:
        t = kd.tuned
        lines.append(f"T, α and the learning rate were tuned by `qdistill tune` on the validation split of "
                     f"{t.dataset}: Optuna TPE, {t.trials} trials per study, {t.epochs} epochs, seeds "
                     f"{list(t.seeds)} (best validation accuracy: baseline {100 * t.baseline_val_accuracy:.2f} %, "
                     f"KD {100 * t.kd_val_accuracy:.2f} %).")
    bullets = [f"- KD − baseline, {variant}: early stopping {format_gain(gain.get('early_stopping'))}, fixed budget "
               f"{format_gain(gain.get('fixed_budget'))} points (published mean gain: +0.80 MNIST, +5.40 Fashion-MNIST)."
               for variant, gain in summary["kd_minus_baseline"].items()]
    bullets += [f"- {label}: early stopping {format_gain(gain.get('early_stopping'))}, fixed budget "
                f"{format_gain(gain.get('fixed_budget'))} points." for label, gain in summary["quantum_minus_control"].items()]
    return ["## Comparison (test %, mean ± std over seeds; differences paired by seed, 95 % t-interval)\n\n"
            + markdown_table(comparison_rows(summary)) + "\n\n" + "\n\n".join(lines) + "\n\n" + "\n".join(bullets)]


@stage("report")
def write_kd_report(p: Params, teacher: dict[str, Any] | None, results: list[dict[str, Any]], out: Path) -> KDReport:
    """Write ``metrics.json`` (every student and the comparison), plots and ``report.md`` under ``out``."""
    plots = out / "plots"
    quantum = [r for r in results if r.get("variant", "quantum") == "quantum"]
    curves = plot_training_curves({f"{r['mode']} seed {r['seed']}": r["history"] for r in quantum},
                                  plots / "training_curves.png")
    names = class_names(p)
    first = min((r["seed"] for r in quantum), default=None)
    confusions = [plot_confusion(r["confusion"], names, f"{r['mode']} seed {r['seed']}",
                                 plots / f"confusion_{r['mode']}_seed{r['seed']}.png")
                  for r in quantum if r["seed"] == first]
    diagram = circuit_diagram(p)
    summary = kd_summary(results)
    notes = comparison_notes(p, summary)
    teacher_keys = ("model", "parameters", "val_accuracy", "test_accuracy")
    metrics = atomic_write_json(out / "metrics.json", {
        "teacher": None if teacher is None else {k: teacher[k] for k in teacher_keys},
        **flat_metrics(summary),
        "summary": summary,
        "students": [{k: v for k, v in r.items() if k not in ("history", "confusion")} for r in results],
    })
    report = _write_markdown(
        out / "report.md", title=f"Knowledge distillation: {p.data.name}, {p.student.n_qubits} qubits",
        teacher=teacher, results=results, circuit_diagram=diagram,
        images=[str(Path("plots") / f.name) for f in (curves, *confusions)], notes=notes,
    )
    return KDReport(report, metrics, curves, confusions, diagram)


def write_ablation_summary(results: list[dict[str, Any]], out: Path) -> tuple[Path, list[dict[str, Any]]]:
    """Summary of an ablation sweep (mean ± std over seeds): ``summary.json``, ``summary.md`` (with the published
    orderings checked), the figure ``ablation.png`` (the KD paper's Fig. 12), and the rows."""
    from qkernel.methods.kd.ablation import ordering_sentences, plot_ablation

    groups: dict[tuple, list[dict[str, Any]]] = {}
    for r in results:
        groups.setdefault((r["dataset"], r["n_qubits"], r["reducer"], r["encoder"], r["mode"]), []).append(r)
    rows = []
    for (dataset, q, reducer, encoder, mode), rs in sorted(groups.items()):
        acc = np.array([100 * r["test_accuracy"] for r in rs])
        rows.append({"dataset": dataset, "qubits": q, "reducer": reducer, "encoder": encoder, "mode": mode,
                     "seeds": len(rs), "test_accuracy_mean_%": round(float(acc.mean()), 2),
                     "test_accuracy_std_%": round(float(acc.std(ddof=1)) if len(acc) > 1 else 0.0, 2),
                     "published_%": kd_published_accuracy(reducer, encoder, dataset, q)})
    runs = [{k: v for k, v in r.items() if k not in ("history", "confusion")} for r in results]
    orderings = ordering_sentences(rows)
    seeds = sorted({r["seed"] for r in results})
    figure = plot_ablation(rows, out / "ablation.png", f"KD student ablation (test %, mean ± std over seeds {seeds})")
    atomic_write_json(out / "summary.json", {"rows": rows, "orderings": orderings, "runs": runs})
    text = ("# Ablation\n\n" + markdown_table(rows) + "\n\n## Published orderings\n\n"
            + "".join(f"- {s}\n" for s in orderings) + f"\n![ablation]({figure.name})\n")
    return atomic_write_text(out / "summary.md", text), rows
