"""Parameters: one params.yaml, typed validation, overrides, errors that name the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from qkernel.config import DEFAULT_PARAMS, load_params, parse_classes
from qkernel.errors import ConfigError


def test_defaults_come_from_the_project_params_yaml() -> None:
    p = load_params(defaults=DEFAULT_PARAMS)
    assert p.data.name == "mnist-5k" and p.data.val_fraction == pytest.approx(0.1)
    assert p.data.classes is None and p.seed == 0


def test_overrides_are_yaml_typed() -> None:
    p = load_params(None, ["data.name=fashion-mnist", "data.classes=0-5", "data.per_class=20", "seed=3"])
    assert (p.data.name, p.data.classes, p.data.per_class, p.seed) == ("fashion-mnist", (0, 1, 2, 3, 4, 5), 20, 3)


def test_user_file_is_merged_over_defaults(tmp_path: Path) -> None:
    (tmp_path / "mine.yaml").write_text("data:\n  name: cifar10\n")
    p = load_params(tmp_path / "mine.yaml")
    assert p.data.name == "cifar10" and p.data.normalize == "unit"


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("data.nmae=mnist", "unknown parameter 'data.nmae'"),
        ("bogus=1", "unknown parameter 'bogus'"),
        ("data.val_fraction=1.5", "'data.val_fraction'"),
        ("data.normalize=zscore", "'data.normalize'"),
        ("data.classes=5-2", "'data.classes'"),
        ("data.per_class=0", "'data.per_class'"),
        ("seed=-1", "'seed'"),
        ("noequals", "must look like key.sub=value"),
    ],
)
def test_bad_values_name_the_key(override: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace(".", r"\.").replace("(", r"\(")):
        load_params(None, [override])


def test_unknown_key_in_file(tmp_path: Path) -> None:
    (tmp_path / "bad.yaml").write_text("data:\n  nam: x\n")
    with pytest.raises(ConfigError, match="unknown parameter 'data.nam'"):
        load_params(tmp_path / "bad.yaml")


def test_unreadable_and_invalid_yaml(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read parameter file"):
        load_params(tmp_path / "missing.yaml")
    (tmp_path / "b.yaml").write_text("data: [unclosed")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_params(tmp_path / "b.yaml")


@pytest.mark.parametrize(
    ("spec", "expected"),
    [("0-5", (0, 1, 2, 3, 4, 5)), ("1,3,7", (1, 3, 7)), ("0-2, 9", (0, 1, 2, 9)), ([4, 2], (2, 4)), (None, None)],
)
def test_parse_classes(spec, expected) -> None:
    assert parse_classes(spec) == expected


@pytest.mark.parametrize("spec", ["a-b", "3-1", "1,1", ""])
def test_parse_classes_rejects(spec) -> None:
    with pytest.raises(ValueError):
        parse_classes(spec)
