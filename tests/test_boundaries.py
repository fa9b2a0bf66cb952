"""Package boundaries the images depend on.

`core` is what both images share; `api` never imports `processor` (nor pandas), and
`processor` never imports `api`. Routes only translate HTTP: the SDKs behind the ports
(minio, kubernetes, sqlalchemy) are reached through adapters, never from a route.
"""

from __future__ import annotations

import ast
import pkgutil
import subprocess
import sys
from pathlib import Path

import pytest

import api

ROOT = Path(__file__).resolve().parents[1]


def imported_modules(path: Path) -> set[str]:
    """Every absolute module an import statement in `path` names (relative ones resolved)."""
    package = ".".join(path.relative_to(ROOT).with_suffix("").parts[:-1])
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                module = ".".join([*base, node.module] if node.module else base)
            else:
                module = node.module or ""
            names.add(module)
            names.update(f"{module}.{a.name}" for a in node.names)
    return names


def top_levels(folder: str) -> dict[Path, set[str]]:
    return {
        p: {n.split(".")[0] for n in imported_modules(p)} for p in (ROOT / folder).rglob("*.py")
    }


def test_api_never_imports_pandas_or_the_processor() -> None:
    modules = [m.name for m in pkgutil.walk_packages(api.__path__, "api.")]
    code = (
        "import importlib, sys\n"
        f"for name in {modules!r}: importlib.import_module(name)\n"
        "from api.main import create_app\n"
        "create_app()\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in {'pandas', 'processor'})\n"
        "assert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)


@pytest.mark.parametrize(
    ("folder", "forbidden"),
    [
        ("processor", {"api"}),
        ("core", {"api", "processor", "pandas", "fastapi"}),
        ("api", {"processor", "pandas"}),
        ("api/routes", {"minio", "kubernetes", "sqlalchemy", "processor"}),
        # The client speaks HTTP only: installable and usable without the server's code.
        ("client", {"api", "processor", "core", "fastapi", "pandas", "sqlalchemy"}),
    ],
)
def test_package_never_imports(folder: str, forbidden: set[str]) -> None:
    for path, names in top_levels(folder).items():
        assert not names & forbidden, f"{path.relative_to(ROOT)} imports {names & forbidden}"


def test_the_boundary_check_sees_relative_imports() -> None:
    # The check must fail when it should: a relative import reaching another package.
    names = imported_modules(ROOT / "core" / "storage" / "factory.py")
    assert "core.settings" in names


def test_only_the_composition_root_names_adapters() -> None:
    """Everything in `api` works on the ports (Catalog, ObjectStore, Runner); which
    adapter stands behind each is decided in api/container.py alone."""
    adapters = ("SqlCatalog", "make_store", "LocalObjectStore", "S3ObjectStore", "LocalRunner")
    for path in (ROOT / "api").rglob("*.py"):
        if path.name == "container.py" or path.parent.name == "runners":
            continue
        text = path.read_text()
        named = [a for a in adapters if a in text]
        assert not named, f"{path.relative_to(ROOT)} names {named}"
