"""The KD comparison over seeds: every student kind and mode, mean ± std, and paired differences with 95 % CIs.

A KD run trains, per seed, the quantum student and each classical control (``kd.controls``) in
each mode (``baseline``, ``kd``), all with the same budget, optimiser, schedule and selection
rule. Each student gives two test accuracies: ``early_stopping`` (weights selected on
validation) and ``fixed_budget`` (weights after every epoch). Students of one seed share the
data order, so differences are paired by seed: KD − baseline per kind, and quantum − control
per mode, each as a mean with its 95 % t-interval (:func:`qkernel.methods.dd.report.paired_gain`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from qkernel.methods.dd.report import paired_gain

__all__ = ["SELECTIONS", "comparison_rows", "flat_metrics", "format_gain", "format_stats", "kd_summary"]

#: The two scores of every student: metrics key, and the label used in tables.
SELECTIONS = {"early_stopping": "test_accuracy", "fixed_budget": "test_accuracy_fixed"}


def _by_seed(results: Sequence[dict[str, Any]], variant: str, mode: str) -> dict[int, dict[str, Any]]:
    return {r["seed"]: r for r in results if r.get("variant", "quantum") == variant and r["mode"] == mode}


def _stats(values: list[float]) -> dict[str, Any]:
    pct = 100 * np.asarray(values, dtype=float)
    return {"values": [float(v) for v in values], "mean": float(pct.mean()),
            "std": float(pct.std(ddof=1)) if len(pct) > 1 else 0.0}


def _paired(a: dict[int, dict[str, Any]], b: dict[int, dict[str, Any]]) -> dict[str, Any]:
    """Paired difference ``a − b`` (points) over the seeds both have, for each selection rule."""
    seeds = sorted(set(a) & set(b))
    out: dict[str, Any] = {"seeds": seeds}
    for selection, key in SELECTIONS.items():
        if not all(key in a[s] and key in b[s] for s in seeds):
            continue
        gain = paired_gain({"values": [a[s][key] for s in seeds]}, {"values": [b[s][key] for s in seeds]})
        out[selection] = gain
    return out


def kd_summary(results: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Mean ± std per student kind and mode, KD − baseline per kind, quantum − control per mode.

    Args:
        results: One metrics record per trained student (``variant``, ``mode``, ``seed``,
            ``test_accuracy``, ``test_accuracy_fixed``, ``parameters`` …).

    Returns:
        ``{"seeds", "rows", "kd_minus_baseline", "quantum_minus_control"}``; differences are
        ``{"mean", "low", "high", "n"}`` in points, ``None`` with fewer than two paired seeds.
    """
    variants = list(dict.fromkeys(r.get("variant", "quantum") for r in results))
    modes = [m for m in ("baseline", "kd") if any(r["mode"] == m for r in results)]
    rows = []
    for variant in variants:
        for mode in modes:
            group = _by_seed(results, variant, mode)
            if not group:
                continue
            members = [group[s] for s in sorted(group)]
            counts = members[0]["parameters"]
            row = {"variant": variant, "mode": mode, "seeds": sorted(group),
                   "quantum_params": counts["quantum"], "classical_params": counts["classical"],
                   "middle_params": counts.get("middle", counts["quantum"]),
                   "stop_epoch": float(np.mean([r.get("stop_epoch", r.get("epochs_run", 0)) for r in members])),
                   "epochs": int(max(r.get("epochs_run", 0) for r in members)),
                   "train_seconds": float(np.mean([r.get("train_seconds", 0.0) for r in members]))}
            for selection, key in SELECTIONS.items():
                if all(key in r for r in members):
                    row[selection] = _stats([r[key] for r in members])
            rows.append(row)
    gains = {v: _paired(_by_seed(results, v, "kd"), _by_seed(results, v, "baseline"))
             for v in variants if {"baseline", "kd"} <= set(modes)}
    controls = {f"quantum - {v} ({m})": _paired(_by_seed(results, "quantum", m), _by_seed(results, v, m))
                for v in variants if v != "quantum" and "quantum" in variants for m in modes}
    seeds = sorted({r["seed"] for r in results})
    return {"seeds": seeds, "rows": rows, "kd_minus_baseline": gains, "quantum_minus_control": controls}


def format_stats(stats: dict[str, Any] | None) -> str:
    """``90.12 ± 0.34`` (mean ± std over seeds, %), the mean alone for one seed, ``—`` for none."""
    if not stats:
        return "—"
    return f"{stats['mean']:.2f} ± {stats['std']:.2f}" if len(stats["values"]) > 1 else f"{stats['mean']:.2f}"


def format_gain(gain: dict[str, Any] | None) -> str:
    """``+1.23 [+0.40, +2.06]`` (points, 95 % CI), or ``—`` with fewer than two paired seeds."""
    if not gain:
        return "—"
    return f"{gain['mean']:+.2f} [{gain['low']:+.2f}, {gain['high']:+.2f}]"


def comparison_rows(summary: dict[str, Any]) -> list[dict[str, Any]]:
    """The headline table: per kind and mode, test % (mean ± std over seeds) under both selection rules,
    the paired KD − baseline difference on the ``kd`` row, and the trainable-parameter counts."""
    gains = summary["kd_minus_baseline"]
    out = []
    for r in summary["rows"]:
        gain = gains.get(r["variant"], {}) if r["mode"] == "kd" else {}
        out.append({
            "student": r["variant"], "mode": r["mode"], "seeds": len(r["seeds"]),
            "early_stopping_%": format_stats(r.get("early_stopping")), "fixed_budget_%": format_stats(r.get("fixed_budget")),
            "kd_gain_early_[95%_CI]": format_gain(gain.get("early_stopping")) if gain else "",
            "kd_gain_fixed_[95%_CI]": format_gain(gain.get("fixed_budget")) if gain else "",
            "quantum_params": r["quantum_params"], "classical_params": r["classical_params"],
            "mean_stop_epoch": round(r["stop_epoch"], 1), "epochs": r["epochs"],
            "train_s": round(r["train_seconds"], 1),
        })
    return out


def flat_metrics(summary: dict[str, Any]) -> dict[str, Any]:
    """Scalar keys that ``dvc metrics show`` / ``dvc exp show`` can put in columns (DVC skips lists).

    The quantum student's scores sit at ``<mode>.<score>`` (``kd.test_accuracy``,
    ``baseline.test_accuracy_fixed`` …, fractions, mean over seeds), each control's at
    ``<control>.<mode>.<score>``, and the paired KD − baseline differences (points, 95 % CI) at
    ``kd_minus_baseline.<kind>.<selection>.{mean,low,high}``.
    """
    out: dict[str, Any] = {}
    for r in summary["rows"]:
        scores = {}
        for selection, key in SELECTIONS.items():
            if r.get(selection):
                scores[key] = round(r[selection]["mean"] / 100, 6)
                scores[f"{key}_std"] = round(r[selection]["std"] / 100, 6)
        target = out if r["variant"] == "quantum" else out.setdefault(r["variant"], {})
        target[r["mode"]] = scores
    out["kd_minus_baseline"] = {
        kind: {s: {k: round(g[k], 4) for k in ("mean", "low", "high")} for s, g in gains.items()
               if s in SELECTIONS and g}
        for kind, gains in summary["kd_minus_baseline"].items()}
    return out
