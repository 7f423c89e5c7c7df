"""What the flows show people in Prefect: progress bars and artifacts of the reports qkernel writes.

The report files themselves are written by the report stages in :mod:`qkernel` (also run by
DVC, which must not need Prefect); this module only publishes them.
"""

from __future__ import annotations

import base64
import re
from pathlib import Path
from typing import Any

from prefect.artifacts import (
    create_image_artifact,
    create_markdown_artifact,
    create_progress_artifact,
    create_table_artifact,
    update_progress_artifact,
)
from prefect.context import get_run_context
from tqdm.auto import tqdm

from qkernel.config import Params


def _key(text: str) -> str:
    """Artifact keys may hold only lowercase letters, digits and dashes."""
    return re.sub(r"[^a-z0-9-]+", "-", text.lower()).strip("-")[:100]


def _in_run() -> bool:
    try:
        get_run_context()
        return True
    except Exception:  # no flow/task run: plain library use
        return False


class EpochProgress:
    """A terminal progress bar (when attached to a TTY) and a Prefect progress artifact per training run."""

    def __init__(self, label: str, epochs: int) -> None:
        self.epochs = epochs
        self.bar = tqdm(total=epochs, desc=label, unit="epoch", leave=False, disable=None)
        self.artifact = create_progress_artifact(0.0, description=f"training {label}") if _in_run() else None

    def update(self, record: dict[str, float]) -> None:
        self.bar.update(1)
        self.bar.set_postfix(loss=f"{record['loss']:.3f}", val_acc=f"{record['val_accuracy']:.3f}")
        if self.artifact is not None:
            update_progress_artifact(self.artifact, 100.0 * record["epoch"] / self.epochs)

    def close(self) -> None:
        self.bar.close()
        if self.artifact is not None:
            update_progress_artifact(self.artifact, 100.0)


class StepProgress:
    """Progress of a loop of ``total`` steps: terminal bar and a Prefect progress artifact (~1 % resolution)."""

    def __init__(self, label: str, total: int) -> None:
        self.total = total
        self.bar = tqdm(total=total, desc=label, unit="step", leave=False, disable=None)
        self.artifact = create_progress_artifact(0.0, description=label) if _in_run() else None
        self._shown = 0.0

    def update(self, step: int, **postfix: float) -> None:
        self.bar.update(step - self.bar.n)
        self.bar.set_postfix({k: f"{v:.3f}" for k, v in postfix.items()})
        percent = 100.0 * step / self.total
        if self.artifact is not None and percent - self._shown >= 1.0:
            update_progress_artifact(self.artifact, percent)
            self._shown = percent

    def close(self) -> None:
        self.bar.close()
        if self.artifact is not None:
            update_progress_artifact(self.artifact, 100.0)


def _image(path: Path, key: str, description: str) -> None:
    uri = "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode()
    create_image_artifact(image_url=uri, key=_key(key), description=description)


def publish_kd_report(p: Params, teacher: dict[str, Any] | None, results: list[dict[str, Any]], out: Path) -> Path:
    """Write the KD report (:func:`qkernel.methods.kd.report.write_kd_report`); publish it as artifacts in a run."""
    from qkernel.methods.kd.report import results_rows, write_kd_report
    from qkernel.methods.kd.summary import comparison_rows, kd_summary

    files = write_kd_report(p, teacher, results, out)
    if _in_run():
        create_table_artifact(comparison_rows(kd_summary(results)), key=_key(f"kd-comparison-{out.name}"),
                              description="KD vs baseline vs classical controls: test %, mean ± std over seeds, "
                                          "paired KD − baseline with 95 % CI, trainable parameters")
        create_table_artifact(results_rows(results), key=_key(f"kd-results-{out.name}"),
                              description="Students: ours beside published")
        summary = files.report.read_text().split("## Circuit")[0]
        create_markdown_artifact(summary + "\n## Circuit\n```\n" + files.diagram + "\n```\n",
                                 key=_key(f"kd-report-{out.name}"), description=f"report.md of {out}")
        _image(files.curves, f"curves-{out.name}", "training loss and validation accuracy")
        for f in files.confusions:
            _image(f, f"{f.stem}-{out.name}", "confusion matrix on the test split")
    return files.report


def publish_ablation(results: list[dict[str, Any]], out: Path) -> Path:
    """Write the ablation summary (mean ± std over seeds, orderings, figure); publish table, text and figure."""
    from qkernel.methods.kd.report import write_ablation_summary

    path, rows = write_ablation_summary(results, out)
    if _in_run():
        create_table_artifact(rows, key=_key(f"ablation-{out.name}"), description="ablation: mean ± std over seeds")
        create_markdown_artifact(path.read_text().split("![")[0], key=_key(f"ablation-orderings-{out.name}"),
                                 description="ablation summary and the KD paper's orderings checked")
        _image(out / "ablation.png", f"ablation-figure-{out.name}", "the KD paper's Fig. 12: reducers × encoders")
    return path


def publish_dd_report(p: Params, results: list[dict[str, Any]], out: Path, distilled: dict[str, Path]) -> Path:
    """Write the DD report (:func:`qkernel.methods.dd.report.write_dd_report`); publish it as artifacts in a run."""
    from qkernel.methods.dd.report import accuracy_rows, cost_rows, cross_rows, write_dd_report

    files = write_dd_report(p, results, out, distilled)
    if _in_run():
        create_table_artifact(accuracy_rows(results), key=_key(f"dd-accuracy-{out.name}"),
                              description="test accuracy, fresh inits: distilled vs random real vs full set")
        create_table_artifact(cross_rows(results), key=_key(f"dd-cross-{out.name}"),
                              description="cross-architecture: each distilled set trains each model")
        costs = cost_rows(results)
        if costs:
            create_table_artifact(costs, key=_key(f"dd-cost-{out.name}"), description="quantum cost of training")
        create_markdown_artifact(files.report.read_text().split("![")[0], key=_key(f"dd-report-{out.name}"),
                                 description=f"report.md of {out}")
        for f in files.grids:
            _image(f, f"dd-{f.stem}-{out.name}", "distilled images, one row per class")
        if files.learning_rates is not None:
            _image(files.learning_rates, f"dd-learning-rates-{out.name}", "learned inner learning rates")
        _image(files.outer_loss, f"dd-outer-loss-{out.name}", "outer loss per step")
    return files.report


def publish_dd_ablation(runs: list[dict[str, Any]], out: Path) -> Path:
    """Summary of the dataset-distillation grid (``dd_summary.md`` and ``.json``); a table artifact in a run."""
    from qkernel.methods.dd.report import write_dd_ablation

    path, rows = write_dd_ablation(runs, out)
    if _in_run():
        create_table_artifact(rows, key=_key(f"dd-ablation-{out.name}"),
                              description="dataset distillation grid: fresh-init distilled vs random real")
    return path
