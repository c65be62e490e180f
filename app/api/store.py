"""Uploaded datasets, kept as files in a bounded data directory with expiry.

Files are written atomically (temporary file, then rename), named by their content, so every
worker process on the machine sees the same datasets and they survive a restart.
"""

from __future__ import annotations

import os
import tempfile
import threading
import time
from collections import OrderedDict
from pathlib import Path
from typing import Any

from app.core.datasets import Dataset, csv_dataset, csv_name, parse_csv


class DatasetStore:
    def __init__(self, root: Path, max_datasets: int, ttl_seconds: float,
                 max_bytes: int, cache_size: int = 16) -> None:
        self.root = Path(root) / "datasets"
        self.max_datasets = max_datasets
        self.ttl = ttl_seconds
        self.max_bytes = max_bytes
        self._cache: OrderedDict[tuple, Dataset] = OrderedDict()
        self._cache_size = cache_size
        self._lock = threading.Lock()

    def _path(self, name: str) -> Path:
        return self.root / f"{name}.csv"

    def add(self, data: bytes) -> dict[str, Any]:
        """Validate and store CSV bytes; returns a description. Raises ConfigError (field file)."""
        header, values, _ = parse_csv(data, max_bytes=self.max_bytes)
        name = csv_name(data)
        self.root.mkdir(parents=True, exist_ok=True)
        path = self._path(name)
        if path.exists():
            os.utime(path)
        else:
            self._make_room()
            fd, tmp = tempfile.mkstemp(dir=self.root, suffix=".tmp")
            try:
                with os.fdopen(fd, "wb") as f:
                    f.write(data)
                os.replace(tmp, path)
            except BaseException:
                Path(tmp).unlink(missing_ok=True)
                raise
        y = values[:, -1]
        task = "classification" if bool(((y == 0) | (y == 1)).all()) else "regression"
        return {"dataset": name, "n": int(values.shape[0]), "features": list(header[:-1]),
                "target": header[-1], "task": task}

    def _files(self) -> list[Path]:
        try:
            return [p for p in self.root.iterdir() if p.suffix == ".csv"]
        except FileNotFoundError:
            return []

    def _make_room(self) -> None:
        """Delete expired files, then the least recently used ones beyond the limit."""
        now = time.time()
        files = []
        for p in self._files():
            try:
                mtime = p.stat().st_mtime
            except FileNotFoundError:
                continue
            if now - mtime > self.ttl:
                p.unlink(missing_ok=True)
            else:
                files.append((mtime, p))
        files.sort()
        while len(files) >= self.max_datasets and files:
            files.pop(0)[1].unlink(missing_ok=True)

    def count(self) -> int:
        return len(self._files())

    def load(self, name: str, options: dict[str, Any]) -> Dataset | None:
        """The dataset stored as ``name`` (None if there is none or it expired)."""
        if not name.startswith("csv-") or not name[4:].isalnum():
            return None
        path = self._path(name)
        try:
            st = path.stat()
        except FileNotFoundError:
            return None
        if time.time() - st.st_mtime > self.ttl:
            path.unlink(missing_ok=True)
            return None
        key = (name, options["validation_split"], options["seed"])
        with self._lock:
            ds = self._cache.get(key)
            if ds is not None:
                self._cache.move_to_end(key)
                return ds
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            return None
        ds = csv_dataset(data, options["validation_split"], options["seed"], name)
        with self._lock:
            self._cache[key] = ds
            while len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)
        return ds
