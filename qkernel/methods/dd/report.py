"""Plots, tables and the markdown report of a dataset-distillation run (written atomically; no Prefect).

:func:`write_dd_report` is the ``dd-report`` stage (flow and DVC alike); :mod:`flows.artifacts`
publishes what it writes as Prefect artifacts.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from scipy import stats

from qkernel.config import Params
from qkernel.io import atomic_write_json, atomic_write_text
from qkernel.plugin.lifecycle import stage
from qkernel.published import COMPARABLE, DD_ACCURACY
from qkernel.reporting import markdown_table, plt, save_figure

__all__ = [
    "DDReport", "accuracy_rows", "cost_rows", "cross_rows", "flat_metrics", "format_accuracy", "format_gain",
    "method_label", "paired_gain", "plot_image_grid", "plot_learning_rates", "plot_outer_loss", "times",
    "write_dd_report",
]


@dataclass
class DDReport:
    """The files of a DD report: ``report.md``, ``metrics.json``, image grids and the two curves."""

    report: Path
    metrics: Path
    grids: list[Path] = field(default_factory=list)
    learning_rates: Path | None = None
    outer_loss: Path | None = None


def plot_image_grid(images: np.ndarray, labels: np.ndarray, class_names: Sequence[str], title: str, path: Path) -> Path:
    """Distilled images, one row per class (each image scaled to its own range, grey)."""
    classes = sorted(set(int(c) for c in labels))
    per_class = max(int(np.sum(labels == c)) for c in classes)
    fig, axes = plt.subplots(len(classes), per_class, figsize=(0.9 * per_class + 1.2, 0.9 * len(classes) + 0.4),
                             squeeze=False)
    for row, c in enumerate(classes):
        picks = images[labels == c]
        for col in range(per_class):
            ax = axes[row, col]
            ax.set_xticks([])
            ax.set_yticks([])
            if col < len(picks):
                img = np.squeeze(picks[col])
                ax.imshow(img, cmap="gray", vmin=float(img.min()), vmax=float(img.max()) or 1.0)
            if col == 0:
                ax.set_ylabel(class_names[c] if c < len(class_names) else str(c), rotation=0, ha="right",
                              va="center", fontsize=8)
    fig.suptitle(title, fontsize=10)
    return save_figure(fig, path)


def plot_learning_rates(rates: dict[str, Sequence[float]], steps_per_epoch: int, path: Path) -> Path:
    """Learned inner learning rate of every unrolled step, one line per model; epochs marked."""
    fig, ax = plt.subplots(figsize=(6.4, 3.4))
    for label, values in rates.items():
        values = np.asarray(values)
        if values.ndim == 2:  # one rate per weight tensor: their geometric mean, and the range
            ax.fill_between(np.arange(1, len(values) + 1), values.min(1), values.max(1), alpha=0.15)
            values = np.exp(np.log(values).mean(1))
            label = f"{label} (geometric mean, range over weights)"
        ax.plot(np.arange(1, len(values) + 1), values, marker=".", label=label)
    n = max((len(v) for v in rates.values()), default=0)
    for boundary in range(steps_per_epoch, n, steps_per_epoch):
        ax.axvline(boundary + 0.5, color="grey", lw=0.6, ls=":")
    ax.set(xlabel="inner step", ylabel="learned learning rate", title="Learned learning rates (softplus)",
           yscale="log")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return save_figure(fig, path)


def plot_outer_loss(histories: dict[str, Sequence[dict[str, float]]], path: Path) -> Path:
    """The method's outer loss per step, one line per distilled set."""
    fig, ax = plt.subplots(figsize=(6.4, 3.4))
    for label, history in histories.items():
        ax.plot([r["step"] for r in history], [r["loss"] for r in history], lw=0.8, label=label)
    ax.set(xlabel="outer step", ylabel="the method's loss", title="Distillation progress")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return save_figure(fig, path)


#: The console's line when some run of the table collapsed (its cells are too narrow to say which: report.md does).
COLLAPSED_LEGEND = "some runs collapsed (training loss still at chance at the end): see report.md"


def any_collapsed(results: Sequence[dict[str, Any]]) -> bool:
    """Whether any run of the headline (distilled, random real, full set) collapsed."""
    return any((r.get(k) or {}).get("collapsed") for r in results for k in ("distilled", "random_real", "full"))


def format_accuracy(block: dict[str, Any] | None, counted: bool = True) -> str:
    """Accuracies as ``89.4 ± 0.9`` (%, mean ± std), the mean alone for one value, ``—`` for none; runs
    whose training collapsed are counted after it (unless not ``counted``): ``10.0 (1 collapsed)``."""
    if not block or block.get("mean") is None:
        return "—"
    shown = f"{100 * block['mean']:.1f}"
    if len(block["values"]) > 1:
        shown += f" ± {100 * block['std']:.1f}"
    return shown + (f" ({len(block['collapsed'])} collapsed)" if counted and block.get("collapsed") else "")


def paired_gain(a: dict[str, Any], b: dict[str, Any]) -> dict[str, float] | None:
    """Mean of ``a − b`` over paired runs (same initialisation seeds) with its 95 % t-interval, in points."""
    n = min(len(a.get("values", [])), len(b.get("values", [])))
    if n < 2:
        return None
    diff = 100 * (np.asarray(a["values"][:n]) - np.asarray(b["values"][:n]))
    half = float(stats.t.ppf(0.975, n - 1) * diff.std(ddof=1) / np.sqrt(n))
    return {"mean": float(diff.mean()), "low": float(diff.mean() - half), "high": float(diff.mean() + half), "n": n}


def format_gain(a: dict[str, Any], b: dict[str, Any]) -> str:
    """:func:`paired_gain` as ``+1.0 [-1.7, +3.8]`` (points, 95 % CI), or ``—`` with fewer than two pairs."""
    gain = paired_gain(a, b)
    return "—" if gain is None else f"{gain['mean']:+.1f} [{gain['low']:+.1f}, {gain['high']:+.1f}]"


def method_label(r: dict[str, Any]) -> str:
    """``distribution-matching``, ``distribution-matching (factor 2)`` for a multi-formed set, or
    ``performance-matching (fixed init)``: the init mode and the multi-formation beside every number."""
    method = r.get("method") or "—"
    if r.get("factor", 1) > 1:
        method += f" (factor {r['factor']})"
    return f"{method} ({r['init']} init)" if method == "performance-matching" else method


def accuracy_rows(results: Sequence[dict[str, Any]], counted: bool = True) -> list[dict[str, Any]]:
    """The headline: per model, its own distilled set vs random real subsets vs the full set, one protocol.

    ``distilled_%`` is fresh initialisations (never the known one); ``gain_vs_random`` is the paired
    difference (same initialisation seeds) with its 95 % confidence interval. ``counted``: collapsed runs
    counted in their cell (:func:`format_accuracy`); the console's narrow cells leave them to one line.
    """
    rows = []
    for r in results:
        if r.get("distilled") is None:
            continue  # a cross-architecture model without a set of its own
        published = DD_ACCURACY.get((r["model"], COMPARABLE.get(r["dataset"], r["dataset"])))
        rows.append({
            "model": r["label"], "method": method_label(r),
            "quantum / classical params": f"{r['parameters']['quantum']} / {r['parameters']['classical']:,}",
            "distilled_%": format_accuracy(r["distilled"], counted),
            "random_real_%": format_accuracy(r["random_real"], counted),
            "gain_vs_random": format_gain(r["distilled"], r["random_real"]),
            "full_set_%": format_accuracy(r["full"], counted),
            "known_init_%": format_accuracy(r.get("known_init"), counted),
            "published_%": published,
        })
    return rows


def formed_rows(results: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Multi-formed sets (``dd.factor`` > 1) against random real images stored the same way — the same
    storage and training images without distilling: what the distillation adds to the multi-formation."""
    return [{"model": r["label"], "distilled_%": format_accuracy(r["distilled"]),
             "random_formed_%": format_accuracy(r["random_formed"]),
             "gain_vs_random_formed": format_gain(r["distilled"], r["random_formed"])}
            for r in results if r.get("distilled") and r.get("random_formed")]


def flat_metrics(results: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Scalars per model for ``dvc metrics``/``dvc exp show`` (which do not look inside lists):
    ``dd.<model>.fresh.mean``, ``…random_real.mean``, ``…full.mean``, ``…gain``, ``…known_init``."""
    out: dict[str, Any] = {}
    for r in results:
        if r.get("distilled") is None:
            continue
        gain = paired_gain(r["distilled"], r["random_real"])
        out[r["label"]] = {
            "fresh": {k: r["distilled"][k] for k in ("mean", "std")},
            "random_real": {k: r["random_real"][k] for k in ("mean", "std")},
            "full": {"mean": r["full"]["mean"]},
            "gain": None if gain is None else round(gain["mean"], 3),
            "known_init": (r.get("known_init") or {}).get("mean"),
        }
        if r.get("random_formed"):
            out[r["label"]]["random_formed"] = {k: r["random_formed"][k] for k in ("mean", "std")}
    return out


def cross_rows(results: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """The cross-architecture table: a row per distilled set, a column per model trained on it (fresh inits),
    and a last row with each model's random real subsets for reference."""
    sets = sorted({s for r in results for s in r.get("sets", {})}, key=[r["label"] for r in results].index)
    rows = [{"set": s, **{r["label"]: format_accuracy(r["sets"].get(s, {}).get("distilled")) for r in results}}
            for s in sets]
    rows.append({"set": "random real", **{r["label"]: format_accuracy(r["random_real"]) for r in results}})
    return rows


def times(full: int, distilled: int) -> str:
    """The distilled set's executions against the full set's: ``"2.4× fewer"``, or ``"1.4× more"`` when its
    budget costs more."""
    return f"{full / distilled:.1f}× fewer" if full >= distilled else f"{distilled / full:.1f}× more"


def cost_rows(results: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Quantum cost of training on the distilled vs the full set, per quantum model (``distilled_cost``: over
    the protocol's budgets, :func:`times`)."""
    rows = []
    for r in results:
        cost = r.get("quantum_cost")
        if not cost:
            continue
        d, f = cost["distilled"], cost["full"]
        rows.append({
            "model": r["label"],
            "sim_executions_distilled": d["simulation_executions"], "sim_executions_full": f["simulation_executions"],
            "per_epoch_distilled": d["simulation_executions_per_epoch"], "per_epoch_full": f["simulation_executions_per_epoch"],
            "hw_circuits_distilled": d["hardware_circuits"], "hw_circuits_full": f["hardware_circuits"],
            "hw_shots_distilled": f"{d['hardware_shots']:.3g}", "hw_shots_full": f"{f['hardware_shots']:.3g}",
            "distilled_cost": times(f["simulation_executions"], d["simulation_executions"]),
        })
    return rows


def _write_markdown(
    out: Path, *, title: str, results: Sequence[dict[str, Any]], settings: dict[str, Any], images: Sequence[str],
) -> Path:
    """``metrics.json`` (all numbers) and ``report.md`` (tables, settings, plots) under ``out``."""
    atomic_write_json(out / "metrics.json", {"dd": flat_metrics(results), "settings": settings, "models": list(results)})
    parts = [f"# {title}\n", "## Test accuracy (%): fresh initialisations, one protocol\n",
             markdown_table(accuracy_rows(results)),
             f"\nEvery number trains **fresh initialisations** (never seen while distilling) under one protocol: "
             f"{settings['protocol']}; the final weights are scored once on the test split (mean ± std). "
             "`random_real`: random class-balanced real subsets of the same size, one fresh initialisation each "
             "(the same seeds as the distilled runs); `gain_vs_random`: the paired difference with its 95 % "
             "confidence interval; `full_set`: every training image. `known_init` (performance matching in "
             "fixed-init mode only): the one initialisation the set was distilled for, trained with the learned "
             "rates — Wang et al.'s setting, not the headline. `published`: the DD paper (full MNIST / CIFAR-10). "
             "`(n collapsed)`: n of the runs ended with their last epoch's training loss still at chance level "
             "(a network that learned nothing without diverging); their scores are in the mean.\n"]
    formed = formed_rows(results)
    if formed:
        parts += [f"\n## Multi-formation (factor {settings.get('factor')}): random real images stored the same way\n",
                  markdown_table(formed),
                  f"\nEach stored image holds {settings.get('factor')}² downsampled images, decoded to full size "
                  "for training (Kim et al. 2022). `random_formed`: random real images shrunk into the same "
                  "storage and decoded the same way, trained under the same protocol (the same seeds): the "
                  "distillation's own share of the gain over `random_real`.\n"]
    if any(len(r.get("sets", {})) > 1 or not r.get("distilled") for r in results):
        parts += ["\n## Cross-architecture: each set trains every model (test %, fresh initialisations)\n",
                  markdown_table(cross_rows(results))]
    costs = cost_rows(results)
    if costs:
        parts += ["\n## Quantum cost of training\n", markdown_table(costs),
                  "\nSimulation: one state-vector execution per sample per pass. Hardware: parameter shift over "
                  f"every circuit angle (ansatz and encoding) in each measurement setting, {settings.get('shots')} "
                  "shots per circuit. The distilled set and the full set are each trained for the protocol's "
                  "epochs.\n"]
    parts.append("\n## Settings\n\n```\n" + "\n".join(f"{k}: {v}" for k, v in settings.items()) + "\n```\n")
    parts += [f"\n![{Path(i).stem}]({i})\n" for i in images]
    return atomic_write_text(out / "report.md", "\n".join(parts))


@stage("dd-report")
def write_dd_report(p: Params, results: list[dict[str, Any]], out: Path, distilled: Mapping[str, Path]) -> DDReport:
    """Image grids, learned rates, outer loss, accuracy and cost tables, ``metrics.json`` and ``report.md``.

    Args:
        distilled: The ``distilled.npz`` of every ``dd.models`` label.
    """
    from qkernel.methods.dd.stages import load_distilled
    from qkernel.methods.kd.report import class_names

    names = class_names(p)
    plots = out / "plots"
    grids, rates, histories, steps = [], {}, {}, 1
    for spec in p.dd.models:
        d = load_distilled(Path(distilled[spec.label]))
        grids.append(plot_image_grid(d.images, d.labels, names, f"distilled for {spec.label} ({d.method})",
                                     plots / f"images_{spec.label}.png"))
        if len(d.learning_rates):
            rates[spec.label], steps = d.learning_rates, d.steps
        histories[spec.label] = d.history
    lr_plot = plot_learning_rates(rates, steps, plots / "learning_rates.png") if rates else None
    loss_plot = plot_outer_loss(histories, plots / "outer_loss.png")
    dd = p.dd
    settings = {"dataset": p.data.name, "method": dd.method, "images_per_class": dd.images_per_class,
                "factor": dd.factor, "image_init": dd.image_init, "outer_steps": dd.outer_steps,
                "real_batch": dd.real_batch,
                **{f"{dd.method}.{k}": v for k, v in dd.method_options().items()},
                "protocol": results[0]["protocol"] if results else "", "eval_inits": dd.eval.inits,
                "real_draws": dd.eval.real_draws, "shots": dd.eval.shots, "seed": p.seed}
    plots_used = [f for f in (*grids, lr_plot, loss_plot) if f is not None]
    report = _write_markdown(
        out, title=f"Dataset distillation: {p.data.name}, {dd.images_per_class} images per class ({dd.method})",
        results=results, settings=settings, images=[str(Path("plots") / f.name) for f in plots_used],
    )
    return DDReport(report, out / "metrics.json", grids, lr_plot, loss_plot)


def write_dd_ablation(runs: Sequence[dict[str, Any]], out: Path) -> tuple[Path, list[dict[str, Any]]]:
    """The dataset-distillation grid, one row per run × model (mean over its fresh inits and draws)."""
    rows = []
    for run in runs:
        for r in run["models"]:
            if r.get("distilled") is None:
                continue
            rows.append({"dataset": r["dataset"], "method": method_label(r), "images_per_class": r["images_per_class"],
                         "model": r["label"], "distilled_%": format_accuracy(r["distilled"]),
                         "random_real_%": format_accuracy(r["random_real"]),
                         "gain": format_gain(r["distilled"], r["random_real"]),
                         "full_set_%": format_accuracy(r["full"]), "run": run["run_dir"]})
    atomic_write_json(out / "dd_summary.json", {"rows": rows})
    return atomic_write_text(out / "dd_summary.md", "# Dataset distillation grid\n\n" + markdown_table(rows)), rows
