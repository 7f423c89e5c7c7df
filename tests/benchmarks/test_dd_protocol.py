"""``benchmarks.dd_protocol``: the protocol's rate and epochs are chosen on the validation split, never on test."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import TINY_DD

#: The CI-sized DD configuration with LeNet alone (the sweep's logic does not depend on the model).
LENET_ONLY = [*(o for o in TINY_DD if not o.startswith("dd.models=")),
              "dd.models=[{label: lenet, model: lenet, options: {}}]"]
TINY_FULL_EPOCHS = int(next(o for o in TINY_DD if o.startswith("dd.eval.full_epochs=")).split("=")[1])
#: CI-sized data: 20 training-pool images and 3 test images per class.
SMALL_DATA = ["data.per_class=20", "data.test_per_class=3"]


def record_scores(patch: pytest.MonkeyPatch) -> list[tuple]:
    """Patch ``Trainer.score`` to record every call's ``(training images, epochs, test images)``; returns the record."""
    from qkernel.methods.dd.protocol import Trainer

    calls: list[tuple] = []
    score = Trainer.score

    def recording(self, x, y, seed, epochs, x_test, y_test):  # noqa: ANN001, ANN202
        calls.append((x, epochs, x_test))
        return score(self, x, y, seed, epochs, x_test, y_test)

    patch.setattr(Trainer, "score", recording)
    return calls


@pytest.fixture(scope="module")
def swept(tmp_path_factory: pytest.TempPathFactory) -> dict:
    from benchmarks.dd_protocol import sweep

    out = tmp_path_factory.mktemp("dd-protocol")
    with pytest.MonkeyPatch.context() as patch:
        calls = record_scores(patch)
        rows = sweep([*SMALL_DATA, *LENET_ONLY], [0.01, 1e6], inits=2, out=out, epochs=[3, 4])
    return {"rows": rows, "scored": [(len(x_test), len(x), epochs) for x, epochs, x_test in calls], "out": out}


def test_every_rate_scores_the_set_random_real_and_full_set_on_validation(swept: dict) -> None:
    import numpy as np

    from qkernel.data.prepare import load_prepared

    data = load_prepared(next(Path(swept["out"], "data").glob("*.npz")))
    assert len(data.y["val"]) == 20 and len(data.y["test"]) == 30
    assert {n_test for n_test, _, _ in swept["scored"]} == {20}  # every model was scored on the 20 validation images
    good = swept["rows"][:2]
    assert [(r["model"], r["learning_rate"], r["epochs"]) for r in good] == [("lenet", 0.01, 3), ("lenet", 0.01, 4)]
    for row in good:
        for block, n in (("distilled", 2), ("random_real", 2), ("full", 1)):
            values = row[block]["values"]
            assert len(values) == n and all(0.0 <= v <= 1.0 for v in values)
            assert np.allclose(np.asarray(values) * 20, np.round(np.asarray(values) * 20))  # k / 20 validation images
    # the small sets train for each candidate budget; the full set once per rate, for dd.eval.full_epochs
    n_train = len(data.y["train"])
    at_001 = [(n, e) for _, n, e in swept["scored"][:9]]
    assert at_001.count((n_train, TINY_FULL_EPOCHS)) == 1 and good[1]["full"] == good[0]["full"]
    assert sorted(e for n, e in at_001 if n != n_train) == [3] * 4 + [4] * 4


def test_a_diverging_rate_is_reported_not_skipped(swept: dict) -> None:
    from benchmarks.dd_protocol import table_rows

    bad = swept["rows"][2]
    assert bad["learning_rate"] == 1e6 and "diverged" in bad["error"] and "dd.eval.learning_rate" in bad["error"]
    shown = table_rows(swept["rows"])
    assert [(r["learning_rate"], r["epochs"]) for r in shown] == [("0.01", "3"), ("0.01", "4"), ("1e+06", "3"),
                                                                  ("1e+06", "4")]
    assert shown[2]["distilled_%"] == "diverged"
    assert "±" in shown[0]["distilled_%"]


def test_a_stored_set_is_scored_without_distilling_again(swept: dict, tmp_path: Path) -> None:
    """``--set``: the protocol's choice does not change the set, so a set distilled before is scored as it is."""
    import numpy as np

    import benchmarks.dd_protocol as dd_protocol
    from qkernel.errors import ConfigError
    from qkernel.methods.dd.stages import load_distilled

    stored = Path(swept["out"], "sets", "lenet", "distilled.npz")
    images = load_distilled(stored).images

    def refuse(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        raise AssertionError("distilled again")

    with pytest.MonkeyPatch.context() as patch:
        calls = record_scores(patch)
        patch.setattr("qkernel.methods.dd.stages.distill_stage", refuse)
        rows = dd_protocol.sweep([*SMALL_DATA, *LENET_ONLY], [0.01], inits=1, out=tmp_path, epochs=[3], stored=stored)
    assert len(rows) == 1 and rows[0]["distilled"]["values"] and np.array_equal(calls[0][0], images)

    two = [o for o in TINY_DD if not o.startswith("dd.models=")]  # the tiny configuration's two models
    with pytest.raises(ConfigError, match=r"--set scores one stored set, so dd.models must hold one model; it "
                                          r"holds 2: "):
        dd_protocol.sweep([*SMALL_DATA, *two], [0.01], 1, tmp_path, stored=stored)


def test_a_multi_formed_set_trains_on_its_decoded_images_beside_real_images_stored_the_same_way(
    swept: dict, tmp_path: Path,
) -> None:
    import numpy as np

    import benchmarks.dd_protocol as dd_protocol
    from qkernel.methods.dd.stages import load_distilled, save_distilled
    from qkernel.methods.dd.synthetic import decode

    d = load_distilled(Path(swept["out"], "sets", "lenet", "distilled.npz"))  # 2 images per class
    stored = save_distilled(dataclasses.replace(d, factor=2), tmp_path / "formed")
    with pytest.MonkeyPatch.context() as patch:
        calls = record_scores(patch)
        rows = dd_protocol.sweep([*SMALL_DATA, *LENET_ONLY], [0.01], inits=1, out=tmp_path, epochs=[3], stored=stored)
    np.testing.assert_allclose(calls[0][0], decode(d.images, 2).numpy())  # 20 stored images -> 80 trained on
    assert [len(x) for x, _, _ in calls[1:3]] == [20, 80]  # random real as many as stored, then multi-formed
    assert len(rows[0]["random_formed"]["values"]) == 1
    assert "random_formed_%" in dd_protocol.table_rows(rows)[0]


def test_a_missing_stored_set_is_one_line_naming_the_file(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere.npz"
    done = subprocess.run([sys.executable, "-m", "benchmarks.dd_protocol", "--lr", "0.01", "--set", str(missing),
                           "-S", "dd.models=[{label: lenet, model: lenet, options: {}}]", "--out", str(tmp_path)],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert done.stderr.strip().splitlines()[-1] == (f"dd_protocol: --set {missing}: no such file; expected a "
                                                    "distilled.npz written by qdistill dd")
