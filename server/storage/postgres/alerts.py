"""The alert queries (server/storage/alerts.py) on a pooled PostgreSQL connection."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

import asyncpg

from server.storage.alerts import INSERT_EVENT, AlertsConn, AlertsMixin, event_rows, numbered
from sync.store import AlertEvent, AuditEntry


class _Conn:
    def __init__(self, conn: asyncpg.Connection) -> None:
        self._conn = conn

    async def fetch(self, sql: str, params: Sequence[Any] = ()) -> list[Sequence[Any]]:
        return list(await self._conn.fetch(numbered(sql), *params))

    async def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        status: str = await self._conn.execute(numbered(sql), *params)
        return int(status.rsplit(" ", 1)[-1])  # "UPDATE 3", "DELETE 1"

    async def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        await self._conn.executemany(numbered(sql), rows)

    async def append_audit(self, entry: AuditEntry) -> int:
        from server.storage.postgres.sync_tx import append_audit_entries  # it imports this module

        [entry_id] = await append_audit_entries(self._conn, [entry])
        return entry_id


class PostgresAlertsMixin(AlertsMixin):
    def _writing(self) -> AbstractAsyncContextManager[asyncpg.Connection]:
        raise NotImplementedError

    @asynccontextmanager
    async def _alerts_tx(self) -> AsyncIterator[AlertsConn]:
        async with self._writing() as conn:
            yield _Conn(conn)


_INSERT_EVENT = numbered(INSERT_EVENT)


async def write_outbox(conn: asyncpg.Connection, events: Sequence[AlertEvent]) -> None:
    """The outbox rows of a push, inside its transaction (sync_tx.PostgresWriteTx.commit)."""
    if events:
        await conn.executemany(_INSERT_EVENT, event_rows(events))
