"""What the flows show people: terminal progress, Prefect artifacts, and the report files."""

from __future__ import annotations

import base64
import re
from pathlib import Path
from typing import Any

import cirq
from prefect.artifacts import (
    create_image_artifact,
    create_markdown_artifact,
    create_progress_artifact,
    create_table_artifact,
    update_progress_artifact,
)
from prefect.context import get_run_context
from tqdm.auto import tqdm

from qkernel import report as rep
from qkernel.config import Params
from qkernel.io import atomic_write_json


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


def circuit_diagram(p: Params) -> str:
    """Text diagram of the student's encoder + ansatz circuit (symbols, not trained values)."""
    from qkernel.registry import get_registry

    registry = get_registry(p.plugins.paths)
    s = p.student
    encoder = registry.create("encoder", s.encoder, n_qubits=s.n_qubits, **s.encoder_options)
    ansatz = registry.create("ansatz", s.ansatz, n_qubits=s.n_qubits, depth=s.depth, **s.ansatz_options)
    qubits = cirq.LineQubit.range(s.n_qubits)
    if encoder.state(_probe(encoder)) is not None:
        text = "(amplitude encoding: the normalised features are loaded as the state; hardware uses the "
        text += "Möttönen template)\n" + ansatz.circuit(qubits).to_text_diagram(transpose=False)
    else:
        text = (encoder.circuit(qubits) + ansatz.circuit(qubits)).to_text_diagram(transpose=False)
    return text


def _probe(encoder: Any) -> Any:
    import numpy as np

    return np.ones((1, encoder.n_features), np.float32)


def publish_kd_report(p: Params, teacher: dict[str, Any] | None, results: list[dict[str, Any]], out: Path) -> Path:
    """Write ``metrics.json``, plots and ``report.md`` under ``out``; publish them as artifacts when in a run."""
    plots = out / "plots"
    curves = rep.plot_training_curves({f"{r['mode']} seed {r['seed']}": r["history"] for r in results},
                                      plots / "training_curves.png")
    from qkernel.registry import get_registry

    class_names = get_registry(p.plugins.paths).create("dataset", p.data.name).class_names
    if p.data.classes:
        class_names = tuple(class_names[c] for c in p.data.classes)
    confusions = [rep.plot_confusion(r["confusion"], class_names, f"{r['mode']} seed {r['seed']}",
                                     plots / f"confusion_{r['mode']}_seed{r['seed']}.png") for r in results]
    diagram = circuit_diagram(p)
    notes = []
    by_mode = {r["mode"]: r for r in results}
    if {"baseline", "kd"} <= set(by_mode):
        gain = 100 * (by_mode["kd"]["test_accuracy"] - by_mode["baseline"]["test_accuracy"])
        notes.append(f"KD − baseline test accuracy: {gain:+.2f} points (published mean gain: +0.80 MNIST, +5.40 Fashion-MNIST).")
    if results:
        counts = results[0]["parameters"]
        notes.append(f"Trainable parameters per student: {counts['quantum']} quantum, {counts['classical']} classical.")
    metrics = {
        "teacher": None if teacher is None else {k: teacher[k] for k in ("model", "parameters", "val_accuracy", "test_accuracy")},
        "students": [{k: v for k, v in r.items() if k not in ("history", "confusion")} for r in results],
    }
    atomic_write_json(out / "metrics.json", metrics)
    report = rep.write_report(
        out / "report.md", title=f"Knowledge distillation: {p.data.name}, {p.student.n_qubits} qubits",
        teacher=teacher, results=results, circuit_diagram=diagram,
        images=[str(Path("plots") / f.name) for f in (curves, *confusions)], notes=notes,
    )
    if _in_run():
        rows = rep.results_rows(results)
        create_table_artifact(rows, key=_key(f"kd-results-{out.name}"), description="Students: ours beside published")
        create_markdown_artifact(report.read_text().split("## Circuit")[0] + "\n## Circuit\n```\n" + diagram + "\n```\n",
                                 key=_key(f"kd-report-{out.name}"), description=f"report.md of {out}")
        _image(curves, f"curves-{out.name}", "training loss and validation accuracy")
        for f in confusions:
            _image(f, f"{f.stem}-{out.name}", "confusion matrix on the test split")
    return report


def publish_ablation(p: Params, results: list[dict[str, Any]], out: Path) -> Path:
    """Summary table of an ablation sweep (mean ± std over seeds) as markdown, JSON and an artifact."""
    import numpy as np

    groups: dict[tuple, list[dict[str, Any]]] = {}
    for r in results:
        groups.setdefault((r["dataset"], r["n_qubits"], r["reducer"], r["encoder"], r["mode"]), []).append(r)
    rows = []
    for (dataset, q, reducer, encoder, mode), rs in sorted(groups.items()):
        acc = np.array([100 * r["test_accuracy"] for r in rs])
        published = rep.kd_published_accuracy(reducer, encoder, dataset, q)
        rows.append({"dataset": dataset, "qubits": q, "reducer": reducer, "encoder": encoder, "mode": mode,
                     "seeds": len(rs), "test_accuracy_mean_%": round(float(acc.mean()), 2),
                     "test_accuracy_std_%": round(float(acc.std(ddof=1)) if len(acc) > 1 else 0.0, 2),
                     "published_%": published})
    atomic_write_json(out / "summary.json", {"rows": rows, "runs": [{k: v for k, v in r.items() if k not in ("history", "confusion")} for r in results]})
    text = "# Ablation\n\n" + rep.markdown_table(rows)
    path = out / "summary.md"
    from qkernel.io import atomic_write_text

    atomic_write_text(path, text)
    if _in_run():
        create_table_artifact(rows, key=_key(f"ablation-{out.name}"), description="ablation: mean ± std over seeds")
    return path


def publish_dd_report(p: Params, results: list[dict[str, Any]], out: Path, distilled_dir: Path | None = None) -> Path:
    """Image grids, learned rates, outer loss, accuracy/cost tables and ``report.md``; artifacts when in a run.

    Distilled sets are read from ``<distilled_dir>/<label>/distilled.npz`` (default ``out``).
    """
    from qkernel import dd_report
    from qkernel.dd_stages import load_distilled
    from qkernel.registry import get_registry

    class_names = get_registry(p.plugins.paths).create("dataset", p.data.name).class_names
    if p.data.classes:
        class_names = tuple(class_names[c] for c in p.data.classes)
    plots = out / "plots"
    grids, rates, histories = [], {}, {}
    for r in results:
        d = load_distilled(Path(distilled_dir or out) / r["label"] / "distilled.npz")
        grids.append(dd_report.plot_image_grid(d.images, d.labels, class_names, f"distilled for {r['label']}",
                                               plots / f"images_{r['label']}.png"))
        rates[r["label"]] = d.learning_rates
        histories[r["label"]] = d.history
    lr_plot = dd_report.plot_learning_rates(rates, p.dd.steps, plots / "learning_rates.png")
    loss_plot = dd_report.plot_outer_loss(histories, plots / "outer_loss.png")
    dd = p.dd
    settings = {"dataset": p.data.name, "images_per_class": dd.images_per_class, "image_init": dd.image_init,
                "init": dd.init, "inner_steps": f"{dd.steps} x {dd.epochs} epochs", "lr_init": dd.lr_init,
                "outer_steps": dd.outer_steps, "outer_lr": dd.outer_lr, "real_batch": dd.real_batch,
                "eval_inits": dd.eval.inits, "shots": dd.eval.shots, "seed": p.seed}
    report = dd_report.write_dd_report(
        out, title=f"Dataset distillation: {p.data.name}, {dd.images_per_class} images per class",
        results=results, settings=settings,
        images=[str(Path("plots") / f.name) for f in (*grids, lr_plot, loss_plot)],
    )
    if _in_run():
        create_table_artifact(dd_report.accuracy_rows(results), key=_key(f"dd-accuracy-{out.name}"),
                              description="test accuracy: distilled vs random real vs full set")
        costs = dd_report.cost_rows(results)
        if costs:
            create_table_artifact(costs, key=_key(f"dd-cost-{out.name}"), description="quantum cost of training")
        create_markdown_artifact(report.read_text().split("![")[0], key=_key(f"dd-report-{out.name}"),
                                 description=f"report.md of {out}")
        for f in grids:
            _image(f, f"dd-{f.stem}-{out.name}", "distilled images, one row per class")
        _image(lr_plot, f"dd-learning-rates-{out.name}", "learned inner learning rates")
        _image(loss_plot, f"dd-outer-loss-{out.name}", "outer loss per step")
    return report
