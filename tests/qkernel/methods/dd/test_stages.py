"""Dataset-distillation stages: checks before any work, the method seam, a CIFAR-shaped dataset."""

from __future__ import annotations

import pytest

from qkernel.config import load_params
from qkernel.errors import ConfigError
from qkernel.methods.dd.stages import check_dd


def test_dd_params_are_validated() -> None:
    with pytest.raises(ConfigError, match="unique"):
        load_params(None, ["dd.models=[{label: a, model: lenet, options: {}}, {label: a, model: lenet, options: {}}]"])
    with pytest.raises(ConfigError, match=r"dd.methods.performance-matching.init'.*\n.*known keys: init, init_pool"):
        check_dd(load_params(None, ["dd.methods.performance-matching.init=sometimes"]))
    with pytest.raises(ConfigError, match=r"unknown parameter 'dd.methods.performance-matching.inits'"):
        check_dd(load_params(None, ["dd.methods.performance-matching.inits=3"]))
    with pytest.raises(ConfigError, match=r"dd.method: unknown dd_method 'gradient-magic'; registered dd_method "
                                          "plugins: distribution-matching, gradient-matching, performance-matching, "
                                          "trajectory-matching"):
        check_dd(load_params(None, ["dd.method=gradient-magic"]))
    with pytest.raises(ConfigError, match="unknown model 'vgg'|vgg"):
        check_dd(load_params(None, ["dd.models=[{label: v, model: vgg, options: {}}]"]))
    with pytest.raises(ConfigError, match="readout must be one of"):
        check_dd(load_params(None, ["dd.models=[{label: q, model: quantum_lenet, options: {readout: x}}]"]))
