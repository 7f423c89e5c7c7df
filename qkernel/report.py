"""Plots and a markdown report of a knowledge-distillation run (written atomically)."""

from __future__ import annotations

import io
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only; no display on servers and CI
import matplotlib.pyplot as plt
import numpy as np

from qkernel.io import atomic_write_bytes, atomic_write_text
from qkernel.published import kd_published_accuracy


def save_figure(fig: plt.Figure, path: Path) -> Path:
    """Write ``fig`` to ``path`` as PNG atomically and close it; returns ``path``."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    return atomic_write_bytes(path, buf.getvalue())


def plot_training_curves(histories: dict[str, Sequence[dict[str, float]]], path: Path) -> Path:
    """Training loss and validation accuracy per epoch, one line per run."""
    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(10, 3.6))
    for label, history in histories.items():
        epochs = [r["epoch"] for r in history]
        ax_loss.plot(epochs, [r["loss"] for r in history], marker=".", label=label)
        ax_acc.plot(epochs, [100 * r["val_accuracy"] for r in history], marker=".", label=label)
    ax_loss.set(xlabel="epoch", ylabel="training loss", title="Training loss")
    ax_acc.set(xlabel="epoch", ylabel="validation accuracy (%)", title="Validation accuracy")
    for ax in (ax_loss, ax_acc):
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    return save_figure(fig, path)


def plot_confusion(confusion: Sequence[Sequence[int]], class_names: Sequence[str], title: str, path: Path) -> Path:
    """Confusion matrix (rows: true class, columns: predicted), counts annotated."""
    cm = np.asarray(confusion)
    fig, ax = plt.subplots(figsize=(4.8, 4.2))
    ax.imshow(cm, cmap="Blues")
    ax.set(xticks=range(len(class_names)), yticks=range(len(class_names)), xlabel="predicted", ylabel="true", title=title)
    ax.set_xticklabels(class_names, rotation=90, fontsize=7)
    ax.set_yticklabels(class_names, fontsize=7)
    threshold = cm.max() / 2 if cm.size else 0
    for (i, j), v in np.ndenumerate(cm):
        if v:
            ax.text(j, i, str(v), ha="center", va="center", fontsize=6, color="white" if v > threshold else "black")
    return save_figure(fig, path)


def results_rows(results: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per trained student with the published accuracy beside ours."""
    rows = []
    for r in results:
        published = kd_published_accuracy(r["reducer"], r["encoder"], r["dataset"], r["n_qubits"])
        rows.append({
            "dataset": r["dataset"], "qubits": r["n_qubits"], "reducer": r["reducer"], "encoder": r["encoder"],
            "mode": r["mode"], "seed": r["seed"],
            "test_accuracy_%": round(100 * r["test_accuracy"], 2),
            "val_accuracy_%": round(100 * r["val_accuracy"], 2),
            "published_%": published,
            "quantum_params": r["parameters"]["quantum"], "classical_params": r["parameters"]["classical"],
        })
    return rows


def markdown_table(rows: Sequence[dict[str, Any]]) -> str:
    """A GitHub-flavoured markdown table of homogeneous dict rows."""
    if not rows:
        return "_no results_\n"
    cols = list(rows[0])
    fmt = lambda v: "—" if v is None else str(v)  # noqa: E731
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    lines += ["| " + " | ".join(fmt(r[c]) for c in cols) + " |" for r in rows]
    return "\n".join(lines) + "\n"


def write_report(
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
    parts.append("## Students (test accuracy; the test split is used once, after selection on validation)\n")
    parts.append(markdown_table(results_rows(results)))
    parts.append(
        "\n`published_%` is the KD paper's accuracy (100 − error read off its bar chart, ±1) for the same "
        "reducer, encoder and qubit count on the full dataset; mnist-5k is compared with MNIST.\n"
    )
    parts += [f"\n{n}\n" for n in notes]
    parts.append("\n## Circuit\n\n```\n" + circuit_diagram + "\n```\n")
    for image in images:
        parts.append(f"\n![{Path(image).stem}]({image})\n")
    return atomic_write_text(path, "\n".join(parts))
