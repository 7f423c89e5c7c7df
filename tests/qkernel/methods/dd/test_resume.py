"""Checkpoints of a distillation: an interrupted run, resumed, and a run continued to more steps end with the
set one uninterrupted run makes; a checkpoint further along or of another set is never taken for this one."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from qkernel.config import load_params
from qkernel.errors import ConfigError
from qkernel.methods.dd.stages import build_method
from qkernel.methods.dd.synthetic import DistillTask
from qkernel.plugin.registry import get_registry
from tests.qkernel.methods.dd.test_methods import TINY

RESUMABLE = ["distribution-matching", "gradient-matching", "trajectory-matching"]


class Interrupted(Exception):
    pass


def quantum(seed: int):
    """Quantum LeNet on two qubits: a circuit in every matched network, at a small cost to trace."""
    tf.keras.utils.set_random_seed(seed)
    return get_registry().create("model", "quantum_lenet", input_shape=(28, 28), num_classes=2, n_qubits=2, depth=1)


def _task(data, steps: int, checkpoint=None, per_class: int = 1, work_dir=None) -> DistillTask:
    return DistillTask(quantum, data.x["train"], data.y["train"], 2, images_per_class=per_class, image_init="real",
                       outer_steps=steps, real_batch=8, seed=0, work_dir=work_dir, checkpoint=checkpoint,
                       checkpoint_every=2)


def _method(method: str):
    return build_method(load_params(None, [f"dd.method={method}", *(f"dd.methods.{method}.{o}" for o in TINY[method])]))


@pytest.mark.parametrize("method", RESUMABLE)
@pytest.mark.slow
def test_an_interrupted_distillation_resumed_ends_with_the_set_of_one_run(method, data, tmp_path) -> None:
    distiller = _method(method)
    whole = distiller.distill(_task(data, 4, work_dir=tmp_path))  # trajectory matching's experts, trained once
    checkpoint = tmp_path / "checkpoint.npz"

    def interrupt(record: dict[str, float]) -> None:
        if record["step"] == 4:
            raise Interrupted

    with pytest.raises(Interrupted):
        distiller.distill(_task(data, 4, checkpoint, work_dir=tmp_path), interrupt)
    assert int(np.load(checkpoint)["step"]) == 2  # saved every 2 steps: step 3 is lost with the interruption
    seen: list[int] = []
    resumed = distiller.distill(_task(data, 4, checkpoint, work_dir=tmp_path), lambda r: seen.append(r["step"]))
    assert seen == [3, 4] and int(np.load(checkpoint)["step"]) == 4
    # The momentum, learned rate, generator and history came back as they were: the same set, not a restart.
    _same(resumed, whole)


@pytest.mark.slow
def test_a_longer_run_continues_a_shorter_one_and_never_rewinds_a_checkpoint(data, tmp_path) -> None:
    distiller = _method("distribution-matching")
    checkpoint = tmp_path / "checkpoint.npz"
    distiller.distill(_task(data, 3, checkpoint))  # saved after its last step, 3
    seen: list[int] = []
    longer = distiller.distill(_task(data, 5, checkpoint), lambda r: seen.append(r["step"]))
    assert seen == [4, 5]
    _same(longer, distiller.distill(_task(data, 5)))

    seen.clear()
    shorter = distiller.distill(_task(data, 2, checkpoint), lambda r: seen.append(r["step"]))
    assert seen == [1, 2] and int(np.load(checkpoint)["step"]) == 5  # started afresh; the 5-step state is kept
    assert [h["step"] for h in shorter.history] == [1, 2]
    other_set = r"checkpoint of 'distribution-matching' with variables \[\(2, 28, 28\)\]"
    with pytest.raises(ConfigError, match=other_set):
        distiller.distill(_task(data, 5, checkpoint, per_class=2))


def _same(resumed, whole) -> None:
    np.testing.assert_allclose(resumed.images, whole.images, rtol=0, atol=1e-6)
    assert [h["step"] for h in resumed.history] == [h["step"] for h in whole.history]
    np.testing.assert_allclose([h["loss"] for h in resumed.history], [h["loss"] for h in whole.history], rtol=1e-6)
