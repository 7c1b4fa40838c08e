"""Loading TOML config files into pydantic models, with errors that name the key.

Both daemons use this: a config file gives the base values, command-line flags override them.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeVar

import pydantic

from vcbase.errors import ValidationError


class StrictModel(pydantic.BaseModel):
    """Base for config models: unknown keys are errors, values are never coerced silently.

    Strict mode means a TOML string is never taken for a number or a bool; paths are therefore
    declared as `str` and converted where they are used.
    """

    model_config = pydantic.ConfigDict(extra="forbid", strict=True, frozen=True)


M = TypeVar("M", bound=StrictModel)


def format_validation_error(exc: pydantic.ValidationError, source: str) -> str:
    """One line per problem: `source: key.path: what was expected (got ...)`."""
    lines = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in err["loc"]) or "(top level)"
        if err["type"] == "extra_forbidden":
            problem = "unknown key"
        elif err["type"] == "missing":
            problem = "required key is missing"
        else:
            problem = f"{err['msg']} (got {err.get('input')!r})"
        lines.append(f"{source}: {loc}: {problem}")
    return "\n".join(lines)


def read_toml(path: Path) -> dict[str, Any]:
    """Read a TOML file; a missing or malformed file is a ValidationError naming it."""
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError:
        raise ValidationError(str(path), "config file not found") from None
    except tomllib.TOMLDecodeError as exc:
        raise ValidationError(str(path), f"not valid TOML: {exc}") from None


def build_config(
    model: type[M],
    file_values: Mapping[str, Any],
    overrides: Mapping[str, Any],
    source: str,
) -> M:
    """Merge file values with CLI overrides (None means "not given") and validate."""
    merged: dict[str, Any] = dict(file_values)
    merged.update({k: v for k, v in overrides.items() if v is not None})
    try:
        return model.model_validate(merged)
    except pydantic.ValidationError as exc:
        raise ValidationError("", format_validation_error(exc, source)) from None
