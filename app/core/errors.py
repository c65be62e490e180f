"""The one error type the core raises for bad input: it names the field that is wrong."""

from __future__ import annotations


class ConfigError(ValueError):
    """Bad input. ``field`` is a dotted path into the run config (e.g. ``optimizer_options.betas``)
    or the name of the thing that is wrong (e.g. ``file`` for an uploaded CSV)."""

    def __init__(self, field: str, message: str, code: str = "invalid") -> None:
        super().__init__(f"{field}: {message}" if field else message)
        self.field = field
        self.message = message
        self.code = code
