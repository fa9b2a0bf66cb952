"""A small, typed client for the mini-pipeline HTTP API (httpx).

    from client import Client
    with Client("http://127.0.0.1:8000") as mp:
        created = mp.upload("examples/sales.csv", name="sales")
        final = mp.wait(created["id"])
        page = mp.rows("sales", filters={"city": "Oslo", "total__gt": 100}, sort="-total")

Every per-dataset method takes a REF: a dataset's name (its latest ready version) or a
version id, and optionally `version=N`. Errors are `ApiError` (the API's JSON error code
and message); asking for the data of a failed version raises `DatasetFailed`, and of a
version still queued or processing `NotReady` (with the server's Retry-After).
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from types import TracebackType
from typing import IO, Any
from urllib.parse import quote

import httpx

DEFAULT_URL = "http://127.0.0.1:8000"
URL_ENV = "MINI_URL"
KEY_ENV = "MINI_API_KEY"
CHUNK = 256 * 1024
FINAL = ("ready", "failed")

# (bytes done, bytes total or None)
Progress = Callable[[int, int | None], None]
Params = Mapping[str, Any]


class ApiError(Exception):
    """An error answer: `status` (HTTP), `code` and `message` from the JSON body."""

    def __init__(self, status: int, code: str, message: str, body: Any = None) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.body = body


class DatasetFailed(ApiError):
    """The version asked for failed processing (409 dataset_failed)."""


class NotReady(ApiError):
    """The version is still queued or processing (202); retry after `retry_after` s."""

    def __init__(self, status: int, body: Any, retry_after: float) -> None:
        state = body.get("status", "pending") if isinstance(body, dict) else "pending"
        super().__init__(status, "not_ready", f"the version is {state}", body)
        self.retry_after = retry_after


def _error(response: httpx.Response) -> ApiError:
    try:
        body = response.json()
    except ValueError:
        body = None
    err = body.get("error") if isinstance(body, dict) else None
    if isinstance(err, dict):
        code, message = str(err.get("code", "error")), str(err.get("message", ""))
    else:
        code, message = "error", response.text[:500]
    cls = DatasetFailed if code == "dataset_failed" else ApiError
    return cls(response.status_code, code, message, body)


def _ref(ref: str) -> str:
    return quote(ref, safe="")


def _clean(params: Params | None) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in (params or {}).items():
        if value is None:
            continue
        if isinstance(value, bool):
            out[key] = "true" if value else "false"
        elif isinstance(value, list | tuple):
            out[key] = ",".join(str(v) for v in value)
        else:
            out[key] = value
    return out


class Client:
    def __init__(
        self,
        url: str | None = None,
        api_key: str | None = None,
        *,
        timeout: float = 60.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.url = (url or os.environ.get(URL_ENV) or DEFAULT_URL).rstrip("/")
        key = api_key if api_key is not None else os.environ.get(KEY_ENV)
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        self._http = httpx.Client(
            base_url=self.url, headers=headers, timeout=timeout, transport=transport
        )

    # -- plumbing -------------------------------------------------------------------
    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        if not kwargs.get("params"):
            # httpx replaces a URL's query with even empty params: `next` links keep theirs.
            kwargs.pop("params", None)
        response = self._http.request(method, path, **kwargs)
        if response.status_code >= 400:
            raise _error(response)
        return response

    def _json(self, method: str, path: str, **kwargs: Any) -> Any:
        return self._request(method, path, **kwargs).json()

    def _data(self, path: str, params: dict[str, Any]) -> Any:
        """A data answer: 200 JSON, or NotReady (202) / DatasetFailed (409)."""
        response = self._request("GET", path, params=params)
        if response.status_code == 202:
            retry = float(response.headers.get("Retry-After", "2") or 2)
            raise NotReady(202, response.json(), retry)
        return response.json()

    # -- uploads --------------------------------------------------------------------
    def upload(
        self,
        file: str | Path,
        *,
        name: str | None = None,
        options: Params | None = None,
        progress: Progress | None = None,
        request_id: str | None = None,
    ) -> dict[str, Any]:
        """Stream one CSV file (multipart); the new version's summary (202).
        `options`: encoding, delimiter, header_row, no_header, on_schema_change."""
        path = Path(file)
        size = path.stat().st_size
        boundary = f"mini-pipeline-{uuid.uuid4().hex}"
        filename = path.name.replace('"', "_").replace("\r", "_").replace("\n", "_")
        head = (
            f"--{boundary}\r\n"
            f'Content-Disposition: form-data; name="file"; filename="{filename}"\r\n'
            "Content-Type: text/csv\r\n\r\n"
        ).encode()
        tail = f"\r\n--{boundary}--\r\n".encode()

        def body() -> Iterator[bytes]:
            yield head
            sent = 0
            with path.open("rb") as fh:
                while chunk := fh.read(CHUNK):
                    sent += len(chunk)
                    yield chunk
                    if progress:
                        progress(sent, size)
            yield tail

        headers = {
            "Content-Type": f"multipart/form-data; boundary={boundary}",
            "Content-Length": str(len(head) + size + len(tail)),
        }
        if request_id:
            headers["X-Request-ID"] = request_id
        params = _clean({**(options or {}), "name": name})
        result: dict[str, Any] = self._json(
            "POST", "/upload", params=params, content=body(), headers=headers
        )
        return result

    def wait(
        self,
        ref: str,
        *,
        version: int | None = None,
        timeout: float = 3600.0,
        poll: float = 0.5,
        on_status: Callable[[dict[str, Any]], None] | None = None,
    ) -> dict[str, Any]:
        """Poll the version's status until it is ready or failed; the final status."""
        deadline = time.monotonic() + timeout
        while True:
            status = self.status(ref, version=version)
            if on_status:
                on_status(status)
            if status.get("status") in FINAL:
                return status
            if time.monotonic() > deadline:
                raise TimeoutError(f"{ref} is still {status.get('status')} after {timeout:.0f}s")
            time.sleep(poll)

    # -- reading --------------------------------------------------------------------
    def datasets(
        self, *, prefix: str | None = None, status: str | None = None, page_size: int = 200
    ) -> Iterator[dict[str, Any]]:
        """Every dataset (one entry per name), newest upload first, following `next`."""
        params: dict[str, Any] = _clean({"prefix": prefix, "status": status, "limit": page_size})
        path: str | None = "/datasets"
        while path:
            page = self._json("GET", path, params=params)
            yield from page["items"]
            path, params = page.get("next"), {}

    def status(self, ref: str, *, version: int | None = None) -> dict[str, Any]:
        result: dict[str, Any] = self._json(
            "GET", f"/datasets/{_ref(ref)}/status", params=_clean({"version": version})
        )
        return result

    def report(self, ref: str, *, version: int | None = None) -> dict[str, Any]:
        result: dict[str, Any] = self._data(
            f"/datasets/{_ref(ref)}/report", _clean({"version": version})
        )
        return result

    def versions(self, ref: str) -> dict[str, Any]:
        result: dict[str, Any] = self._json("GET", f"/datasets/{_ref(ref)}/versions")
        return result

    def rows(
        self,
        ref: str,
        *,
        filters: Params | None = None,
        sort: str | None = None,
        columns: str | list[str] | None = None,
        limit: int | None = None,
        offset: int | None = None,
        version: int | None = None,
    ) -> dict[str, Any]:
        """One page: `columns`, `total_rows`, `rows`, `next` (filters as the API takes
        them: {"city": "Oslo", "total__gt": 100})."""
        params = _clean(
            {
                **(filters or {}),
                "sort": sort,
                "columns": columns,
                "limit": limit,
                "offset": offset,
                "version": version,
            }
        )
        result: dict[str, Any] = self._data(f"/datasets/{_ref(ref)}", params)
        return result

    def iter_rows(
        self, ref: str, *, page_size: int = 1000, **query: Any
    ) -> Iterator[dict[str, Any]]:
        """Every row of the result, following `next` cursors."""
        page = self.rows(ref, limit=page_size, **query)
        while True:
            yield from page["rows"]
            if not page.get("next"):
                return
            page = self._data(page["next"], {})

    def download(
        self,
        ref: str,
        out: IO[bytes],
        *,
        format: str = "csv",
        filters: Params | None = None,
        sort: str | None = None,
        columns: str | list[str] | None = None,
        version: int | None = None,
        progress: Progress | None = None,
    ) -> int:
        """Stream an export into `out`; the number of bytes written."""
        params = _clean(
            {
                **(filters or {}),
                "format": format,
                "sort": sort,
                "columns": columns,
                "version": version,
            }
        )
        with self._http.stream("GET", f"/datasets/{_ref(ref)}/download", params=params) as resp:
            if resp.status_code >= 400:
                resp.read()
                raise _error(resp)
            if resp.status_code == 202:
                resp.read()
                retry = float(resp.headers.get("Retry-After", "2") or 2)
                raise NotReady(202, resp.json(), retry)
            total = resp.headers.get("Content-Length")
            size = int(total) if total and total.isdigit() else None
            done = 0
            for chunk in resp.iter_bytes(CHUNK):
                out.write(chunk)
                done += len(chunk)
                if progress:
                    progress(done, size)
        return done

    def logs(self, ref: str, *, version: int | None = None) -> str:
        response = self._request(
            "GET", f"/datasets/{_ref(ref)}/logs", params=_clean({"version": version})
        )
        if response.status_code == 202:
            raise NotReady(202, {"status": "processing"}, 2.0)
        return response.text

    # -- changing -------------------------------------------------------------------
    def reprocess(
        self, ref: str, *, version: int | None = None, options: Params | None = None
    ) -> dict[str, Any]:
        """A new version from a version's uploaded file (202): its summary."""
        result: dict[str, Any] = self._json(
            "POST",
            f"/datasets/{_ref(ref)}/reprocess",
            params=_clean({**(options or {}), "version": version}),
        )
        return result

    def delete(self, ref: str, *, version: int | None = None) -> None:
        """By name every version; by a version id or `version` that one version."""
        self._request("DELETE", f"/datasets/{_ref(ref)}", params=_clean({"version": version}))
