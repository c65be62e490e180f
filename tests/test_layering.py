"""The directions that never reverse (STYLE.md): the core knows nothing of the web, and the web
layer never imports the application on top of it. Imports are read with ast, not by running."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
APP = ROOT / "app"
WEB = ("fastapi", "starlette", "pydantic", "jinja2", "plotly", "uvicorn", "app.api", "app.main")
CORE_MAY_IMPORT = ("numpy", "app.core")


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(source: str, module: str, is_package: bool) -> list[tuple[int, str]]:
    """(line, absolute module name) of every import in ``source`` of module ``module``.

    ``from . import x`` yields both the package and ``package.x`` (x may be a module);
    relative imports are resolved against ``module``; ``importlib.import_module("x")`` and
    ``__import__("x")`` with a constant name count too.
    """
    package = module.split(".") if is_package else module.split(".")[:-1]
    out: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            out.extend((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                if node.level - 1 >= len(package):
                    out.append((node.lineno, "<beyond the top package>"))
                    continue
                base = package[: len(package) - (node.level - 1)]
                name = ".".join(base + ([node.module] if node.module else []))
            else:
                name = node.module or ""
            out.append((node.lineno, name))
            out.extend((node.lineno, f"{name}.{alias.name}") for alias in node.names)
        elif (isinstance(node, ast.Call) and node.args
              and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str)
              and ((isinstance(node.func, ast.Name) and node.func.id == "__import__")
                   or (isinstance(node.func, ast.Attribute)
                       and node.func.attr == "import_module"))):
            out.append((node.lineno, node.args[0].value))
    return out


def within(name: str, prefixes: tuple[str, ...]) -> bool:
    return any(name == p or name.startswith(p + ".") for p in prefixes)


def core_violations(source: str, module: str, is_package: bool = False) -> list[str]:
    bad = []
    for line, name in imports(source, module, is_package):
        top = name.split(".")[0]
        if within(name, WEB):
            bad.append(f"line {line}: imports {name} (the web layer)")
        elif not (within(name, CORE_MAY_IMPORT) or top in sys.stdlib_module_names
                  or top == "__future__"):
            bad.append(f"line {line}: imports {name} (core imports numpy, stdlib, itself)")
    return bad


def api_violations(source: str, module: str, is_package: bool = False) -> list[str]:
    bad = []
    for line, name in imports(source, module, is_package):
        if within(name, ("app.main",)):
            bad.append(f"line {line}: imports {name}")
        if module == "app.api.schemas" and within(name, ("app.api.routes",)):
            bad.append(f"line {line}: schemas import routes ({name})")
    return bad


def py_files(folder: Path) -> list[Path]:
    return sorted(folder.rglob("*.py"))


def test_there_is_a_core_to_check():
    names = {p.name for p in py_files(APP / "core")}
    assert {"models.py", "losses.py", "optimizers.py", "trainer.py", "surface.py"} <= names


@pytest.mark.parametrize("path", py_files(APP / "core"), ids=lambda p: p.name)
def test_core_imports_only_numpy_stdlib_and_itself(path):
    bad = core_violations(path.read_text(encoding="utf-8"), module_name(path),
                          path.name == "__init__.py")
    assert not bad, f"{path.relative_to(ROOT)}: " + "; ".join(bad)


def test_api_never_imports_main():
    bad = []
    for path in py_files(APP / "api"):
        for v in api_violations(path.read_text(encoding="utf-8"), module_name(path),
                                path.name == "__init__.py"):
            bad.append(f"{path.relative_to(ROOT)}: {v}")
    assert not bad, "\n".join(bad)


# --- the checker itself catches what it should ---------------------------------------------

@pytest.mark.parametrize("source", [
    "import fastapi",
    "from starlette.responses import JSONResponse",
    "import pydantic.fields",
    "from jinja2 import Template",
    "import plotly.graph_objects as go",
    "import uvicorn",
    "from app.api import schemas",
    "import app.main",
    "from app import main",
    "from app.config import get_settings",
    "from .. import config",
    "from ..api.schemas import RunOut",
    "from ...elsewhere import x",
    "import requests",
    "def f():\n    import fastapi",
    "import importlib\nimportlib.import_module('fastapi')",
])
def test_checker_flags_forbidden_core_imports(source):
    assert core_violations(source, "app.core.trainer")


@pytest.mark.parametrize("source", [
    "import numpy as np",
    "from numpy.typing import NDArray",
    "import math, csv, json",
    "from __future__ import annotations",
    "from .datasets import Dataset",
    "from . import losses",
    "from app.core.models import MODELS",
])
def test_checker_allows_core_imports(source):
    assert core_violations(source, "app.core.trainer") == []


@pytest.mark.parametrize(("source", "module", "flagged"), [
    ("from app.main import app", "app.api.routes.runs", True),
    ("from ...main import create_app", "app.api.routes.runs", True),
    ("from ... import main", "app.api.routes.runs", True),
    ("from .. import main", "app.api.schemas", True),
    ("from app import main as m", "app.api.store", True),
    ("from app.api.routes import runs", "app.api.schemas", True),
    ("from app.core.trainer import train", "app.api.routes.runs", False),
    ("from ..schemas import RunOut", "app.api.routes.runs", False),
    ("from app.config import Settings", "app.api.services", False),
    ("from app.mainframe import x", "app.api.services", False),
])
def test_checker_flags_api_importing_main(source, module, flagged):
    assert bool(api_violations(source, module)) is flagged
