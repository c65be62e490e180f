"""Server settings: environment variables with the prefix DESCENT_LAB_, embedded defaults.

Every setting below can be set as DESCENT_LAB_<NAME> (e.g. DESCENT_LAB_PORT=9000,
DESCENT_LAB_ALLOWED_ORIGINS=https://a.example,https://b.example). Nothing external is needed.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, fields
from functools import cache
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
STATIC_DIR = ROOT / "static"
TEMPLATES_DIR = ROOT / "templates"
PREFIX = "DESCENT_LAB_"


def _default_data_dir() -> str:
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return str(Path(base) / "descent-lab")


@dataclass(frozen=True)
class Settings:
    host: str = "127.0.0.1"
    port: int = 8000
    log_level: str = "info"
    # Origins allowed to open the websocket and (when non-empty) CORS. Empty: same origin only.
    allowed_origins: tuple[str, ...] = ()
    cors: bool = False
    graceful_shutdown_seconds: int = 5
    # limits
    max_sessions: int = 1000  # concurrent websocket training sessions
    max_epochs: int = 10_000
    max_learning_rate: float = 10.0
    max_resolution: int = 400
    max_surface_terms: int = 2_000_000_000  # resolution^2 x rows of one surface
    max_run_terms: int = 500_000_000  # epochs x rows of one REST or websocket run
    max_body_bytes: int = 1024 * 1024  # JSON request bodies
    max_upload_bytes: int = 5 * 1024 * 1024  # CSV uploads
    max_message_bytes: int = 64 * 1024  # websocket messages from a client
    max_datasets: int = 200  # uploaded datasets kept on disk
    dataset_ttl_seconds: int = 7 * 24 * 3600
    data_dir: str = ""  # default: $XDG_DATA_HOME/descent-lab or ~/.local/share/descent-lab
    surface_cache_size: int = 64
    # websocket streaming
    default_epochs_per_second: float = 30.0
    max_messages_per_second: float = 60.0
    send_timeout_seconds: float = 10.0
    client_buffer_records: int = 2000  # records queued for one client before it is dropped
    client_buffer_bytes: int = 8 * 1024 * 1024  # ... or bytes of them (as JSON)

    @property
    def data_path(self) -> Path:
        return Path(self.data_dir or _default_data_dir())

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ
        values: dict[str, object] = {}
        for f in fields(cls):
            key = PREFIX + f.name.upper()
            raw = env.get(key)
            if raw is None:
                continue
            default = f.default
            try:
                if isinstance(default, bool):
                    if raw.lower() not in ("1", "0", "true", "false", "yes", "no"):
                        raise ValueError
                    values[f.name] = raw.lower() in ("1", "true", "yes")
                elif isinstance(default, tuple):
                    values[f.name] = tuple(o.strip() for o in raw.split(",") if o.strip())
                else:
                    values[f.name] = type(default)(raw)
            except ValueError:
                raise ValueError(f"{key}: expected {type(default).__name__}, got {raw!r}"
                                 ) from None
        return cls(**values)


@cache
def get_settings() -> Settings:
    return Settings.from_env()
