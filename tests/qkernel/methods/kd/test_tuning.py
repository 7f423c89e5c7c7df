"""``qdistill tune``: Optuna studies on the validation split only; the choice lands in a parameter file."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from qkernel.config import load_params
from qkernel.data import load_dataset

TINY = ["data.per_class=12", "data.test_per_class=2", "student.n_qubits=2", "student.depth=1", "student.epochs=1",
        "kd.tune.trials=1", "kd.tune.epochs=1", "kd.tune.seeds=[0]", "kd.tune.learning_rate=[0.001, 0.01]",
        "kd.tune.temperature=[2, 4]", "kd.tune.alpha=[0.5, 0.9]"]


class NoTest(dict):
    """A split mapping that fails the test if anyone reads the test split."""

    def __getitem__(self, key: str) -> np.ndarray:
        assert key != "test", "tuning read the test split"
        return super().__getitem__(key)


def test_tuning_chooses_values_in_range_on_validation_and_writes_a_loadable_parameter_file(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from qkernel.io import atomic_save_npz
    from qkernel.methods.kd.tuning import tune_stage

    p = load_params(None, TINY)
    data = load_dataset(p)
    data.x, data.y = NoTest(data.x), NoTest(data.y)
    logits = np.random.default_rng(0).normal(size=(len(data.y["train"]), 10)).astype(np.float32)
    import qkernel.methods.kd.tuning as tuning

    monkeypatch.setattr(tuning, "load_prepared", lambda path: data)  # the stage reads files: hand it the guarded data
    logits_path = atomic_save_npz(tmp_path / "logits.npz", {"train": logits})
    reducer_path = atomic_save_npz(tmp_path / "reducer.npz", {})
    trials: list[dict] = []
    chosen = tune_stage(p, tmp_path / "data.npz", logits_path, reducer_path, tmp_path / "tune", trials.append)
    # each finished trial is reported as it ends: study, count, outcome, the study's best so far
    assert [(t["study"], t["trial"], t["trials"], t["state"]) for t in trials] == [
        ("learning-rate", 1, 1, "COMPLETE"), ("kd", 1, 1, "COMPLETE")]
    assert [t["value"] for t in trials] == [t["best"] for t in trials] == pytest.approx(
        [chosen["baseline_val_accuracy"], chosen["kd_val_accuracy"]])
    assert all(t["epochs"] == 1 for t in trials)
    assert 0.001 <= chosen["learning_rate"] <= 0.01 and 2 <= chosen["temperature"] <= 4 and 0.5 <= chosen["alpha"] <= 0.9
    assert 0.0 <= chosen["baseline_val_accuracy"] <= 1.0

    tuned = load_params(Path(chosen["params_file"]), TINY[:5])
    assert tuned.kd.temperature == pytest.approx(chosen["temperature"], rel=1e-2)
    assert tuned.student.learning_rate == pytest.approx(chosen["learning_rate"], rel=1e-2)
    assert tuned.kd.tuned.trials == 1 and tuned.kd.tuned.dataset == "mnist-5k"

    again = tune_stage(p, tmp_path / "data.npz", logits_path, reducer_path, tmp_path / "tune",  # resumes: no new trials
                       trials.append)
    assert len(trials) == 2
    assert again["learning_rate"] == chosen["learning_rate"] and again["temperature"] == chosen["temperature"]


def test_bad_search_ranges_name_the_key() -> None:
    from qkernel.errors import ConfigError

    with pytest.raises(ConfigError, match="kd.tune.alpha"):
        load_params(None, ["kd.tune.alpha=[0.9, 0.1]"])
    with pytest.raises(ConfigError, match="kd.seeds"):
        load_params(None, ["kd.seeds=[0, 0]"])
