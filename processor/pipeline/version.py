"""The processor version recorded in every report."""

from __future__ import annotations

import importlib
from importlib import metadata


def processor_version() -> str:
    # processor.__version__ is planned but may not exist yet; the package metadata is
    # the fallback, and a source checkout without installed metadata the last resort.
    version = getattr(importlib.import_module("processor"), "__version__", None)
    if version:
        return str(version)
    try:
        return metadata.version("mini-pipeline")
    except metadata.PackageNotFoundError:
        return "0+unknown"
