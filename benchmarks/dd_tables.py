"""The dataset-distillation tables of the README: methods × images per class × datasets through the real flow.

Each configuration is one ``dd_pipeline`` run (Prefect, worker processes, caching), so a rerun
skips what is done. The tables report fresh-initialisation accuracy under the one protocol,
beside paired random real subsets and the full set, with the paired gain and its 95 % CI.

    .venv/bin/python -m benchmarks.dd_tables --out dd-tables \\
        --method gradient-matching --method distribution-matching --ipc 10 --dataset mnist-5k \\
        -S dd.outer_steps=100 -S dd.eval.epochs=1000

Method settings and the protocol were chosen on the validation split (README, "Dataset
distillation"); these runs score every trained model once on the test split.
"""

from __future__ import annotations

import argparse
import itertools
import json
import time
from pathlib import Path
from typing import Any

import qkernel

__all__ = ["main", "run_grid"]


def run_grid(methods: list[str], ipcs: list[int], datasets: list[str], overrides: list[str]) -> list[dict[str, Any]]:
    """One ``dd_pipeline`` run per dataset × method × images per class; returns their results with timings."""
    from flows.common import check
    from flows.dd import dd_pipeline
    from qkernel.config import load_params

    runs = []
    for dataset, method, ipc in itertools.product(datasets, methods, ipcs):
        p = load_params(None, [*overrides, f"data.name={dataset}", f"dd.method={method}", f"dd.images_per_class={ipc}"])
        check(p, dd=True)
        start = time.perf_counter()
        result = dd_pipeline(params=p)
        runs.append({**result, "wall_s": round(time.perf_counter() - start, 1), "dataset": dataset, "method": method,
                     "images_per_class": ipc})
    return runs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--method", action="append", required=True)
    parser.add_argument("--ipc", action="append", type=int, default=None)
    parser.add_argument("--dataset", action="append", default=None)
    parser.add_argument("-S", dest="overrides", action="append", default=[])
    parser.add_argument("--out", type=Path, default=Path("dd-tables"))
    args = parser.parse_args()
    qkernel.configure_tensorflow()
    from qkernel.io import atomic_write_json, atomic_write_text
    from qkernel.methods.dd.report import write_dd_ablation

    from flows.server import api_server

    with api_server():  # one server for the parent and the worker processes
        runs = run_grid(args.method, args.ipc or [10], args.dataset or ["mnist-5k"], args.overrides)
    args.out.mkdir(parents=True, exist_ok=True)
    path, rows = write_dd_ablation(runs, args.out)
    timing = "\n".join(f"- {r['dataset']} {r['method']} {r['images_per_class']} ipc: {r['wall_s']} s ({r['run_dir']})"
                       for r in runs)
    atomic_write_text(args.out / "timings.md", timing + "\n")
    atomic_write_json(args.out / "runs.json", [{k: v for k, v in r.items() if k != "models"} for r in runs])
    print(path.read_text())
    print(timing)
    print(json.dumps({"rows": len(rows)}))


if __name__ == "__main__":
    main()
