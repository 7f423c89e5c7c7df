"""The KD paper's Fig. 12 on a budget: its two published orderings, not the full reducer × encoder product.

The paper compares encodings with the fc reducer and reducers with amplitude encoding. This
runs exactly those seven configurations per qubit count as two ``ablation`` subflows (reducers
× amplitude; fc × qubit, angle), then draws and checks them together as one figure, published
as a Prefect artifact (:func:`flows.artifacts.publish_ablation`)::

    nice -n 15 .venv/bin/python -m benchmarks.kd_ablation -S 'ablation.datasets=[fashion-mnist]' \\
        -S data.name=fashion-mnist -S data.per_class=300 -S 'ablation.seeds=[0, 1, 2]' ...

``qdistill ablation -S 'ablation.reducers=[...]' -S 'ablation.encoders=[...]'`` runs the full product.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import qkernel

__all__ = ["fig12", "main"]

#: The two slices of the grid behind the published orderings.
SLICES = (["ablation.reducers=[fc, avgpool, pca, crop, maxpool]", "ablation.encoders=[amplitude]"],
          ["ablation.reducers=[fc]", "ablation.encoders=[qubit, angle]"])


def fig12(overrides: list[str], out: Path) -> dict[str, Any]:
    """Both slices as ``ablation`` subflows of one flow run, then one summary, figure and orderings under ``out``."""
    from prefect import flow

    from flows import artifacts
    from flows.kd import ablation

    @flow(name="kd-ablation-fig12", log_prints=True)
    def run() -> dict[str, Any]:
        runs = []
        for part in SLICES:
            result = ablation(overrides=[*overrides, *part])
            runs += json.loads((Path(result["run_dir"]) / "summary.json").read_text())["runs"]
        return {"summary": str(artifacts.publish_ablation(runs, out)), "runs": len(runs)}

    return run()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-S", dest="overrides", action="append", default=[])
    parser.add_argument("--out", type=Path, default=Path("kd-ablation"))
    args = parser.parse_args()
    qkernel.configure_tensorflow()
    result = fig12(args.overrides, args.out)
    print(Path(result["summary"]).read_text())


if __name__ == "__main__":
    main()
