"""What the routes share: settings, limits, the dataset store and the surface cache.

One ``Services`` lives on ``app.state.services``; routes reach it through the ``ServicesDep``
dependency, so tests can build an app with any settings.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Annotated, Any

from fastapi import Depends, Request

from app.config import Settings
from app.core.datasets import Dataset
from app.core.errors import ConfigError
from app.core.runconfig import Limits, Run, SurfaceSpec, parse_run, parse_surface

from .store import DatasetStore


class LRU:
    """A small thread-safe least-recently-used cache."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._d: OrderedDict[Any, Any] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0

    def get(self, key: Any) -> Any:
        with self._lock:
            if key in self._d:
                self._d.move_to_end(key)
                self.hits += 1
                return self._d[key]
        return None

    def put(self, key: Any, value: Any) -> None:
        with self._lock:
            self._d[key] = value
            self._d.move_to_end(key)
            while len(self._d) > self.size:
                self._d.popitem(last=False)


class Services:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.limits = Limits(max_epochs=settings.max_epochs,
                             max_learning_rate=settings.max_learning_rate,
                             max_resolution=settings.max_resolution)
        self.store = DatasetStore(settings.data_path, settings.max_datasets,
                                  settings.dataset_ttl_seconds, settings.max_upload_bytes)
        self.surfaces = LRU(settings.surface_cache_size)
        self.sessions = 0  # open websocket training sessions

    def resolve(self, name: str, options: dict[str, Any]) -> Dataset | None:
        return self.store.load(name, options)

    def parse_run(self, raw: Any) -> Run:
        run = parse_run(raw, self.limits, self.resolve)
        work = run.epochs * max(run.dataset.n, 1) * (1 if run.batch_size >= run.dataset.n else 2)
        if work > self.settings.max_run_terms:
            raise ConfigError(
                "epochs", f"{run.epochs} epochs over {run.dataset.n:,} rows is too much work "
                f"for one run (limit: epochs x rows <= {self.settings.max_run_terms:,}); "
                "ask for fewer epochs or rows", "too_much_work")
        return run

    def parse_surface(self, raw: Any) -> SurfaceSpec:
        spec = parse_surface(raw, self.limits, self.resolve)
        closed = spec.dataset.function is not None or (
            spec.model.name == "linear" and spec.loss is not None and spec.loss.name == "mse")
        terms = spec.resolution**2 * (1 if closed else max(spec.dataset.n, 1))
        if terms > self.settings.max_surface_terms:
            raise ConfigError(
                "resolution", f"a {spec.resolution}x{spec.resolution} grid over "
                f"{spec.dataset.n:,} rows is too much work (limit: resolution^2 x rows <= "
                f"{self.settings.max_surface_terms:,}); lower the resolution or use fewer rows",
                "too_much_work")
        return spec


def get_services(request: Request) -> Services:
    return request.app.state.services


ServicesDep = Annotated[Services, Depends(get_services)]
