"""mini-pipeline processor: CSV in, clean typed Parquet and a report out."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("mini-pipeline")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0+unknown"
