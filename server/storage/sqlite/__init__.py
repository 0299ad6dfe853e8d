"""Embedded SQLite backend (the default): one file, WAL, one serialized writer."""

from server.storage.sqlite.storage import SqliteStorage

__all__ = ["SqliteStorage"]
