"""Plots, tables and the markdown report of a dataset-distillation run (written atomically; no Prefect).

:func:`write_dd_report` is the ``dd-report`` stage (flow and DVC alike); :mod:`flows.artifacts`
publishes what it writes as Prefect artifacts.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from qkernel.config import Params
from qkernel.io import atomic_write_json, atomic_write_text
from qkernel.plugin.lifecycle import stage
from qkernel.published import COMPARABLE, DD_ACCURACY
from qkernel.reporting import markdown_table, plt, save_figure

__all__ = [
    "DDReport", "accuracy_rows", "cost_rows", "plot_image_grid", "plot_learning_rates", "plot_outer_loss",
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
    """Outer loss (CE of the inner-trained model on real batches) per outer step."""
    fig, ax = plt.subplots(figsize=(6.4, 3.4))
    for label, history in histories.items():
        ax.plot([r["step"] for r in history], [r["loss"] for r in history], lw=0.8, label=label)
    ax.set(xlabel="outer step", ylabel="real-batch loss after inner training", title="Distillation progress")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return save_figure(fig, path)


def _pct(block: dict[str, Any]) -> str:
    if not block or block.get("mean") is None:
        return "—"
    n = len(block["values"])
    return f"{100 * block['mean']:.2f} ± {100 * block['std']:.2f} (n={n})"


def accuracy_rows(results: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per model: distilled vs random real vs full set (test %, mean ± std over inits), published."""
    rows = []
    for r in results:
        published = DD_ACCURACY.get((r["model"], COMPARABLE.get(r["dataset"], r["dataset"])))
        readout = r.get("options", {}).get("readout")
        rows.append({
            "model": r["label"], "readout": readout or "—", "parameters": r["parameters"],
            "kept_step": r.get("best_outer_step"),
            "distilled_%": _pct(r["distilled"]), "distilled_known_init_%": _pct(r.get("known_init") or {}),
            "random_real_%": _pct(r["random_real"]), "full_set_%": _pct(r["full"]),
            "published_distilled_%": published,
        })
    return rows


def cost_rows(results: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Quantum cost of training on the distilled vs the full set, per quantum model."""
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
            "reduction_x": round(cost["reduction"], 1),
        })
    return rows


def _write_markdown(
    out: Path, *, title: str, results: Sequence[dict[str, Any]], settings: dict[str, Any], images: Sequence[str],
    notes: Sequence[str] = (),
) -> Path:
    """``metrics.json`` (all numbers) and ``report.md`` (tables, settings, plots) under ``out``."""
    atomic_write_json(out / "metrics.json", {"settings": settings, "models": list(results)})
    parts = [f"# {title}\n", "## Test accuracy (%), mean ± std over fresh initialisations\n",
             markdown_table(accuracy_rows(results)),
             "\n`distilled`: fresh initialisations (never seen while distilling) trained on the distilled images with "
             "the learned rates only; `distilled_known_init` (fixed-init mode): the one initialisation the images "
             "were distilled for, trained the same way; `random_real`: the same "
             "number of random real images, Adam with early stopping on validation; `full_set`: every training "
             "image, same recipe. `published_distilled_%`: the DD paper (full MNIST / CIFAR-10).\n"]
    costs = cost_rows(results)
    if costs:
        parts += ["\n## Quantum cost of training\n", markdown_table(costs),
                  "\nSimulation: one state-vector execution per sample per pass. Hardware: parameter shift over "
                  f"every circuit angle (ansatz and encoding) in each measurement setting, {settings.get('shots')} "
                  "shots per circuit. Distilled training is the whole learned schedule; full-set training counts "
                  "the epochs actually run.\n"]
    parts += [f"\n{n}\n" for n in notes]
    parts.append("\n## Settings\n\n```\n" + "\n".join(f"{k}: {v}" for k, v in settings.items()) + "\n```\n")
    parts += [f"\n![{Path(i).stem}]({i})\n" for i in images]
    return atomic_write_text(out / "report.md", "\n".join(parts))


@stage("dd-report")
def write_dd_report(p: Params, results: list[dict[str, Any]], out: Path, distilled_dir: Path | None = None) -> DDReport:
    """Image grids, learned rates, outer loss, accuracy and cost tables, ``metrics.json`` and ``report.md``.

    Distilled sets are read from ``<distilled_dir>/<label>/distilled.npz`` (default ``out``).
    """
    from qkernel.methods.dd.stages import load_distilled
    from qkernel.methods.kd.report import class_names

    names = class_names(p)
    plots = out / "plots"
    grids, rates, histories, steps = [], {}, {}, 1
    for r in results:
        d = load_distilled(Path(distilled_dir or out) / r["label"] / "distilled.npz")
        grids.append(plot_image_grid(d.images, d.labels, names, f"distilled for {r['label']}",
                                     plots / f"images_{r['label']}.png"))
        rates[r["label"]] = d.learning_rates
        histories[r["label"]] = d.history
        steps = d.steps
    lr_plot = plot_learning_rates(rates, steps, plots / "learning_rates.png")
    loss_plot = plot_outer_loss(histories, plots / "outer_loss.png")
    dd = p.dd
    settings = {"dataset": p.data.name, "method": dd.method, "images_per_class": dd.images_per_class,
                "image_init": dd.image_init, "outer_steps": dd.outer_steps, "real_batch": dd.real_batch,
                **{f"{dd.method}.{k}": v for k, v in dd.method_options().items()},
                "eval_inits": dd.eval.inits, "shots": dd.eval.shots, "seed": p.seed}
    report = _write_markdown(
        out, title=f"Dataset distillation: {p.data.name}, {dd.images_per_class} images per class",
        results=results, settings=settings,
        images=[str(Path("plots") / f.name) for f in (*grids, lr_plot, loss_plot)],
    )
    return DDReport(report, out / "metrics.json", grids, lr_plot, loss_plot)
