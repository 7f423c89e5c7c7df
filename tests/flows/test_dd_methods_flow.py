"""Every dataset-distillation method through the real DD flow, on a CIFAR-format file set; a method from a
third-party package (an installed distribution's entry point) is listed and picked by ``dd.method``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

METHODS = {
    "distribution-matching": ["init_pool=2"],
    "gradient-matching": ["init_pool=2", "outer_loop=2", "inner_loop=1"],
    "trajectory-matching": ["experts=1", "expert_epochs=2", "max_start_epoch=1", "expert_span=1", "syn_steps=2"],
}
LENET = "{label: lenet, model: lenet, options: {}}"
Q2 = "{label: q2, model: quantum_lenet, options: {readout: hermitian, n_qubits: 2, depth: 1}}"
#: Models per method: gradient matching traces a second-order graph per model, so it runs the quantum one only;
#: trajectory matching's second order through the quantum model is tested in tests/qkernel/methods/dd.
MODELS = {"distribution-matching": f"[{LENET}, {Q2}]", "gradient-matching": f"[{Q2}]",
          "trajectory-matching": f"[{LENET}]"}
#: Multi-formation (dd.factor) per method: the methods that decode distil multi-formed sets.
FACTOR = {"distribution-matching": 2, "gradient-matching": 2}


@pytest.mark.parametrize("method", sorted(METHODS))
@pytest.mark.slow
def test_method_runs_the_dd_flow_end_to_end_on_cifar_format_files(prefect_server, writers, tmp_path, method) -> None:
    from flows.dd import dd_pipeline

    folder = writers.cifar(tmp_path / "cifar-10-batches-py", per_batch=10)
    overrides = [
        "data.name=cifar10", f"data.data_dir={folder}", "data.download=false", "data.test_fraction=0.2",
        f"dd.method={method}", *(f"dd.methods.{method}.{o}" for o in METHODS[method]),
        "dd.images_per_class=1", "dd.outer_steps=2", "dd.real_batch=20", "dd.eval.inits=2", "dd.eval.real_draws=2",
        "dd.eval.full_inits=1", "dd.eval.epochs=2", "dd.eval.full_epochs=1",
        f"dd.models={MODELS[method]}", f"runs_dir={tmp_path / 'runs'}", f"data.out_dir={tmp_path / 'data'}",
        f"dd.factor={FACTOR.get(method, 1)}",
    ]
    factor = FACTOR.get(method, 1)
    result = dd_pipeline(overrides=overrides)
    run = Path(result["run_dir"])
    metrics = {m["label"]: m for m in json.loads((run / "metrics.json").read_text())["models"]}
    assert set(metrics) == {label for label, spec in (("lenet", LENET), ("q2", Q2)) if spec in MODELS[method]}
    for label, m in metrics.items():
        assert m["method"] == method and m["known_init"] is None  # fresh inits only: no known init
        assert len(m["distilled"]["values"]) == 2 and len(m["random_real"]["values"]) == 2
        distilled = np.load(result["distilled"][label])
        assert distilled["images"].shape == (10, 32, 32, 3) and np.all(np.isfinite(distilled["images"]))
        assert int(distilled["factor"]) == factor
        # a multi-formed set is also judged against real images stored the same way, paired by seed
        assert len(m.get("random_formed", {}).get("values", [])) == (2 if factor > 1 else 0)
        # trajectory matching keeps its experts per dataset and model, for any other step count to reuse
        work = tmp_path / "runs" / "dd-sets" / "cifar10-work" / label
        assert len(list(work.glob("experts-*.npz"))) == (method == "trajectory-matching")
        # and every method here keeps a checkpoint of its last step there, for a longer run to continue from
        checkpoints = list(work.glob(f"checkpoint-{method}-*.npz"))
        assert len(checkpoints) == 1 and int(np.load(checkpoints[0])["step"]) == 2, checkpoints
    if "q2" in metrics:
        cost = metrics["q2"]["quantum_cost"]
        assert cost["layers"][0]["ansatz_angles"] == 6  # 1 strongly entangling layer
        assert cost["distilled"]["simulation_executions_per_epoch"] == 10 * factor**2  # the decoded images
    report = (run / "report.md").read_text()
    assert method in report and ("## Multi-formation (factor 2)" in report) == (factor > 1)
    assert (f"{method} (factor 2)" in report) == (factor > 1)  # beside every number of a multi-formed set

    if method == "distribution-matching":
        _a_longer_run_continues_from_the_checkpoints(overrides, tmp_path / "runs" / "dd-sets" / "cifar10-work")


def _a_longer_run_continues_from_the_checkpoints(overrides: list[str], work: Path) -> None:
    """``dd.outer_steps=3`` after the 2-step run distils one step, not three: marked in the checkpoint's
    history, the mark shows up in the longer run's set."""
    from flows.dd import dd_pipeline
    from qkernel.io import atomic_save_npz, read_npz

    (checkpoint,) = work.glob("lenet/checkpoint-*.npz")
    kept = read_npz(checkpoint)
    history = json.loads(str(kept["history"]))
    history[0]["loss"] = 12345.0
    atomic_save_npz(checkpoint, {**kept, "history": np.asarray(json.dumps(history))})
    # One model and one evaluation each keep the check cheap; neither is part of a checkpoint's key.
    longer = dd_pipeline(overrides=[*overrides, "dd.outer_steps=3", f"dd.models=[{LENET}]", "dd.eval.inits=1",
                                    "dd.eval.real_draws=1"])
    history = json.loads(Path(longer["distilled"]["lenet"]).with_name("history.json").read_text())
    assert [h["step"] for h in history] == [1, 2, 3] and history[0]["loss"] == 12345.0, history


THIRD_PARTY = '''
"""A third-party dataset-distillation method: the first real images of each class, unchanged."""
import numpy as np
from qkernel.methods.dd.synthetic import Distilled, initial_images
from qkernel.plugin import hookimpl


class FirstImages:
    """Picks the first real images of each class (a third-party method)."""

    name = "first-images"

    def __init__(self, **options):
        self.options = options

    def check(self, images_per_class, num_classes):
        pass

    def distill(self, task, on_step=None):
        images, labels = initial_images(task.x_train, task.y_train, task.num_classes, task.images_per_class,
                                        "real", task.seed)
        return Distilled(images, labels, np.zeros(0, np.float32), [{"step": 1, "loss": 0.0}], best_step=1,
                         method=self.name)


@hookimpl
def register_dd_methods():
    return [FirstImages]
'''


@pytest.mark.slow
def test_a_third_party_method_is_listed_and_picked_by_dd_method(tmp_path: Path) -> None:
    """An installed distribution (a ``.dist-info`` with an entry point in the ``qkernel`` group) on the path."""
    site = tmp_path / "site"
    (site / "ddextra-1.2.dist-info").mkdir(parents=True)
    (site / "ddextra-1.2.dist-info" / "METADATA").write_text("Metadata-Version: 2.1\nName: ddextra\nVersion: 1.2\n")
    (site / "ddextra-1.2.dist-info" / "entry_points.txt").write_text("[qkernel]\nddextra = ddextra_plugin\n")
    (site / "ddextra_plugin.py").write_text(THIRD_PARTY)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")])}
    cli = Path(sys.executable).parent / "qdistill"
    listed = subprocess.run([str(cli), "plugins"], env=env, capture_output=True, text=True, timeout=300)
    assert listed.returncode == 0, listed.stderr
    row = next(line for line in listed.stdout.splitlines() if "first-images" in line)
    assert "dd_method" in row and "ddextra 1.2" in row
    script = (
        "import sys, qkernel\n"
        "from qkernel.config import load_params\n"
        "from qkernel.methods.dd.stages import distill_stage, check_dd\n"
        "from qkernel.data import prepare_stage\n"
        f"p = load_params(None, ['dd.method=first-images', 'data.per_class=5', 'data.test_per_class=1', "
        f"'dd.images_per_class=2', 'data.out_dir={tmp_path}', 'runs_dir={tmp_path}'])\n"
        "check_dd(p)\n"
        f"_, npz = prepare_stage(p, '{tmp_path}')\n"
        f"print(distill_stage(p, npz, 'lenet', '{tmp_path}/lenet')['method'])\n"
    )
    picked = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=300)
    assert picked.returncode == 0, picked.stderr[-2000:]
    assert picked.stdout.strip().splitlines()[-1] == "first-images"
    assert np.load(tmp_path / "lenet" / "distilled.npz")["images"].shape == (20, 28, 28)
