"""Typed, bounded options (dataset sizes, optimizer hyper-parameters) and their validation.

Each option knows its type, default and bounds, so the catalog can describe it and the
same check serves the CLI, the REST API and the websocket.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from .errors import ConfigError


@dataclass(frozen=True)
class Option:
    """One named option. ``kind`` is "float", "int", "bool" or "pair" (two floats)."""

    name: str
    kind: str
    default: Any
    description: str
    minimum: float | None = None
    maximum: float | None = None
    exclusive_minimum: bool = False
    exclusive_maximum: bool = False
    nullable: bool = False

    def describe(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "name": self.name,
            "type": self.kind,
            "default": list(self.default) if isinstance(self.default, tuple) else self.default,
            "description": self.description,
        }
        if self.minimum is not None:
            out["exclusive_minimum" if self.exclusive_minimum else "minimum"] = self.minimum
        if self.maximum is not None:
            out["exclusive_maximum" if self.exclusive_maximum else "maximum"] = self.maximum
        if self.nullable:
            out["nullable"] = True
        return out

    def _check_range(self, field: str, value: float) -> None:
        lo, hi = self.minimum, self.maximum
        if lo is not None and (value < lo or (self.exclusive_minimum and value == lo)):
            word = "greater than" if self.exclusive_minimum else "at least"
            raise ConfigError(field, f"must be {word} {lo:g}, got {value:g}", "out_of_range")
        if hi is not None and (value > hi or (self.exclusive_maximum and value == hi)):
            word = "less than" if self.exclusive_maximum else "at most"
            raise ConfigError(field, f"must be {word} {hi:g}, got {value:g}", "out_of_range")

    def validate(self, value: Any, field: str) -> Any:
        if value is None:
            if self.nullable:
                return None
            raise ConfigError(field, "must not be null", "type")
        if self.kind == "bool":
            if not isinstance(value, bool):
                raise ConfigError(field, f"must be true or false, got {value!r}", "type")
            return value
        if self.kind == "int":
            if isinstance(value, bool) or not isinstance(value, int):
                if isinstance(value, float) and value.is_integer() and math.isfinite(value):
                    value = int(value)
                else:
                    raise ConfigError(field, f"must be an integer, got {value!r}", "type")
            self._check_range(field, value)
            return value
        if self.kind == "float":
            return check_float(value, field, self)
        if self.kind == "pair":
            if not isinstance(value, list | tuple) or len(value) != 2:
                raise ConfigError(field, f"must be a list of two numbers, got {value!r}", "type")
            return tuple(check_float(v, f"{field}[{i}]", self) for i, v in enumerate(value))
        raise AssertionError(self.kind)


def check_float(value: Any, field: str, bounds: Option | None = None) -> float:
    """A finite float (ints accepted, bools and strings not), optionally within ``bounds``."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ConfigError(field, f"must be a number, got {value!r}", "type")
    value = float(value)
    if not math.isfinite(value):
        raise ConfigError(field, f"must be a finite number, got {value!r}", "not_finite")
    if bounds is not None:
        bounds._check_range(field, value)
    return value


def validate_options(
    options: dict[str, Any] | None,
    spec: dict[str, Option],
    field: str,
    accepted_elsewhere: frozenset[str] = frozenset(),
) -> dict[str, Any]:
    """Fill defaults and check each value of ``options`` against ``spec``.

    Keys in ``accepted_elsewhere`` (e.g. another optimizer's hyper-parameter) are accepted and
    dropped, so one options object can be kept while switching optimizers; any other key is an
    error naming it.
    """
    if options is None:
        options = {}
    if not isinstance(options, dict):
        raise ConfigError(field, f"must be an object, got {options!r}", "type")
    out: dict[str, Any] = {}
    for key, value in options.items():
        if key in spec:
            out[key] = spec[key].validate(value, f"{field}.{key}")
        elif key not in accepted_elsewhere:
            known = ", ".join(sorted(spec)) or "none"
            raise ConfigError(f"{field}.{key}", f"unknown option (known: {known})", "unknown_field")
    for key, opt in spec.items():
        out.setdefault(key, opt.default)
    return out
