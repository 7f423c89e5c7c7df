"""The KD paper's ablation (its Fig. 12) redrawn from an ablation sweep, and its published orderings checked.

The paper reports, per dataset and qubit count, the KD student's test error for each encoding
(with the fc reducer) and each reducer (with amplitude encoding), and finds two orderings:

* encodings: amplitude > qubit > angle;
* reducers: fc > avgpool > pca > crop > maxpool.

:func:`plot_ablation` draws every reducer × encoder bar (mean ± std over seeds) for each mode,
one panel row per qubit count, with the published accuracies as markers; :func:`ordering_sentences`
says, per dataset, qubit count and mode, whether each ordering holds (on the means over seeds).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import numpy as np

from qkernel.reporting import save_figure  # sets the Agg backend: files only

__all__ = ["ENCODER_ORDER", "REDUCER_ORDER", "ordering_sentences", "plot_ablation"]

#: Published orderings, best first: encodings with the fc reducer, reducers with amplitude encoding.
ENCODER_ORDER = ("amplitude", "qubit", "angle")
REDUCER_ORDER = ("fc", "avgpool", "pca", "crop", "maxpool")


def _means(rows: Sequence[dict[str, Any]]) -> dict[tuple, float]:
    return {(r["dataset"], r["qubits"], r["mode"], r["reducer"], r["encoder"]): r["test_accuracy_mean_%"]
            for r in rows}


def _check(label: str, order: Sequence[str], values: dict[str, float]) -> str | None:
    if not all(k in values for k in order):
        return None
    shown = " > ".join(f"{k} {values[k]:.1f}" for k in order)
    broken = [f"{a} {values[a]:.1f} ≤ {b} {values[b]:.1f}" for a, b in zip(order, order[1:]) if values[a] <= values[b]]
    ranked = " > ".join(sorted(order, key=lambda k: -values[k]))
    if not broken:
        return f"{label} {shown}: the published ordering holds."
    return f"{label} published order {shown}: does not hold ({'; '.join(broken)}); measured order {ranked}."


def ordering_sentences(rows: Sequence[dict[str, Any]]) -> list[str]:
    """One sentence per published ordering, dataset, qubit count and mode, saying whether it holds.

    Args:
        rows: Ablation summary rows (``dataset``, ``qubits``, ``reducer``, ``encoder``, ``mode``,
            ``test_accuracy_mean_%``), as :func:`qkernel.methods.kd.report.write_ablation_summary` writes.
    """
    means = _means(rows)
    sentences = []
    for dataset, qubits, mode in sorted({k[:3] for k in means}):
        def pick(reducer: str, encoder: str) -> float | None:
            return means.get((dataset, qubits, mode, reducer, encoder))

        where = f"{dataset}, {qubits} qubits, {mode}:"
        encoders = {e: v for e in ENCODER_ORDER if (v := pick("fc", e)) is not None}
        reducers = {r: v for r in REDUCER_ORDER if (v := pick(r, "amplitude")) is not None}
        for text in (_check(f"{where} encodings (fc reducer)", ENCODER_ORDER, encoders),
                     _check(f"{where} reducers (amplitude encoding)", REDUCER_ORDER, reducers)):
            if text is not None:
                sentences.append(text)
    return sentences


def plot_ablation(rows: Sequence[dict[str, Any]], path: Path, title: str = "") -> Path:
    """Grouped bars: reducer + encoder on x, one bar per mode (mean ± std over seeds), published accuracy as
    black diamonds; one panel per dataset and qubit count. Returns the PNG path."""
    panels = sorted({(r["dataset"], r["qubits"]) for r in rows})
    modes = [m for m in ("baseline", "kd") if any(r["mode"] == m for r in rows)]
    combos = [(red, enc) for red in REDUCER_ORDER for enc in ENCODER_ORDER
              if any(r["reducer"] == red and r["encoder"] == enc for r in rows)]
    fig, axes = plt.subplots(len(panels), 1, figsize=(max(8.0, 0.62 * len(combos) + 2), 3.2 * len(panels)),
                             squeeze=False, layout="constrained")
    width = 0.8 / max(1, len(modes))
    for ax, (dataset, qubits) in zip(axes[:, 0], panels):
        by = {(r["reducer"], r["encoder"], r["mode"]): r for r in rows if (r["dataset"], r["qubits"]) == (dataset, qubits)}
        x = np.arange(len(combos))
        for i, mode in enumerate(modes):
            mean = [by[c[0], c[1], mode]["test_accuracy_mean_%"] if (c[0], c[1], mode) in by else np.nan for c in combos]
            std = [by[c[0], c[1], mode]["test_accuracy_std_%"] if (c[0], c[1], mode) in by else 0.0 for c in combos]
            ax.bar(x + (i - (len(modes) - 1) / 2) * width, mean, width, yerr=std, capsize=2, label=mode)
        published = [next((r["published_%"] for r in by.values() if (r["reducer"], r["encoder"]) == c
                           and r.get("published_%") is not None), np.nan) for c in combos]
        ax.plot(x, published, "kD", markersize=4, label="published (KD)")
        ax.set_xticks(x, [f"{red}\n{enc}" for red, enc in combos], fontsize=7)
        ax.set_ylabel("test accuracy %")
        ax.set_ylim(0, 100)
        ax.set_title(f"{dataset}, {qubits} qubits", fontsize=9)
        ax.grid(axis="y", alpha=0.3)
    axes[0, 0].legend(fontsize=7, ncol=len(modes) + 1, loc="lower left", bbox_to_anchor=(0, 1.0), frameon=False)
    if title:
        fig.suptitle(title, fontsize=10)
    return save_figure(fig, path)
