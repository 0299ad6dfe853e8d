"""Storage backends behind one interface (`Storage`), chosen by database URL:

sqlite:///data/tigapilar.db        relative path (three slashes)
sqlite:////var/lib/tigapilar.db    absolute path (four slashes)
postgresql://user:pass@host:5432/db  PostgreSQL (asyncpg; also postgres://, postgresql+asyncpg://)
"""

from __future__ import annotations

from pathlib import Path

from server.storage.base import AttachmentMeta, AuditRow, Conflict, Storage, StorageError

__all__ = [
    "DEFAULT_DATABASE_URL",
    "AttachmentMeta",
    "AuditRow",
    "Conflict",
    "Storage",
    "StorageError",
    "open_storage",
    "sqlite_path",
]

DEFAULT_DATABASE_URL = "sqlite:///data/tigapilar.db"


def sqlite_path(url: str) -> Path:
    """The file path of a sqlite:/// URL."""
    if not url.startswith("sqlite:///"):
        raise StorageError(f"not a SQLite URL: {url!r} (expected sqlite:///path/to/file.db)")
    path = url.removeprefix("sqlite:///").split("?", 1)[0]
    if not path or path == ":memory:":
        raise StorageError(f"SQLite URL needs a database file path: {url!r}")
    return Path(path)


def open_storage(url: str, *, data_dir: str | Path | None = None) -> Storage:
    """Build the backend for a database URL (not yet connected: call `await storage.open()`)."""
    scheme = url.split(":", 1)[0].lower() if ":" in url else ""
    if scheme == "sqlite":
        from server.storage.sqlite import SqliteStorage

        return SqliteStorage(sqlite_path(url), data_dir=data_dir)
    if scheme in ("postgres", "postgresql") or scheme.startswith("postgresql+"):
        try:
            from server.storage.postgres import PostgresStorage
        except ImportError as exc:  # asyncpg is an optional dependency
            raise StorageError(
                f"PostgreSQL needs asyncpg ({exc}): pip install 'tigapilar[postgres]'"
            ) from exc

        return PostgresStorage(url, data_dir=data_dir)
    raise StorageError(
        f"unsupported database URL: {url!r} (expected sqlite:///path/to/file.db or postgresql://...)"
    )
