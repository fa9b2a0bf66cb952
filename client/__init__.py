"""The mini-pipeline Python client (`client.Client`) and command line (`mini-pipeline`).

It talks HTTP only: it never imports the API or the processor (tests/test_boundaries.py).
"""

from .api import ApiError, Client, DatasetFailed, NotReady

__all__ = ["ApiError", "Client", "DatasetFailed", "NotReady"]
