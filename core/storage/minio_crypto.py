"""Keeps minio's admin-payload crypto out of processes that only want its S3 client.

`import minio` imports its admin client (`minio.minioadmin`), which imports
`minio.crypto`: argon2 through cffi (which parses C declarations with pycparser at
import) and pycryptodome's AES. That is ≈ 0.09 s of CPU at every start of a process
that never encrypts an admin payload, a processor pod among them (issue 14: a tiny
file's pod, start to exit). Importing this module before minio puts a stand-in for
`minio.crypto` in `sys.modules` whose `encrypt` and `decrypt` load the real module at
their first call, so only a process that uses them pays for it.
"""

from __future__ import annotations

import importlib
import sys
import types
from typing import Any

_NAME = "minio.crypto"


def _real() -> Any:
    module = sys.modules.get(_NAME)
    if module is None or module is _STAND_IN:
        sys.modules.pop(_NAME, None)
        module = importlib.import_module(_NAME)
    return module


def encrypt(*args: Any, **kwargs: Any) -> Any:
    return _real().encrypt(*args, **kwargs)


def decrypt(*args: Any, **kwargs: Any) -> Any:
    return _real().decrypt(*args, **kwargs)


_STAND_IN = types.ModuleType(_NAME, "Stand-in for minio.crypto (core/storage/minio_crypto.py).")
setattr(_STAND_IN, "encrypt", encrypt)  # noqa: B010 - a module built at run time
setattr(_STAND_IN, "decrypt", decrypt)  # noqa: B010

if _NAME not in sys.modules and "minio" not in sys.modules:
    sys.modules[_NAME] = _STAND_IN
