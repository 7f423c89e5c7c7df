"""The knowledge-distillation tables of the README: strong teachers, KD vs baseline vs classical controls, seeds.

Each setting trains its teacher once, then the quantum student and each classical control of
``kd.controls`` in both modes for every seed of ``kd.seeds`` — the same stage functions the
``kd_pipeline`` flow and ``dvc repro`` run — and reports, per setting, test accuracy (mean ±
std over seeds) with early stopping on validation and at the fixed epoch budget, the paired
KD − baseline difference with its 95 % CI, and the trainable-parameter counts::

    nice -n 15 .venv/bin/python -m benchmarks.kd_tables --out /work/kd-runs/tables \\
        -p tuned-mnist.yaml --setting mnist-5k-8q --setting mnist-5k-8q-50pc --setting mnist-5k-8q-200pc

Folders are keyed by the parameters (not the code version), and a student with a
``metrics.json`` is not trained again, so a killed run resumes; two worker processes train
students side by side. Hyper-parameters come from ``qdistill tune`` (``-p`` its parameter file);
the test split is scored once per model and never chooses anything.
"""

from __future__ import annotations

import argparse
import itertools
import json
import multiprocessing
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import qkernel

__all__ = ["SETTINGS", "main", "prepared", "run_setting", "teacher"]

#: The students' budget in every table, pinned so that later changes to the defaults do not move the tables:
#: 15 epochs, batch 32, cosine schedule, early-stopping patience 5, seeds 0–2, both classical controls.
BASE = ["student.epochs=15", "student.batch_size=32", "student.schedule=cosine", "student.patience=5",
        "kd.seeds=[0, 1, 2]", "kd.controls=[control_matched, control_none]"]

#: The mnist-5k teacher (as the default parameters): ``cnn`` 16-32-64 with shifts and rotations, 12 epochs.
MNIST = ["teacher.model=cnn", "teacher.options={widths: [16, 32, 64], augment: [translate, rotate]}",
         "teacher.epochs=12", "teacher.batch_size=128", "teacher.learning_rate=0.002", "teacher.schedule=cosine",
         "teacher.patience=5"]

#: The strong Fashion-MNIST teacher: a wider ``cnn`` with flips, 20 epochs.
FASHION = ["data.name=fashion-mnist", "teacher.model=cnn", "teacher.batch_size=128",
           "teacher.options={widths: [32, 64, 128], convs: 2, augment: [translate, flip]}", "teacher.epochs=20",
           "teacher.learning_rate=0.002", "teacher.schedule=cosine", "teacher.patience=10"]

#: Low-data regime: labelled images per class (train + validation) and the epochs that keep the number
#: of optimiser steps reasonable on so few images (teacher and students alike; the teacher sees only them).
LOW_DATA = {50: ["data.per_class=50", "teacher.epochs=80", "teacher.patience=80", "student.epochs=60",
                 "student.patience=20"],
            200: ["data.per_class=200", "teacher.epochs=40", "teacher.patience=40", "student.epochs=30",
                  "student.patience=10"]}

#: Every setting of the README tables: name → ``-S`` overrides on top of the parameters.
SETTINGS: dict[str, list[str]] = {
    "mnist-5k-8q": MNIST,
    "mnist-5k-8q-50pc": [*MNIST, *LOW_DATA[50]],
    "mnist-5k-8q-200pc": [*MNIST, *LOW_DATA[200]],
    "fashion-8q": FASHION,
    "fashion-4q": [*FASHION, "student.n_qubits=4"],
    "fashion-8q-50pc": [*FASHION, *LOW_DATA[50]],
    "fashion-8q-200pc": [*FASHION, *LOW_DATA[200]],
    # few classical parameters: average pooling to 256 features, so the circuit carries the model
    "mnist-5k-8q-avgpool": [*MNIST, "student.reducer=avgpool"],
    "fashion-8q-avgpool": [*FASHION, "student.reducer=avgpool"],
}


def _hash(*parts: Any) -> str:
    from flows.common import short_hash

    return short_hash(*parts)


def _data_key(p: Any) -> dict[str, Any]:
    return p.data.model_dump(mode="json", exclude={"out_dir"})


def prepared(p: Any, root: Path) -> Path:
    """The prepared dataset of ``p`` under ``root/data`` (written once, keyed by the data options and seed)."""
    from qkernel.data import prepare_stage

    stem = f"{p.data.name}-{_hash(_data_key(p), p.seed)}"
    npz = root / "data" / f"{stem}.npz"
    if not npz.is_file():
        prepare_stage(p, root / "data", stem)
    return npz


def teacher(p: Any, root: Path) -> dict[str, Any]:
    """Train (once) and return the teacher of ``p``: ``root/teachers/<dataset>-<model>-<hash>/metrics.json``."""
    from qkernel.methods.kd.stages import teacher_stage

    key = _hash(_data_key(p), p.teacher.model_dump(mode="json"), p.seed)
    out = root / "teachers" / f"{p.data.name}-{p.teacher.model}-{key}"
    if not (out / "metrics.json").is_file() or "train_seconds" not in json.loads((out / "metrics.json").read_text()):
        start = time.perf_counter()
        metrics = teacher_stage(p, prepared(p, root), out)
        metrics["train_seconds"] = round(time.perf_counter() - start, 1)
        (out / "metrics.json").write_text(json.dumps(metrics))
    return json.loads((out / "metrics.json").read_text())


def _students_dir(p: Any, root: Path, name: str) -> Path:
    key = _hash(_data_key(p), p.teacher.model_dump(mode="json"), p.student.model_dump(mode="json"),
                p.kd.model_dump(mode="json", exclude={"tune", "tuned"}), p.seed)
    return root / "students" / f"{name}-{key}"


def _train(job: tuple[Any, str, str, list[int], str, str | None, str, str]) -> list[dict[str, Any]]:
    """One worker job: a variant and mode over its missing seeds (runs in a worker process)."""
    p, mode, variant, seeds, data, logits, reducer, out = job
    qkernel.configure_tensorflow()
    from qkernel.methods.kd.stages import students_stage

    return students_stage(p, mode, variant, seeds, Path(data), None if logits is None else Path(logits),
                          Path(reducer), Path(out))


def run_setting(name: str, overrides: list[str], params_file: Path | None, root: Path,
                pool: ProcessPoolExecutor) -> dict[str, Any]:
    """Teacher, reducer and every student of one setting; returns its teacher, students and summary."""
    from flows.common import check
    from qkernel.config import load_params
    from qkernel.methods.kd.stages import QUANTUM, reducer_stage, student_name
    from qkernel.methods.kd.summary import kd_summary

    p = load_params(params_file, [*BASE, *SETTINGS[name], *overrides])
    check(p, kd=True)
    data = prepared(p, root)
    out = _students_dir(p, root, name)
    reducer = out / "reducer.npz"
    if not reducer.is_file():
        reducer_stage(p, data, reducer)
    done, futures, t = [], [], None
    for mode, variant in itertools.product(("baseline", "kd"), (QUANTUM, *p.kd.controls)):
        have = [s for s in p.kd.seeds if (out / student_name(variant, mode, s) / "metrics.json").is_file()]
        done += [json.loads((out / student_name(variant, mode, s) / "metrics.json").read_text()) for s in have]
        missing = [s for s in p.kd.seeds if s not in have]
        if mode == "kd" and t is None:
            t = teacher(p, root)  # baseline students train in the workers meanwhile
        if missing:
            job = (p, mode, variant, missing, str(data), t["logits"] if mode == "kd" else None, str(reducer), str(out))
            futures.append(pool.submit(_train, job))
    results = done + [m for f in futures for m in f.result()]
    results.sort(key=lambda r: (r["mode"] != "baseline", r.get("variant", QUANTUM) != QUANTUM, r.get("variant"), r["seed"]))
    teacher_row = {k: t[k] for k in ("model", "parameters", "val_accuracy", "test_accuracy")}
    teacher_row["train_seconds"] = t.get("train_seconds")
    return {"setting": name, "dataset": p.data.name, "n_qubits": p.student.n_qubits, "per_class": p.data.per_class,
            "train_images": int(json.loads(data.with_suffix(".json").read_text())["sizes"]["train"]),
            "student": {k: v for k, v in p.student.model_dump(mode="json").items() if not k.endswith("options")},
            "kd": {"temperature": p.kd.temperature, "alpha": p.kd.alpha, "seeds": list(p.kd.seeds)},
            "teacher": teacher_row, "summary": kd_summary(results),
            "students": [{k: v for k, v in r.items() if k not in ("history", "confusion")} for r in results]}


def write_tables(runs: list[dict[str, Any]], out: Path) -> Path:
    """``tables.json`` and ``tables.md``: a teacher line and the comparison table per setting."""
    from qkernel.methods.kd.summary import comparison_rows
    from qkernel.reporting import markdown_table

    parts = ["# Knowledge distillation tables\n"]
    for run in runs:
        t, s = run["teacher"], run["student"]
        parts.append(f"\n## {run['setting']}: {run['dataset']}, {run['n_qubits']} qubits, {run['train_images']} "
                     f"training images\n")
        parts.append(f"Teacher `{t['model']}`: {t['parameters']} parameters, test {100 * t['test_accuracy']:.2f} %, "
                     f"trained in {t['train_seconds']} s. Students: {s['epochs']} epochs, Adam "
                     f"{s['learning_rate']:g} ({s['schedule']}), batch {s['batch_size']}, patience {s['patience']}; "
                     f"T = {run['kd']['temperature']:g}, α = {run['kd']['alpha']:g}; seeds {run['kd']['seeds']}.\n")
        parts.append(markdown_table(comparison_rows(run["summary"])))
    (out / "tables.json").write_text(json.dumps(runs, indent=1))
    path = out / "tables.md"
    path.write_text("\n".join(parts) + "\n")
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--setting", action="append", choices=sorted(SETTINGS), required=True)
    parser.add_argument("-p", "--params", type=Path, default=None, help="parameter file (e.g. qdistill tune's)")
    parser.add_argument("-S", dest="overrides", action="append", default=[])
    parser.add_argument("--out", type=Path, default=Path("kd-tables"))
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    qkernel.configure_tensorflow()
    args.out.mkdir(parents=True, exist_ok=True)
    runs = []
    with ProcessPoolExecutor(args.workers, mp_context=multiprocessing.get_context("spawn")) as pool:
        for name in args.setting:
            start = time.perf_counter()
            runs.append({**run_setting(name, args.overrides, args.params, args.out, pool),
                         "wall_s": round(time.perf_counter() - start, 1)})
            print(write_tables(runs, args.out).read_text(), flush=True)


if __name__ == "__main__":
    main()
