"""Where provider requests may go: no link-local or cloud metadata addresses, ever.

A provider's base URL is configuration, and whoever controls configuration could
point it at `http://169.254.169.254/` (a cloud metadata service) or use "Test
connection" to probe the internal network. This module checks the address a request
goes to, twice:

* when a URL is saved, without DNS (`url_problem`): literal IPs and known metadata
  host names are refused up front;
* when connecting (`GuardedBackend` / `AsyncGuardedBackend`): the host is resolved,
  every resolved address is checked, and the connection goes to the address that was
  checked, so a name that resolves to a harmless address at save time and to
  169.254.169.254 later (DNS rebinding) is still refused. TLS keeps the host name
  for SNI and certificate checks: httpcore passes it to `start_tls` separately.

The backends plug into the httpx2 transports the OpenAI and Anthropic SDKs use
(`guarded_client`, `guarded_async_client`). Plain Python; no Django.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterable
from typing import Any, Literal
from urllib.parse import urlsplit

import anyio.to_thread
import httpcore2
import httpx2

type IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
type AddressClass = Literal["public", "private", "forbidden"]

# Names that reach a cloud provider's instance metadata service from inside a VM or
# container. The addresses behind them are refused too; the names are refused before
# any lookup so a save fails with a clear message.
METADATA_HOSTNAMES = frozenset(
    {
        "metadata",
        "metadata.google.internal",
        "metadata.goog",
        "metadata.azure.internal",
        "instance-data",
        "instance-data.ec2.internal",
        "metadata.tencentyun.com",
        "metadata.platformequinix.com",
    }
)
# Metadata addresses outside the link-local ranges: AWS's IPv6 IMDS and Alibaba Cloud's.
METADATA_ADDRESSES = frozenset(
    {ipaddress.ip_address("fd00:ec2::254"), ipaddress.ip_address("100.100.100.200")}
)
# Carrier-grade NAT space: not "private" to Python, but not the public internet either.
_SHARED_ADDRESS_SPACE = ipaddress.ip_network("100.64.0.0/10")
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
# Every refusal's message starts with this, so the pages can tell a refusal by policy
# (worth explaining) from a network failure (shown in generic words).
REFUSED_PREFIX = "refused to connect to"


class EndpointRefused(httpcore2.ConnectError):
    """A request was refused before connecting: its address is not allowed.

    A `ConnectError`, so httpx2 and the SDKs report it like any failed connection
    (and the adapters map it onto a ProviderError) with this message as the cause.
    """


def _unwrap(address: IPAddress) -> IPAddress:
    """The IPv4 address hidden in an IPv4-mapped or NAT64 IPv6 address, else `address`."""
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return address.ipv4_mapped
        if address in _NAT64:
            return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return address


def classify(address: IPAddress) -> AddressClass:
    """ "forbidden" (link-local, metadata, multicast, reserved), "private" (loopback,
    private networks, unspecified) or "public"."""
    address = _unwrap(address)
    if address in METADATA_ADDRESSES or address.is_link_local:
        return "forbidden"
    # Before "reserved": ::1 and :: sit in IPv6's reserved ::/8.
    if address.is_loopback or address.is_unspecified:
        return "private"
    if address.is_multicast or address.is_reserved:
        return "forbidden"
    if address.is_private or address in _SHARED_ADDRESS_SPACE:
        return "private"
    return "public"


def address_problem(address: IPAddress, *, allow_private: bool) -> str | None:
    """Why requests to `address` are refused, or None when they are allowed."""
    kind = classify(address)
    if kind == "forbidden":
        return (
            f"{address} is a link-local or cloud metadata address; provider requests never go there"
        )
    if kind == "private" and not allow_private:
        return (
            f"{address} is a loopback or private-network address, and "
            "AICONFIG_ALLOW_PRIVATE_ENDPOINTS is off"
        )
    return None


def _literal_ip(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host.strip("[]").split("%")[0])
    except ValueError:
        return None


def host_problem(host: str, *, allow_private: bool) -> str | None:
    """Why requests to `host` are refused, judged without DNS; None when it may be allowed.

    A literal IP is judged by its address, a metadata host name by its name. Any other
    name is only judged when connecting, once it has been resolved.
    """
    name = host.strip().rstrip(".").lower()
    if name in METADATA_HOSTNAMES:
        return f"{name} is a cloud metadata host; provider requests never go there"
    address = _literal_ip(name)
    if address is not None:
        return address_problem(address, allow_private=allow_private)
    return None


def url_problem(url: str, *, allow_private: bool) -> str | None:
    """Why requests to `url`'s host are refused (see `host_problem`); None when allowed."""
    try:
        host = urlsplit(url.strip()).hostname or ""
    except ValueError:
        return None  # not a URL at all: the URL rules say so
    return host_problem(host, allow_private=allow_private) if host else None


def resolve(host: str, port: int) -> list[str]:
    """Every address `host` resolves to, in the resolver's order (IP literals as-is).

    Tests replace this function to simulate DNS (the suite forbids real lookups).
    """
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as exc:
        raise httpcore2.ConnectError(f"could not resolve {host!r}") from exc
    seen: dict[str, None] = {}
    for info in infos:
        seen.setdefault(str(info[4][0]).split("%")[0], None)
    return list(seen)


def _checked_addresses(host: str, addresses: Iterable[str], *, allow_private: bool) -> list[str]:
    """`addresses` if every one is allowed; one bad address refuses the whole name."""
    checked = list(addresses)
    if not checked:
        raise httpcore2.ConnectError(f"could not resolve {host!r}")
    for text in checked:
        address = _literal_ip(text)
        if address is None:
            raise EndpointRefused(f"{REFUSED_PREFIX} {host}: unexpected address {text!r}")
        problem = address_problem(address, allow_private=allow_private)
        if problem:
            raise EndpointRefused(f"{REFUSED_PREFIX} {host}: {problem}")
    return checked


def _precheck(host: str, *, allow_private: bool) -> IPAddress | None:
    """Refuse a forbidden name or literal before any lookup; return the literal IP if any."""
    problem = host_problem(host, allow_private=allow_private)
    if problem:
        raise EndpointRefused(f"{REFUSED_PREFIX} {host}: {problem}")
    return _literal_ip(host)


class GuardedBackend(httpcore2.NetworkBackend):
    """httpcore2's sync network backend, connecting only to addresses the policy allows."""

    def __init__(
        self, *, allow_private: bool, inner: httpcore2.NetworkBackend | None = None
    ) -> None:
        self.allow_private = allow_private
        self._inner = inner or httpcore2.SyncBackend()

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore2.NetworkStream:
        """Resolve `host`, check every address, then connect to a checked address."""
        literal = _precheck(host, allow_private=self.allow_private)
        found = [str(literal)] if literal is not None else resolve(host, port)
        addresses = _checked_addresses(host, found, allow_private=self.allow_private)
        last: httpcore2.ConnectError | None = None
        for address in addresses:
            try:
                return self._inner.connect_tcp(
                    address,
                    port,
                    timeout=timeout,
                    local_address=local_address,
                    socket_options=socket_options,
                )
            except httpcore2.ConnectError as exc:
                last = exc  # try the host's next address, as socket.create_connection would
        assert last is not None
        raise last

    def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore2.NetworkStream:
        """Refused: a provider endpoint is a URL, never a local socket."""
        raise EndpointRefused(f"{REFUSED_PREFIX} a unix socket")

    def sleep(self, seconds: float) -> None:
        """Delegated to the wrapped backend."""
        self._inner.sleep(seconds)


class AsyncGuardedBackend(httpcore2.AsyncNetworkBackend):
    """The async counterpart of `GuardedBackend` (anyio or trio, via httpcore2's auto backend)."""

    def __init__(
        self, *, allow_private: bool, inner: httpcore2.AsyncNetworkBackend | None = None
    ) -> None:
        from httpcore2._backends.auto import AutoBackend

        self.allow_private = allow_private
        self._inner = inner or AutoBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore2.AsyncNetworkStream:
        """Resolve `host` (in a worker thread), check every address, connect to a checked one."""
        literal = _precheck(host, allow_private=self.allow_private)
        if literal is not None:
            found = [str(literal)]
        else:
            # Looked up through the module so tests can replace `resolve`.
            found = await anyio.to_thread.run_sync(_resolve_now, host, port)
        addresses = _checked_addresses(host, found, allow_private=self.allow_private)
        last: httpcore2.ConnectError | None = None
        for address in addresses:
            try:
                return await self._inner.connect_tcp(
                    address,
                    port,
                    timeout=timeout,
                    local_address=local_address,
                    socket_options=socket_options,
                )
            except httpcore2.ConnectError as exc:
                last = exc
        assert last is not None
        raise last

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore2.AsyncNetworkStream:
        """Refused: a provider endpoint is a URL, never a local socket."""
        raise EndpointRefused(f"{REFUSED_PREFIX} a unix socket")

    async def sleep(self, seconds: float) -> None:
        """Delegated to the wrapped backend."""
        await self._inner.sleep(seconds)


def _resolve_now(host: str, port: int) -> list[str]:
    return resolve(host, port)


# The SDKs' own pool sizes (a custom transport would otherwise get httpx2's smaller ones).
_LIMITS = httpx2.Limits(max_connections=1000, max_keepalive_connections=100)


class GuardedTransport(httpx2.HTTPTransport):
    """httpx2's transport over a `GuardedBackend`. No proxy: a proxy would resolve for us."""

    def __init__(self, *, allow_private: bool, limits: httpx2.Limits = _LIMITS) -> None:
        super().__init__(limits=limits)
        self._pool = httpcore2.ConnectionPool(
            ssl_context=httpx2.create_ssl_context(),
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            network_backend=GuardedBackend(allow_private=allow_private),
        )


class AsyncGuardedTransport(httpx2.AsyncHTTPTransport):
    """httpx2's async transport over an `AsyncGuardedBackend`."""

    def __init__(self, *, allow_private: bool, limits: httpx2.Limits = _LIMITS) -> None:
        super().__init__(limits=limits)
        self._pool = httpcore2.AsyncConnectionPool(
            ssl_context=httpx2.create_ssl_context(),
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            network_backend=AsyncGuardedBackend(allow_private=allow_private),
        )


def guarded_client(*, allow_private: bool, timeout: float) -> httpx2.Client:
    """An `http_client` for the SDKs whose every connection (redirects included) is checked."""
    return httpx2.Client(
        transport=GuardedTransport(allow_private=allow_private),
        timeout=timeout,
        follow_redirects=True,
    )


def guarded_async_client(*, allow_private: bool, timeout: float) -> httpx2.AsyncClient:
    """The async counterpart of `guarded_client`, for `openai.AsyncOpenAI` and friends."""
    return httpx2.AsyncClient(
        transport=AsyncGuardedTransport(allow_private=allow_private),
        timeout=timeout,
        follow_redirects=True,
    )
