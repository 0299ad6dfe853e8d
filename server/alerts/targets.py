"""Which webhook targets are allowed. A webhook is a request this server makes on an admin's
behalf, from inside a network that may reach things the admin should not (a router's page, a
database, the cloud's metadata address): only https to public addresses, unless the webhook was
added with allow_private (a WhatsApp or Telegram gateway on the kecamatan's LAN).

The address is checked as the name resolves now, at every attempt, not only the name as written."""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from urllib.parse import urlsplit


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


async def check_target(url: str, *, allow_private: bool) -> None:
    """Refuse a URL whose host resolves to a loopback, private, link-local or otherwise non-public
    address, unless `allow_private`."""
    host, port = check_url(url, allow_private=allow_private)
    if allow_private:
        return
    try:
        found = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise TargetRefused("unresolvable", f"{host} does not resolve: {exc.strerror}") from exc
    addresses = sorted({str(info[4][0]) for info in found})
    if not addresses:
        raise TargetRefused("unresolvable", f"{host} does not resolve")
    private = [a for a in addresses if _private(a)]
    if private:
        raise TargetRefused(
            "private_target",
            f"{host} resolves to {', '.join(private)}: not a public address"
            " (a gateway on your own network needs allow_private / --allow-private)",
        )
