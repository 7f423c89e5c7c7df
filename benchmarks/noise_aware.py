"""Noise-aware vs noiseless training, judged on the Quantum Virtual Machine (mean ± std over seeds).

Train the students with the real pipeline, once noiselessly and once through the
processor's noise model (the ``noisy`` backend), e.g. for seeds 0, 1, 2::

    qdistill run --skip-dd -S runs_dir=na/noiseless   -S student.n_qubits=4 -S seed=$s -S "kd.modes=[kd]"
    qdistill run --skip-dd -S runs_dir=na/noise-aware -S student.n_qubits=4 -S seed=$s -S "kd.modes=[kd]" \\
        -S student.backend=noisy

then score every student the same way::

    python -m benchmarks.noise_aware na/noiseless na/noise-aware --out na/report

Per student, on the **whole** test split: the exact accuracy (noiseless native kernel), the
accuracy under the noise model's exact expectations (``noisy`` backend, infinite shots), and
the accuracy on the weber QVM with ``shots`` per image (:func:`qkernel.hardware.evaluate.evaluate_student`,
native noisy kernel). Writes ``noise_aware.{md,json,png}``.
"""

from __future__ import annotations

import argparse
import statistics
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["score_student", "summarize", "main"]


def _accuracy_with_backend(run: Any, backend: str, options: dict[str, Any]) -> tuple[float, dict[str, int]]:
    """Whole-test-split accuracy of the run's trained weights evaluated through another backend."""
    from qkernel.data import load_dataset
    from qkernel.io import load_weights, read_npz
    from qkernel.nn.student import build_parts, build_student
    from qkernel.nn.training import accuracy
    from qkernel.plugin.registry import get_registry

    p = run.params
    registry = get_registry(p.plugins.paths)
    data = load_dataset(p, registry)
    sp = p.student.model_copy(update={"backend": backend, "backend_options": options})
    parts = build_parts(sp, registry, data.image_shape)
    reducer_state = read_npz(run.reducer_path) if run.reducer_path else None
    model = build_student(parts, data.image_shape, data.num_classes, p.seed, reducer_state)
    load_weights(model, run.student_dir / "weights.npz")
    return accuracy(model, data.x["test"], data.y["test"]), model.parameter_counts()


def score_student(student_dir: Path, processor: str = "weber", shots: int = 1000) -> dict[str, Any]:
    """Exact, noise-model and QVM accuracies of one trained student (see the module docstring)."""
    from qkernel.config import load_params
    from qkernel.hardware.evaluate import evaluate_student, load_run

    run = load_run(str(student_dir), load_params(None))
    exact, counts = _accuracy_with_backend(run, "native", {})
    noisy, _ = _accuracy_with_backend(run, "noisy", {"processor": processor})
    qvm = evaluate_student(run, processor=processor, shots=shots, limit=10**6, seed=0)
    return {"student": str(student_dir), "seed": int(run.metrics.get("seed", run.params.seed)),
            "trained_with": run.params.student.backend, "exact": exact, "noise_model": noisy,
            "qvm": qvm["device_accuracy"], "images": qvm["samples"], "shots": shots,
            "estimated_fidelity": (qvm.get("fidelity_estimate") or {}).get("fidelity"),
            "quantum_parameters": counts["quantum"], "classical_parameters": counts["classical"]}


def summarize(rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Mean ± std (over seeds) per training mode."""
    out = []
    for mode in dict.fromkeys(r["trained_with"] for r in rows):
        group = [r for r in rows if r["trained_with"] == mode]

        def stat(key: str) -> str:
            values = [100 * r[key] for r in group]
            spread = statistics.stdev(values) if len(values) > 1 else 0.0
            return f"{statistics.mean(values):.1f} ± {spread:.1f}"

        out.append({"training": "noise-aware (noisy backend)" if mode == "noisy" else f"noiseless ({mode})",
                    "seeds": len(group), "exact %": stat("exact"), "noise model (∞ shots) %": stat("noise_model"),
                    f"QVM ({group[0]['shots']} shots) %": stat("qvm"),
                    "params quantum / classical": f"{group[0]['quantum_parameters']} / {group[0]['classical_parameters']}"})
    return out


def _plot(rows: Sequence[dict[str, Any]], path: Path) -> Path:
    import matplotlib.pyplot as plt

    from qkernel.reporting import save_figure

    modes = list(dict.fromkeys(r["trained_with"] for r in rows))
    keys = [("exact", "exact (noiseless)"), ("noise_model", "noise model, ∞ shots"), ("qvm", "QVM, 1000 shots")]
    fig, ax = plt.subplots(figsize=(7, 3.6))
    width = 0.8 / len(modes)
    for i, mode in enumerate(modes):
        values = np.array([[100 * r[k] for k, _ in keys] for r in rows if r["trained_with"] == mode])
        label = "noise-aware" if mode == "noisy" else "noiseless"
        ax.bar(np.arange(len(keys)) + i * width, values.mean(0), width, yerr=values.std(0, ddof=1) if len(values) > 1 else None,
               capsize=3, label=f"trained {label} ({len(values)} seeds)")
    ax.axhline(10, color="gray", linestyle=":", linewidth=1, label="chance")
    ax.set_xticks(np.arange(len(keys)) + width * (len(modes) - 1) / 2, [t for _, t in keys])
    ax.set(ylabel="test accuracy (%)", title="4-qubit KD student on the weber QVM", ylim=(0, 100))
    ax.legend(fontsize=8)
    return save_figure(fig, path)


def main(argv: Sequence[str] | None = None) -> None:
    """Score every ``students/kd-seed*`` under the given runs folders; write the report."""
    import qkernel
    from qkernel.io import atomic_write_json, atomic_write_text
    from qkernel.reporting import markdown_table

    qkernel.configure_tensorflow()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", type=Path, help="runs folders (each holding <run>/students/kd-seed*)")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--processor", default="weber")
    parser.add_argument("--shots", type=int, default=1000)
    args = parser.parse_args(argv)
    rows = []
    for folder in args.runs:
        for student in sorted(folder.glob("*/students/kd-seed*")):
            rows.append(score_student(student, args.processor, args.shots))
            print({k: rows[-1][k] for k in ("trained_with", "seed", "exact", "noise_model", "qvm")}, flush=True)
    summary = summarize(rows)
    atomic_write_json(args.out / "noise_aware.json", {"students": rows, "summary": summary})
    text = "# Noise-aware vs noiseless training\n\n" + markdown_table(summary) + "\n" + markdown_table(
        [{k: (f"{100 * v:.1f}" if k in ("exact", "noise_model", "qvm") else v) for k, v in r.items() if k != "student"}
         for r in rows])
    atomic_write_text(args.out / "noise_aware.md", text)
    print(text)
    print(_plot(rows, args.out / "noise_aware.png"))


if __name__ == "__main__":
    main()
