"""The core both images share: settings, the object-store and catalog ports and their
adapters, the key layout, the result manifest and the catalog's migrations.

Owned by neither `api` nor `processor`: it imports neither of them.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("mini-pipeline")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0+unknown"
