"""Server settings: environment variables with the prefix DESCENT_LAB_, embedded defaults."""

from __future__ import annotations

import os
from dataclasses import dataclass, fields
from functools import cache
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
STATIC_DIR = ROOT / "static"
TEMPLATES_DIR = ROOT / "templates"
PREFIX = "DESCENT_LAB_"


@dataclass(frozen=True)
class Settings:
    host: str = "127.0.0.1"
    port: int = 8000
    log_level: str = "info"
    graceful_shutdown_seconds: int = 5
    max_message_bytes: int = 64 * 1024

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ
        values = {}
        for f in fields(cls):
            raw = env.get(PREFIX + f.name.upper())
            if raw is None:
                continue
            kind = type(f.default)
            try:
                values[f.name] = kind(raw)
            except ValueError:
                raise ValueError(f"{PREFIX}{f.name.upper()}: expected {kind.__name__}, "
                                 f"got {raw!r}") from None
        return cls(**values)


@cache
def get_settings() -> Settings:
    return Settings.from_env()
