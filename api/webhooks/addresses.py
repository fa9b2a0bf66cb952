"""Which addresses a webhook may reach: the SSRF policy.

A webhook URL is chosen by an API client, and the API runs inside the network it
should protect (the catalog, the object store, the cloud's metadata service at
169.254.169.254). So a URL is refused unless every address its host resolves to is
public, checked at configuration time and again at every attempt; the attempt then
connects to an address that was checked, never resolving the name a second time (a
name that answers a public address to the check and a private one to the connection,
DNS rebinding, gets nowhere). MINI_WEBHOOKS__ALLOW_PRIVATE=true lifts the policy.
"""

from __future__ import annotations

import ipaddress
import socket
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from urllib.parse import SplitResult, urlsplit

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

MAX_URL_CHARS = 2048
SCHEMES = {"http": 80, "https": 443}
# getaddrinfo cannot be interrupted: it finishes on a resolver thread of its own while
# the caller gives up after this long.
RESOLVE_TIMEOUT_SECONDS = 5.0
RESOLVER_THREADS = 4


class RefusedURL(ValueError):
    """A webhook URL that is malformed or reaches an address the policy refuses."""


@dataclass(frozen=True)
class Endpoint:
    """A checked URL: where to connect (`address`) and what to call the host."""

    url: str
    scheme: str
    host: str
    port: int
    address: IPAddress

    def connect_url(self) -> str:
        """The URL with the checked address in place of the host name."""
        parts = urlsplit(self.url)
        literal = f"[{self.address}]" if self.address.version == 6 else str(self.address)
        return SplitResult(
            self.scheme, f"{literal}:{self.port}", parts.path or "/", parts.query, ""
        ).geturl()

    def host_header(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return host if self.port == SCHEMES[self.scheme] else f"{host}:{self.port}"


def forbidden(address: IPAddress) -> str | None:
    """Why `address` is not a public one, or None when it is."""
    # An IPv4 address can hide inside an IPv6 one (::ffff:127.0.0.1, 6to4, Teredo).
    if isinstance(address, ipaddress.IPv6Address):
        inner = address.ipv4_mapped or address.sixtofour
        if inner is None and address.teredo is not None:
            inner = address.teredo[1]
        if inner is not None:
            return forbidden(inner)
    for kind in ("loopback", "private", "link_local", "multicast", "reserved", "unspecified"):
        if getattr(address, f"is_{kind}"):
            return kind.replace("_", "-")
    if not address.is_global:
        # Shared address space (100.64/10), documentation ranges and the like.
        return "not global"
    return None


def parse(url: str) -> tuple[str, str, int]:
    """(scheme, host, port) of a URL a webhook may have; RefusedURL otherwise."""
    if len(url) > MAX_URL_CHARS:
        raise RefusedURL(f"URL longer than {MAX_URL_CHARS} characters")
    if any(ord(c) <= 32 or ord(c) == 127 for c in url):
        raise RefusedURL("URL with spaces or control characters")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise RefusedURL(f"not a URL: {exc}") from None
    scheme = parts.scheme.lower()
    if scheme not in SCHEMES:
        raise RefusedURL("only http and https URLs")
    if parts.username is not None or parts.password is not None:
        raise RefusedURL("no user or password in the URL (it would be logged and shown)")
    if parts.fragment:
        raise RefusedURL("no #fragment: it is never sent")
    host = (parts.hostname or "").rstrip(".")
    if not host:
        raise RefusedURL("URL without a host")
    return scheme, host, port or SCHEMES[scheme]


def _getaddrinfo(host: str, port: int) -> list[IPAddress]:
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    found: list[IPAddress] = []
    for info in infos:
        # Scope ids (fe80::1%eth0) are dropped: the policy refuses link-local anyway.
        address = ipaddress.ip_address(str(info[4][0]).split("%")[0])
        if address not in found:
            found.append(address)
    return found


class AddressPolicy:
    """Checks webhook URLs; made by the composition root, which closes it."""

    def __init__(self, *, allow_private: bool) -> None:
        self.allow_private = allow_private
        self._resolver = ThreadPoolExecutor(RESOLVER_THREADS, thread_name_prefix="webhook-dns")

    def close(self) -> None:
        self._resolver.shutdown(wait=False, cancel_futures=True)

    def resolve(self, host: str, port: int) -> list[IPAddress]:
        try:
            return [ipaddress.ip_address(host)]
        except ValueError:
            pass
        try:
            return self._resolver.submit(_getaddrinfo, host, port).result(RESOLVE_TIMEOUT_SECONDS)
        except FutureTimeout:
            raise RefusedURL(
                f"{host} did not resolve within {RESOLVE_TIMEOUT_SECONDS:g} s"
            ) from None
        except (OSError, UnicodeError) as exc:
            raise RefusedURL(f"{host} does not resolve: {exc}") from None

    def check(self, url: str) -> Endpoint:
        """Parse and resolve `url`; every address must pass the policy (one bad address
        and a resolver could pick it), and the connection goes to the first."""
        scheme, host, port = parse(url)
        addresses = self.resolve(host, port)
        if not addresses:
            raise RefusedURL(f"{host} resolves to no address")
        if not self.allow_private:
            for address in addresses:
                why = forbidden(address)
                if why is not None:
                    raise RefusedURL(
                        f"{host} resolves to {address}, a {why} address; webhooks reach "
                        "only public addresses unless MINI_WEBHOOKS__ALLOW_PRIVATE=true"
                    )
        return Endpoint(url=url, scheme=scheme, host=host, port=port, address=addresses[0])
