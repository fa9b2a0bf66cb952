"""mini-pipeline processor: CSV in, clean typed Parquet and a report out."""

import time

# When this package began to import: a cold run's `imports` phase starts here
# (processor/timing.py). (perf_counter, process_time)
STARTED = (time.perf_counter(), time.process_time())

from importlib.metadata import PackageNotFoundError, version  # noqa: E402

try:
    __version__ = version("mini-pipeline")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0+unknown"
