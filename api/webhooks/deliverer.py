"""Sending webhook deliveries: the catalog is the outbox, this thread empties it.

When a version becomes final, the result listener only inserts one pending delivery
per URL into the catalog (one quick write on the runner's thread; a failure is logged,
never raised), so processing is never held up by a receiver. The deliverer thread
takes due deliveries (a lease, so two replicas never send one at once), sends each on a
bounded pool with timeouts, and records the attempt: delivered on a 2xx, otherwise
retried with exponential backoff until MINI_WEBHOOKS__MAX_ATTEMPTS, then failed.

A version recorded where no listener heard it (the reconciler, or while the API was
down) is found by the catch-up, at start and every MINI_WEBHOOKS__CATCH_UP_SECONDS.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import random
import ssl
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import timedelta
from typing import Any

import certifi
import httpx

from core import __version__
from core.catalog import ALL_DATASETS, Catalog, CatalogError, Dataset, Delivery, now
from core.settings import WebhookSettings

from ..routes.links import dataset_links
from ..versions import Served
from .addresses import AddressPolicy, RefusedURL, parse

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Mini-Signature"
TIMESTAMP_HEADER = "X-Mini-Timestamp"
EVENT_HEADER = "X-Mini-Event"
DELIVERY_HEADER = "X-Mini-Delivery"
USER_AGENT = f"mini-pipeline-webhooks/{__version__}"
# Versions one catch-up round enqueues; a full round is followed by another at once.
CATCH_UP_BATCH = 100
# Of a receiver's answer, only this much is kept (in the log's last_error).
RESPONSE_PEEK_BYTES = 512
# Backoff waits are stretched by up to this share, so retries to one receiver spread out.
BACKOFF_JITTER = 0.1
# A claimed delivery is retried by another replica only after this many timeouts (an
# attempt is a connect, a send and a few reads, each bounded by the timeout).
LEASE_TIMEOUTS = 6
STOP_JOIN_SECONDS = 5.0


def sign(secret: bytes, timestamp: str, body: bytes) -> str:
    """The signature header's value: HMAC-SHA256 of "<timestamp>.<body>" (README: Webhooks)."""
    digest = hmac.new(secret, timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def backoff(attempts: int, base: float, cap: float) -> float:
    """Seconds before the next attempt once `attempts` have failed."""
    return float(min(cap, base * 2 ** max(0, attempts - 1)))


def payload(dataset: Dataset, delivery: Delivery, public_url: str = "") -> dict[str, Any]:
    served = Served(dataset, "id")
    prefix = public_url.rstrip("/")
    return {
        "event": f"version.{delivery.event}",
        "delivery_id": delivery.id,
        "dataset": served.name,
        "version": served.version,
        "version_id": dataset.id,
        "status": delivery.event,
        "rows": dataset.rows_out,
        "rows_in": dataset.rows_in,
        "rows_rejected": dataset.rows_rejected,
        "error": dataset.error,
        "schema_diff": dataset.schema_diff,
        "finished_at": dataset.finished_at.isoformat() if dataset.finished_at else None,
        "links": {k: f"{prefix}{v}" for k, v in dataset_links(served).items()},
    }


class Deliverer:
    """The webhook sender of one API process; the composition root starts and stops it."""

    def __init__(self, settings: WebhookSettings, catalog: Catalog, policy: AddressPolicy) -> None:
        self.settings = settings
        self.catalog = catalog
        self.policy = policy
        self._secret = settings.secret.get_secret_value().encode()
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._pool: ThreadPoolExecutor | None = None
        self._client: httpx.Client | None = None
        self._in_flight: set[Future[None]] = set()
        self._targets_synced = False
        # When the soonest retry this process scheduled is due (monotonic), so a short
        # backoff is not stretched to the next poll.
        self._soonest_retry = float("inf")
        self._soonest_lock = threading.Lock()

    @property
    def enabled(self) -> bool:
        """Nothing is sent unsigned: without a secret, webhooks are off."""
        return bool(self._secret)

    def start(self) -> None:
        if not self.enabled:
            if self.settings.urls:
                log.warning("MINI_WEBHOOKS__URLS is set but no MINI_WEBHOOKS__SECRET: not sent")
            return
        verify = ssl.create_default_context(cafile=certifi.where())
        if self.settings.ca_file is not None:
            verify.load_verify_locations(cafile=self.settings.ca_file)
        self._client = httpx.Client(
            verify=verify,
            timeout=httpx.Timeout(self.settings.timeout_seconds),
            follow_redirects=False,
            # A proxy from the environment would connect to a name we did not check.
            trust_env=False,
            limits=httpx.Limits(max_connections=self.settings.max_concurrent),
        )
        self._pool = ThreadPoolExecutor(self.settings.max_concurrent, "webhook-send")
        self._thread = threading.Thread(target=self._loop, name="webhook-deliverer", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(STOP_JOIN_SECONDS)
        if self._pool is not None:
            # An attempt cut short stays claimed; its lease runs out and it is sent again.
            self._pool.shutdown(wait=False, cancel_futures=True)
        if self._client is not None:
            self._client.close()

    def listener(self, dataset_id: str, _result: dict[str, Any]) -> None:
        """The result listener: enqueue, wake the sender, never raise."""
        if not self.enabled:
            return
        try:
            if self.catalog.enqueue_deliveries(dataset_id):
                self._wake.set()
        except Exception:
            log.exception("could not enqueue webhook deliveries for %s", dataset_id)

    def _sync_targets(self) -> None:
        """The settings' URLs become the catalog's every-dataset targets."""
        urls = []
        for url in self.settings.urls:
            try:
                parse(url)
                urls.append(url)
            except RefusedURL as exc:
                log.error("MINI_WEBHOOKS__URLS: %s is ignored: %s", url, exc)
        self.catalog.set_webhooks(ALL_DATASETS, urls)
        self._targets_synced = True

    def _loop(self) -> None:
        next_catch_up = 0.0
        while not self._stopping.is_set():
            try:
                if not self._targets_synced:
                    self._sync_targets()
                if time.monotonic() >= next_catch_up:
                    added = self.catalog.enqueue_missed(CATCH_UP_BATCH)
                    if added:
                        log.info("webhooks: %d delivery(ies) enqueued by the catch-up", added)
                    full = added >= CATCH_UP_BATCH
                    next_catch_up = (
                        0.0 if full else time.monotonic() + self.settings.catch_up_seconds
                    )
                self._send_due()
            except CatalogError as exc:
                log.warning("webhooks: catalog unavailable: %s", exc)
            except Exception:
                log.exception("webhook deliverer round failed")
            self._wake.wait(self._pause())
            self._wake.clear()

    def _pause(self) -> float:
        with self._soonest_lock:
            until_retry = self._soonest_retry - time.monotonic()
            if until_retry <= 0:
                self._soonest_retry = float("inf")
        return max(0.0, min(self.settings.poll_seconds, until_retry))

    def _send_due(self) -> None:
        assert self._pool is not None
        self._in_flight = {f for f in self._in_flight if not f.done()}
        free = self.settings.max_concurrent - len(self._in_flight)
        if free <= 0:
            return
        lease = LEASE_TIMEOUTS * self.settings.timeout_seconds
        for delivery in self.catalog.claim_deliveries(free, lease):
            future = self._pool.submit(self.deliver, delivery)
            future.add_done_callback(lambda _: self._wake.set())
            self._in_flight.add(future)

    def deliver(self, delivery: Delivery) -> None:
        """One attempt of one delivery, recorded whatever happens."""
        status: int | None = None
        try:
            dataset = self.catalog.get(delivery.dataset_id)
            if dataset is None:
                error: str | None = "the version was deleted"
            else:
                status, error = self._post(delivery, dataset)
        except CatalogError as exc:
            # Not an attempt: the lease runs out and it is tried again.
            log.warning("webhook delivery %d: catalog unavailable: %s", delivery.id, exc)
            return
        delivered = error is None
        if not delivered and self._stopping.is_set():
            # Cut by our own shutdown, not the receiver's doing: not counted; the lease
            # runs out and this or another replica sends it again.
            return
        attempts = delivery.attempts + 1
        retry_at = None
        if not delivered and attempts < self.settings.max_attempts and dataset is not None:
            wait = backoff(
                attempts, self.settings.backoff_seconds, self.settings.backoff_max_seconds
            )
            wait *= 1 + BACKOFF_JITTER * random.random()
            retry_at = now() + timedelta(seconds=wait)
            with self._soonest_lock:
                self._soonest_retry = min(self._soonest_retry, time.monotonic() + wait)
        self.catalog.record_attempt(
            delivery.id, delivered=delivered, status=status, error=error, retry_at=retry_at
        )
        outcome = "delivered" if delivered else ("retrying" if retry_at else "failed")
        log.info(
            "webhook delivery %d of %s to %s: %s (attempt %d, status %s%s)",
            delivery.id,
            delivery.dataset_id,
            delivery.url,
            outcome,
            attempts,
            status,
            f", {error}" if error else "",
            extra={"dataset_id": delivery.dataset_id},
        )

    def _post(self, delivery: Delivery, dataset: Dataset) -> tuple[int | None, str | None]:
        """(HTTP status, error or None when delivered)."""
        assert self._client is not None
        try:
            endpoint = self.policy.check(delivery.url)
        except RefusedURL as exc:
            return None, f"refused: {exc}"
        body = json.dumps(
            payload(dataset, delivery, self.settings.public_url),
            separators=(",", ":"),
            sort_keys=True,
        ).encode()
        timestamp = str(int(time.time()))
        headers = {
            "Content-Type": "application/json",
            "User-Agent": USER_AGENT,
            # The checked address is in the URL; the receiver still sees its own name.
            "Host": endpoint.host_header(),
            TIMESTAMP_HEADER: timestamp,
            SIGNATURE_HEADER: sign(self._secret, timestamp, body),
            EVENT_HEADER: f"version.{delivery.event}",
            DELIVERY_HEADER: str(delivery.id),
        }
        extensions = {"sni_hostname": endpoint.host} if endpoint.scheme == "https" else {}
        try:
            with self._client.stream(
                "POST",
                endpoint.connect_url(),
                content=body,
                headers=headers,
                extensions=extensions,
            ) as response:
                if response.is_success:
                    return response.status_code, None
                peek = b""
                for chunk in response.iter_bytes():
                    peek += chunk
                    if len(peek) >= RESPONSE_PEEK_BYTES:
                        break
                text = peek[:RESPONSE_PEEK_BYTES].decode("utf-8", "replace").strip()
                kind = "redirect (not followed)" if response.is_redirect else "answered"
                return response.status_code, f"{kind} {response.status_code}: {text}".strip()
        except httpx.TimeoutException as exc:
            return (
                None,
                f"timed out after {self.settings.timeout_seconds:g} s ({type(exc).__name__})",
            )
        except httpx.HTTPError as exc:
            return None, f"{type(exc).__name__}: {exc}"
