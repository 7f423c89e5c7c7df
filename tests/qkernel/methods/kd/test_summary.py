"""The KD comparison: mean ± std over seeds and paired differences with their 95 % t-interval, on known numbers."""

from __future__ import annotations

import pytest

from qkernel.methods.kd.summary import comparison_rows, format_gain, kd_summary


def student(variant: str, mode: str, seed: int, early: float, fixed: float) -> dict:
    counts = {"quantum": 16, "classical": 100, "total": 116} if variant == "quantum" else \
        {"quantum": 0, "classical": 116, "total": 116, "middle": 16}
    return {"variant": variant, "mode": mode, "seed": seed, "test_accuracy": early, "test_accuracy_fixed": fixed,
            "parameters": counts, "epochs_run": 10, "stop_epoch": 8, "train_seconds": 1.0}


RESULTS = [
    *(student("quantum", "baseline", s, 0.90, 0.90) for s in range(3)),
    *(student("quantum", "kd", s, 0.90 + 0.01 * (s + 1), 0.90) for s in range(3)),  # +1, +2, +3 points
    *(student("control_matched", "baseline", s, 0.80 + 0.01 * s, 0.80) for s in range(3)),
    *(student("control_matched", "kd", s, 0.80 + 0.01 * s, 0.81) for s in range(3)),
]


def test_paired_kd_gain_and_its_confidence_interval_on_known_numbers() -> None:
    summary = kd_summary(RESULTS)
    gain = summary["kd_minus_baseline"]["quantum"]["early_stopping"]
    # differences 1, 2, 3 points: mean 2, sd 1, t(0.975, 2) = 4.3027 -> half-width 4.3027 / sqrt(3) = 2.4841
    assert gain["n"] == 3 and gain["mean"] == pytest.approx(2.0)
    assert (gain["low"], gain["high"]) == pytest.approx((2.0 - 2.48414, 2.0 + 2.48414), abs=1e-4)
    fixed = summary["kd_minus_baseline"]["control_matched"]["fixed_budget"]
    assert (fixed["mean"], fixed["low"], fixed["high"]) == pytest.approx((1.0, 1.0, 1.0))  # constant +1: zero width
    versus = summary["quantum_minus_control"]["quantum - control_matched (baseline)"]["early_stopping"]
    assert versus["mean"] == pytest.approx(9.0)  # 10, 9, 8 points
    assert format_gain(gain) == "+2.00 [-0.48, +4.48]"


def test_rows_give_mean_and_std_over_seeds_with_parameter_counts() -> None:
    summary = kd_summary(RESULTS)
    row = {(r["variant"], r["mode"]): r for r in summary["rows"]}["quantum", "kd"]
    assert row["seeds"] == [0, 1, 2] and row["early_stopping"]["mean"] == pytest.approx(92.0)
    assert row["early_stopping"]["std"] == pytest.approx(1.0)
    assert (row["quantum_params"], row["classical_params"]) == (16, 100)
    table = {(r["student"], r["mode"]): r for r in comparison_rows(summary)}
    assert table["quantum", "kd"]["early_stopping_%"] == "92.00 ± 1.00"
    assert table["quantum", "kd"]["kd_gain_early_[95%_CI]"] == "+2.00 [-0.48, +4.48]"
    assert table["quantum", "baseline"]["kd_gain_early_[95%_CI]"] == ""


def test_one_seed_has_no_interval() -> None:
    summary = kd_summary([r for r in RESULTS if r["seed"] == 0])
    assert summary["kd_minus_baseline"]["quantum"]["early_stopping"] is None
    assert format_gain(None) == "—"
