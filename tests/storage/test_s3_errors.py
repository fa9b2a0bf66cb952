"""How the S3 adapter's edge names what the server said. A full server is hard to make
for real (SeaweedFS answers 500 for no writable volume), so these hand the translator
the exact exceptions minio raises for MinIO's 507 answers."""

from __future__ import annotations

import pytest
from minio.error import InvalidResponseError, S3Error, ServerError
from urllib3 import HTTPResponse

from api.errors import InsufficientStorage, _domain_error
from core.storage import StorageError, StorageFull, StorageUnavailable
from core.storage.s3 import _translate


def s3_error(status: int, code: str) -> S3Error:
    return S3Error(HTTPResponse(status=status), code, "message", "/raw/k", "req", "host")


@pytest.mark.parametrize(
    "exc",
    [
        s3_error(507, "XMinioStorageFull"),
        s3_error(507, "SomethingNew"),
        s3_error(500, "StorageFull"),
        ServerError("server failed with HTTP status code 507", 507),
        InvalidResponseError(507, "text/plain", "Insufficient Storage"),
    ],
)
def test_full_s3_becomes_storage_full_then_507(exc: Exception) -> None:
    with pytest.raises(StorageFull) as caught, _translate("put_object", "raw", "k"):
        raise exc
    answer = _domain_error(caught.value)
    assert isinstance(answer, InsufficientStorage)
    assert answer.status_code == 507
    assert answer.headers and int(answer.headers["Retry-After"]) > 0


@pytest.mark.parametrize(
    ("exc", "kind"),
    [
        (s3_error(403, "AccessDenied"), StorageUnavailable),
        (ServerError("server failed with HTTP status code 503", 503), StorageUnavailable),
        (InvalidResponseError(502, "text/html", "bad gateway"), StorageUnavailable),
        (s3_error(500, "InternalError"), StorageError),
    ],
)
def test_other_failures_are_not_called_full(exc: Exception, kind: type[StorageError]) -> None:
    with pytest.raises(kind) as caught, _translate("put_object", "raw", "k"):
        raise exc
    assert not isinstance(caught.value, StorageFull)
