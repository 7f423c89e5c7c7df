"""The Fig. 12 ablation: the published orderings are checked on the means, and the figure is drawn."""

from __future__ import annotations

from pathlib import Path

from qkernel.methods.kd.ablation import ordering_sentences, plot_ablation


def row(reducer: str, encoder: str, mean: float, mode: str = "kd", qubits: int = 4) -> dict:
    return {"dataset": "fashion-mnist", "qubits": qubits, "reducer": reducer, "encoder": encoder, "mode": mode,
            "test_accuracy_mean_%": mean, "test_accuracy_std_%": 0.5, "published_%": 77.6, "seeds": 3}


ROWS = [row("fc", "amplitude", 85.0), row("fc", "qubit", 80.0), row("fc", "angle", 70.0),
        row("avgpool", "amplitude", 60.0), row("pca", "amplitude", 62.0), row("crop", "amplitude", 40.0),
        row("maxpool", "amplitude", 30.0), row("fc", "amplitude", 84.0, mode="baseline")]


def test_each_published_ordering_is_said_to_hold_or_not() -> None:
    sentences = ordering_sentences(ROWS)
    assert sentences == [
        "fashion-mnist, 4 qubits, kd: encodings (fc reducer) amplitude 85.0 > qubit 80.0 > angle 70.0: "
        "the published ordering holds.",
        "fashion-mnist, 4 qubits, kd: reducers (amplitude encoding) published order fc 85.0 > avgpool 60.0 > "
        "pca 62.0 > crop 40.0 > maxpool 30.0: does not hold (avgpool 60.0 ≤ pca 62.0); measured order "
        "fc > pca > avgpool > crop > maxpool.",
    ]  # the baseline row alone is no complete ordering: nothing said about it


def test_the_figure_is_written(tmp_path: Path) -> None:
    path = plot_ablation([*ROWS, *(row(r["reducer"], r["encoder"], 50.0, qubits=8) for r in ROWS[:3])],
                         tmp_path / "ablation.png", "test")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and path.stat().st_size > 10_000
