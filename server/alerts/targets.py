"""Which webhook targets are allowed. A webhook is a request this server makes on an admin's
behalf, from inside a network that may reach things the admin should not (a router's page, a
database, the cloud's metadata address): only https to public addresses, unless the webhook was
added with allow_private (a WhatsApp or Telegram gateway on the kecamatan's LAN).

The address is checked as the name resolves now, at every attempt (`check_target`, for a clear
refusal), and again at the connection itself: `PublicOnlyBackend` resolves the name, refuses a
non-public answer and connects to the very address it checked, so a DNS answer changed between the
check and the connection (rebinding) cannot reach the inside."""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Iterable
from urllib.parse import urlsplit

import httpcore
import httpx


class TargetRefused(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def _private(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return not ip.is_global


def check_url(url: str, *, allow_private: bool) -> tuple[str, int]:
    """The URL's host and port, if its form is acceptable (before resolving)."""
    parts = urlsplit(url)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise TargetRefused("invalid_url", "a webhook URL is https://host/path")
    if parts.username or parts.password:
        raise TargetRefused("invalid_url", "a webhook URL carries no user or password; use the secret")
    if parts.scheme == "http" and not allow_private:
        raise TargetRefused(
            "tls_required", "a webhook on the internet must use https (plain http only with allow_private)"
        )
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError as exc:
        raise TargetRefused("invalid_url", f"bad port in the webhook URL: {exc}") from exc
    return parts.hostname, port


async def resolve(host: str, port: int) -> list[str]:
    """The addresses `host` resolves to now, in the resolver's order (an address resolves to itself).
    Both checks go through here (tests replace it to answer as a rebinding DNS server would)."""
    try:
        found = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise TargetRefused("unresolvable", f"{host} does not resolve: {exc.strerror}") from exc
    return list(dict.fromkeys(str(info[4][0]) for info in found))


def refuse_private(host: str, addresses: list[str]) -> None:
    if not addresses:
        raise TargetRefused("unresolvable", f"{host} does not resolve")
    private = sorted(a for a in addresses if _private(a))
    if private:
        raise TargetRefused(
            "private_target",
            f"{host} resolves to {', '.join(private)}: not a public address"
            " (a gateway on your own network needs allow_private / --allow-private)",
        )


class PublicOnlyBackend(httpcore.AsyncNetworkBackend):
    """httpcore's network layer for targets that must be public: the host is resolved here, every
    address it gives must be public, and the connection goes to one of those checked addresses (TLS
    still verifies the certificate for the host name: httpcore sends the URL's host as SNI)."""

    def __init__(self) -> None:
        self._inner = httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        try:
            addresses = await asyncio.wait_for(resolve(host, port), timeout)
        except TimeoutError as exc:
            raise httpcore.ConnectTimeout(f"resolving {host} timed out") from exc
        refuse_private(host, addresses)
        failed: Exception | None = None
        for address in addresses:
            try:
                return await self._inner.connect_tcp(
                    address, port, timeout=timeout, local_address=local_address, socket_options=socket_options
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                failed = exc
        assert failed is not None
        raise failed

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise TargetRefused("invalid_url", "alerts are not sent to Unix sockets")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


def client(*, timeout_s: float, public_only: bool) -> httpx.AsyncClient:
    """The HTTP client of deliveries: TLS verified (httpx's default, certifi's roots), no redirects,
    every phase time-limited, no proxy from the environment; `public_only` connects only to public
    addresses (PublicOnlyBackend)."""
    limits = httpx.Limits(max_connections=50, max_keepalive_connections=10)
    transport = httpx.AsyncHTTPTransport(limits=limits, trust_env=False)
    if public_only:  # httpx has no parameter for httpcore's network backend: the same pool, with ours
        transport._pool = httpcore.AsyncConnectionPool(
            ssl_context=httpx.create_ssl_context(trust_env=False),
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            network_backend=PublicOnlyBackend(),
        )
    return httpx.AsyncClient(
        transport=transport, timeout=httpx.Timeout(timeout_s), follow_redirects=False, trust_env=False
    )


async def check_target(url: str, *, allow_private: bool) -> None:
    """Refuse a URL whose host resolves to a loopback, private, link-local or otherwise non-public
    address, unless `allow_private`."""
    host, port = check_url(url, allow_private=allow_private)
    if not allow_private:
        refuse_private(host, await resolve(host, port))
