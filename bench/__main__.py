"""`python -m bench [NAME ...]`: run every benchmark module (bench/bench_*.py), or the named ones.

Each module exposes `main(argv: list[str]) -> int` and prints its own table of
figures and ratios against the baselines its issue names.
"""

from __future__ import annotations

import importlib
import pkgutil
import sys
from pathlib import Path


def main(argv: list[str]) -> int:
    names = sorted(
        m.name
        for m in pkgutil.iter_modules([str(Path(__file__).parent)])
        if m.name.startswith("bench_")
    )
    wanted = [a for a in argv if not a.startswith("-")] or names
    unknown = sorted(set(wanted) - set(names))
    if unknown:
        print(f"unknown benchmark(s): {', '.join(unknown)}; have: {', '.join(names)}")
        return 2
    status = 0
    for name in wanted:
        print(f"\n=== {name} ===", flush=True)
        module = importlib.import_module(f"bench.{name}")
        status |= int(module.main([a for a in argv if a.startswith("-")]))
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
