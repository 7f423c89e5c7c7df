"""What the distillation tests share: a tiny two-class split of the embedded digits."""

from __future__ import annotations

import pytest

from qkernel.config import load_params


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    """Digits 0 and 1, 20 training images of each (the prepared dataset)."""
    from qkernel.data import load_dataset

    out = tmp_path_factory.mktemp("data")
    return load_dataset(load_params(None, ["data.classes=0,1", "data.per_class=20", "data.test_per_class=5",
                                           f"data.out_dir={out}"]))
