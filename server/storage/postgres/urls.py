"""PostgreSQL URLs as the backend takes them, and names quoted for SQL: shared by the storage, the
LISTEN connection (notify.py) and the copy tool, so none of them imports another."""

from __future__ import annotations

from urllib.parse import parse_qsl, unquote, urlencode, urlsplit, urlunsplit

from server.storage.base import StorageError


def normalize_url(url: str) -> str:
    """The URL as asyncpg takes it: postgresql+asyncpg:// and postgres:// become postgresql://."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        raise StorageError(f"not a PostgreSQL URL: {mask_url(url)!r}")
    base = scheme.lower().split("+", 1)[0]
    if base not in ("postgres", "postgresql"):
        raise StorageError(f"not a PostgreSQL URL: {mask_url(url)!r}")
    return "postgresql://" + rest


def mask_url(url: str) -> str:
    """The URL with its password replaced by ***, for messages and logs."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<unparsable URL>"
    if parts.password is None:
        return url
    netloc = parts.netloc.rsplit("@", 1)
    userinfo = netloc[0].split(":", 1)[0] + ":***"
    return urlunsplit(parts._replace(netloc=userinfo + "@" + netloc[1]))


def database_name(url: str) -> str:
    """The database named in the URL's path ('' when the URL names none)."""
    return unquote(urlsplit(url).path.lstrip("/"))


def quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


POOL_PARAM = "pool"
"""`?pool=transaction`: the URL is PgBouncer's in transaction pooling (docs/postgres.md)."""
LISTEN_PARAM = "listen"
"""`?listen=host:port`: where LISTEN connects directly (PgBouncer's transaction pooling cannot
carry it); the same user, password and database."""


def split_url(url: str) -> tuple[str, str, str]:
    """(the URL for the pool, its pooling mode ("" or "transaction"), the URL to LISTEN on): the
    backend's own parameters taken out of the query, which asyncpg would otherwise send to the
    server as settings."""
    url = normalize_url(url)
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    ours = {k: v for k, v in query if k in (POOL_PARAM, LISTEN_PARAM)}
    pooling = ours.get(POOL_PARAM, "")
    if pooling not in ("", "session", "transaction"):
        raise StorageError(f"?{POOL_PARAM}= takes session or transaction, not {pooling!r}")
    pool_url = urlunsplit(parts._replace(query=urlencode([(k, v) for k, v in query if k not in ours])))
    listen_url = pool_url
    if LISTEN_PARAM in ours:
        userinfo = parts.netloc.rsplit("@", 1)[0] + "@" if "@" in parts.netloc else ""
        listen_url = urlunsplit(urlsplit(pool_url)._replace(netloc=userinfo + ours[LISTEN_PARAM]))
    return pool_url, "" if pooling == "session" else pooling, listen_url
