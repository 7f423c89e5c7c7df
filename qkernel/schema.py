"""Building blocks of the parameter models: a strict frozen base model and common field types.

Every section of ``params.yaml`` is a :class:`Strict` model (unknown keys are errors, values
are immutable once validated). Section models declare types and bounds but no defaults: the
project's ``params.yaml`` is the single source of defaults (see :mod:`qkernel.config`).
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from qkernel.errors import ConfigError

__all__ = ["Fraction", "PositiveFloat", "PositiveInt", "Strict", "describe_validation_error", "validate_options"]


class Strict(BaseModel):
    """Base of every parameter model: unknown keys are rejected, instances are frozen."""

    model_config = ConfigDict(extra="forbid", frozen=True)


PositiveInt = Annotated[int, Field(ge=1)]
PositiveFloat = Annotated[float, Field(gt=0.0)]
Fraction = Annotated[float, Field(ge=0.0, lt=1.0)]


def describe_validation_error(exc: ValidationError, prefix: str = "") -> str:
    """One line per problem, each naming the dotted key (``prefix`` + location), what was expected and what came."""
    lines = []
    for err in exc.errors():
        key = prefix + ".".join(str(p) for p in err["loc"])
        if err["type"] == "extra_forbidden":
            lines.append(f"unknown parameter {key!r}")
        else:
            lines.append(f"parameter {key!r}: {err['msg']} (got {err.get('input')!r})")
    return "\n  ".join(lines)


def validate_options(model: type[BaseModel], options: dict[str, Any], where: str) -> Any:
    """Validate a plugin's options against its option model.

    Args:
        model: The plugin's option model (a pydantic model; unknown keys should be forbidden).
        options: The options as given in the parameters.
        where: The dotted key the options sit under (e.g. ``dd.methods.performance-matching``).

    Raises:
        ConfigError: naming each bad key and, for unknown keys, every key the model knows.
    """
    try:
        return model.model_validate(options)
    except ValidationError as exc:
        known = ", ".join(model.model_fields) or "none"
        raise ConfigError(
            f"invalid options under {where!r}:\n  {describe_validation_error(exc, where + '.')}\n"
            f"  known keys: {known}"
        ) from None
