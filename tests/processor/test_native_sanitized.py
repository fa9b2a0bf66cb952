"""The compiled kernels under AddressSanitizer and UndefinedBehaviorSanitizer.

The kernels are rebuilt with both sanitizers into a copy of the processor package,
and test_native.py plus the pipeline step tests run against that copy in a child
process: an out-of-bounds read or write, a use after free or undefined behaviour
anywhere in them fails this test with the sanitizer's report.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
NATIVE = ROOT / "processor" / "pipeline" / "native"
SUFFIX = sysconfig.get_config_var("EXT_SUFFIX")


def runtime(name: str) -> str | None:
    found = subprocess.run(
        ["gcc", f"-print-file-name={name}"], capture_output=True, text=True, check=False
    ).stdout.strip()
    return found if os.path.isabs(found) and Path(found).exists() else None


def test_kernels_are_clean_under_asan_and_ubsan(tmp_path: Path) -> None:
    asan, ubsan = runtime("libasan.so"), runtime("libubsan.so")
    if shutil.which("gcc") is None or asan is None or ubsan is None:
        pytest.skip("gcc's sanitizer runtimes (libasan, libubsan) are not installed")
    shutil.copytree(
        ROOT / "processor", tmp_path / "processor", ignore=shutil.ignore_patterns("*.so")
    )
    shutil.copytree(ROOT / "tests", tmp_path / "tests", ignore=shutil.ignore_patterns("artifacts"))
    subprocess.run(
        [
            "gcc",
            "-shared",
            "-fPIC",
            "-O1",
            "-g",
            "-std=c11",
            "-fsanitize=address,undefined",
            "-fno-sanitize-recover=undefined",
            "-fno-omit-frame-pointer",
            f"-I{sysconfig.get_paths()['include']}",
            *map(str, sorted(NATIVE.glob("*.c"))),
            "-o",
            str(tmp_path / "processor" / "pipeline" / f"_native{SUFFIX}"),
        ],
        check=True,
    )
    reports = tmp_path / "asan"
    env = {
        **os.environ,
        "LD_PRELOAD": f"{asan}:{ubsan}",
        # Python itself is not instrumented: its allocations are not leaks to report,
        # and the runtime need not be linked first.
        "ASAN_OPTIONS": f"detect_leaks=0:verify_asan_link_order=0:log_path={reports}",
        "UBSAN_OPTIONS": f"print_stacktrace=1:log_path={reports}",
        # Every buffer from malloc, where the sanitizer can see its bounds: Arrow's
        # pools and Python's small-object allocator would hide an overrun.
        "ARROW_DEFAULT_MEMORY_POOL": "system",
        "PYTHONMALLOC": "malloc",
    }
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            # The session conftest starts servers and loads libraries that refuse a
            # preloaded sanitizer runtime; these tests need neither.
            "--noconftest",
            "tests/processor/test_native.py",
            "tests/processor/test_pipeline_steps.py",
            "-k",
            "not test_cli_allocates",
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    found = sorted(tmp_path.glob("asan*"))
    assert not found, "\n".join(p.read_text()[:4000] for p in found)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
    # The child really loaded the instrumented build.
    assert "passed" in done.stdout
