"""The S3 adapter keeps minio's admin-payload crypto (argon2, cffi, pycparser,
pycryptodome) out of a process until it is used (core/storage/minio_crypto.py)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

CHECK = """
import io, sys
import core.storage.s3
heavy = sorted(m for m in ("Crypto", "argon2", "cffi", "pycparser") if m in sys.modules)
print("loaded at import:", heavy)
from minio.minioadmin import decrypt, encrypt


class Response(io.BytesIO):
    def release_conn(self):
        pass


print(decrypt(Response(encrypt(b"payload", "secret")), "secret"))
print("real module:", sys.modules["minio.crypto"].__file__ is not None, "Crypto" in sys.modules)
"""


def test_minio_crypto_loads_only_when_an_admin_payload_is_encrypted() -> None:
    done = subprocess.run(
        [sys.executable, "-c", CHECK], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        "loaded at import: []",
        "b'payload'",
        "real module: True True",
    ], done.stdout
