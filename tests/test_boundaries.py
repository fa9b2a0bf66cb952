"""Package boundaries the images depend on."""

from __future__ import annotations

import ast
import pkgutil
import subprocess
import sys
from pathlib import Path

import api

ROOT = Path(__file__).resolve().parents[1]


def test_api_never_imports_pandas() -> None:
    modules = [m.name for m in pkgutil.walk_packages(api.__path__, "api.")]
    code = (
        "import importlib, sys\n"
        f"for name in {modules!r}: importlib.import_module(name)\n"
        "from api.main import create_app\n"
        "create_app()\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in {'pandas', 'numpy.pandas'})\n"
        "assert not bad, bad\n"
        "assert 'processor.pipeline' not in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)


def test_processor_never_imports_api() -> None:
    for path in (ROOT / "processor").rglob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            assert not any(n == "api" or n.startswith("api.") for n in names), path
