"""Shapes come from the dataset's metadata: a CIFAR-format file set (32×32×3) checks and builds every model."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from qkernel.config import load_params
from qkernel.methods.dd.stages import check_dd, model_factory
from qkernel.plugin.registry import get_registry


def test_dd_check_and_model_build_on_a_cifar_format_file_set(writers, tmp_path: Path) -> None:
    folder = writers.cifar(tmp_path / "cifar-10-batches-py", per_batch=10)
    p = load_params(None, ["data.name=cifar10", f"data.data_dir={folder}", "data.download=false"])
    check_dd(p, get_registry())  # builds quantum LeNet (both readouts) and LeNet on 32x32x3 images
    source = get_registry().create("dataset", "cifar10")
    assert source.image_shape == (32, 32, 3) and len(source.class_names) == 10
    from qkernel.data import load_dataset
    from qkernel.methods.kd.stages import check_params

    data = load_dataset(p)  # the files as the metadata says: 32x32x3, 10 classes
    assert data.image_shape == source.image_shape and data.num_classes == 10
    check_params(p, get_registry())  # the KD student's reducer and encoder fit these images too
    for spec in p.dd.models:
        model = model_factory(p, spec, source.image_shape, 10)(0)
        assert model.input_shape == (None, 32, 32, 3) and model.output_shape == (None, 10)
        logits = model(data.x["test"][:2])
        assert logits.shape == (2, 10) and np.all(np.isfinite(logits))
