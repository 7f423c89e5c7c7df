"""The evaluation protocol's learning rate and epoch budget, chosen on the validation split (never on test).

For every ``dd.models`` entry the set is distilled as ``qdistill dd`` would (``dd.*`` parameters),
then, for each candidate learning rate (and epoch budget on the small sets), fresh initialisations
are trained under the protocol on the distilled set, on random real subsets of the same size and
on the full training set, and scored on the **validation** split. One setting serves every model
and every set (``dd.eval.learning_rate``, ``dd.eval.epochs``), so the table shows how each
candidate treats all three columns at once.

    .venv/bin/python -m benchmarks.dd_protocol --lr 0.01 --lr 0.03 --epochs 300 --epochs 1000 --inits 3

``--set PATH`` scores a set distilled before (its ``distilled.npz``; one ``dd.models`` entry) instead of
distilling again — the protocol's choice does not change the set.

A rate whose training diverges is reported as such (the protocol's own error), not skipped.
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
import json
import time
from pathlib import Path
from typing import Any

import qkernel

__all__ = ["main", "sweep", "table_rows"]


def sweep(overrides: list[str], rates: list[float], inits: int, out: Path,
          epochs: list[int] | None = None, stored: Path | None = None) -> list[dict[str, Any]]:
    """Distil each ``dd.models`` set once (or load ``stored``), then score every rate × epoch budget on
    validation; one row per model × rate × budget (``epochs``: budgets on the distilled set and random real
    subsets; default ``dd.eval.epochs``; the full set keeps ``dd.eval.full_epochs``)."""
    from qkernel.config import load_params
    from qkernel.data import prepare_stage
    from qkernel.errors import ConfigError
    from qkernel.methods.dd.evaluate import evaluate_distilled, evaluate_full, evaluate_random_real
    from qkernel.methods.dd.protocol import Protocol, Trainer
    from qkernel.methods.dd.stages import check_dd, distill_stage, load_distilled, model_factory

    p = load_params(None, overrides)
    check_dd(p)
    if stored is not None and len(p.dd.models) != 1:
        raise ConfigError(f"--set scores one stored set, so dd.models must hold one model; it holds "
                          f"{len(p.dd.models)}: {', '.join(m.label for m in p.dd.models)}")
    if stored is not None and not stored.is_file():
        raise ConfigError(f"--set {stored}: no such file; expected a distilled.npz written by qdistill dd")
    data, npz = prepare_stage(p, out / "data")
    # The validation split stands in for the test split: every score below is a validation score.
    val = dataclasses.replace(data, x={**data.x, "test": data.x["val"]}, y={**data.y, "test": data.y["val"]})
    rows = []
    for spec in p.dd.models:
        start = time.perf_counter()
        path = stored or Path(distill_stage(p, npz, spec.label, out / "sets" / spec.label)["distilled"])
        distilled = load_distilled(path)
        distill_s = time.perf_counter() - start
        factory = model_factory(p, spec, data.image_shape, data.num_classes)
        full: dict[float, dict[str, Any]] = {}  # the full set's score depends on the rate, not the small sets' budget
        for lr, budget in itertools.product(rates, epochs or [p.dd.eval.epochs]):
            ev = p.dd.eval.model_copy(update={"learning_rate": lr, "epochs": budget})
            trainer = Trainer(factory, Protocol.from_params(ev))
            start = time.perf_counter()
            try:
                scores = {"distilled": evaluate_distilled(trainer, distilled, val, inits, p.seed),
                          "random_real": evaluate_random_real(trainer, val, p.dd.images_per_class, inits, p.seed)}
                if distilled.factor > 1:  # real images stored as the multi-formed set is
                    scores["random_formed"] = evaluate_random_real(trainer, val, p.dd.images_per_class, inits,
                                                                   p.seed, factor=distilled.factor)
                scores["full"] = full[lr] = full.get(lr) or evaluate_full(trainer, val, 1, p.seed)
            except ConfigError as exc:  # the protocol's "training diverged" error
                scores = {"error": str(exc)}
            rows.append({"model": spec.label, "learning_rate": lr, "epochs": budget, **scores,
                         "distill_s": round(distill_s, 1), "evaluate_s": round(time.perf_counter() - start, 1)})
            print(_line(rows[-1]), flush=True)
    return rows


def table_rows(rows: list[dict[str, Any]]) -> list[dict[str, str]]:
    """The README's table: one row per model × rate × epochs, validation % (or the protocol's error)."""
    from qkernel.methods.dd.report import format_accuracy

    formed = any("random_formed" in r for r in rows)  # a multi-formed set (dd.factor > 1): its own control
    blocks = ("distilled", "random_real", *(("random_formed",) if formed else ()), "full")
    column = {b: "full_set_%" if b == "full" else f"{b}_%" for b in blocks}

    def cells(r: dict[str, Any]) -> dict[str, str]:
        if "error" in r:
            return {column[b]: "diverged" if b == "distilled" else "" for b in blocks}
        return {column[b]: format_accuracy(r.get(b)) for b in blocks}

    return [{"model": r["model"], "learning_rate": f"{r['learning_rate']:g}", "epochs": str(r["epochs"]), **cells(r)}
            for r in rows]


def _line(row: dict[str, Any]) -> str:
    shown = table_rows([row])[0]
    if "error" in row:
        return f"{row['model']}, lr {shown['learning_rate']}, {row['epochs']} epochs: {row['error']}"
    return (f"{row['model']}, lr {shown['learning_rate']}, {row['epochs']} epochs: distilled {shown['distilled_%']}, "
            f"random real {shown['random_real_%']}"
            + (f", random real multi-formed {shown['random_formed_%']}" if "random_formed_%" in shown else "")
            + f", full set {shown['full_set_%']} (validation %, "
            f"{row['evaluate_s']:.0f} s)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lr", action="append", type=float, required=True, help="a candidate learning rate")
    parser.add_argument("--epochs", action="append", type=int, help="a candidate epoch budget on the small sets "
                        "(default: dd.eval.epochs)")
    parser.add_argument("--inits", type=int, default=3, help="fresh inits on the set, and random real draws")
    parser.add_argument("--set", dest="stored", type=Path, help="a distilled.npz to score instead of distilling")
    parser.add_argument("-S", dest="overrides", action="append", default=[])
    parser.add_argument("--out", type=Path, default=Path("dd-protocol"))
    args = parser.parse_args()
    qkernel.configure_tensorflow()
    from qkernel.io import atomic_write_json, atomic_write_text
    from qkernel.reporting import markdown_table

    from qkernel.errors import QDistillError

    try:
        rows = sweep(args.overrides, args.lr, args.inits, args.out, args.epochs, args.stored)
    except QDistillError as exc:  # bad parameters or --set: one line, no traceback
        raise SystemExit(f"dd_protocol: {exc}") from None
    atomic_write_json(args.out / "protocol_lr.json", rows)
    table = markdown_table(table_rows(rows))
    atomic_write_text(args.out / "protocol_lr.md", table + "\n")
    print(table)
    print(json.dumps({"rows": len(rows), "out": str(args.out)}))


if __name__ == "__main__":
    main()
