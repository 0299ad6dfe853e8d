"""The alert queries (server/storage/alerts.py) on the SQLite writer connection."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

import aiosqlite

from server.storage.alerts import INSERT_EVENT, AlertsConn, AlertsMixin, event_rows
from sync.store import AlertEvent, AuditEntry

AppendAudit = Callable[[aiosqlite.Connection, AuditEntry], Awaitable[int]]


class _Conn:
    def __init__(self, conn: aiosqlite.Connection, append_audit: AppendAudit) -> None:
        self._conn = conn
        self._append_audit = append_audit

    async def fetch(self, sql: str, params: Sequence[Any] = ()) -> list[Sequence[Any]]:
        return list(await self._conn.execute_fetchall(sql, params))

    async def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        cursor = await self._conn.execute(sql, params)
        return cursor.rowcount

    async def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        await self._conn.executemany(sql, rows)

    async def append_audit(self, entry: AuditEntry) -> int:
        return await self._append_audit(self._conn, entry)


class SqliteAlertsMixin(AlertsMixin):
    def _writing(self) -> AbstractAsyncContextManager[aiosqlite.Connection]:
        raise NotImplementedError

    async def _append_audit(self, conn: aiosqlite.Connection, entry: AuditEntry) -> int:
        raise NotImplementedError

    @asynccontextmanager
    async def _alerts_tx(self) -> AsyncIterator[AlertsConn]:
        async with self._writing() as conn:
            yield _Conn(conn, self._append_audit)


def outbox_statements(events: Sequence[AlertEvent]) -> list[tuple[str, list[tuple[Any, ...]]]]:
    """The outbox rows of a push, among its commit statements (sync_tx.commit_statements)."""
    return [(INSERT_EVENT, list(event_rows(events)))] if events else []
