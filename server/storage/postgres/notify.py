"""LISTEN side of the live-update bridge between server processes.

Every sync commit that changed records sends `NOTIFY tigapilar_changes, '<warehouse ids>'` inside
its transaction (server/storage/postgres/sync_tx.py: the warehouses it wrote, comma-separated, or
"*"), so PostgreSQL delivers it to every listening session exactly when the commit is visible, in
commit order. A ChangeListener holds one dedicated connection (outside the pool, and direct: LISTEN
does not work through PgBouncer's transaction pooling) that LISTENs and calls
`on_change(warehouses)` for each notification; the process's EventHub then wakes only the live
views that can see one of those warehouses, which re-read the changes feed themselves.

The connection is watched: when it drops (server restart, failover, network), the listener
reconnects with backoff and calls `on_change(None)` (any warehouse) once more after reconnecting,
since notifications sent while it was away are lost and a view must look again. A silently dead
TCP connection is found by a `SELECT 1` every `keepalive_s`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any

import asyncpg

from server.storage.postgres.sync_tx import CHANNEL
from server.storage.postgres.urls import mask_url, normalize_url

log = logging.getLogger("tigapilar.storage.notify")


class ChangeListener:
    def __init__(
        self,
        url: str,
        on_change: Callable[[frozenset[str] | None], None],
        *,
        channel: str = CHANNEL,
        keepalive_s: float = 30,
        max_backoff_s: float = 10,
    ) -> None:
        self.url = normalize_url(url)
        self.on_change = on_change
        self.channel = channel
        self.keepalive_s = keepalive_s
        self.max_backoff_s = max_backoff_s
        self.notifications = 0
        """Notifications received so far."""
        self.connected = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._conn: asyncpg.Connection | None = None

    async def start(self, *, wait_s: float | None = 5) -> None:
        """Start listening in the background; wait up to `wait_s` for the first connection (the
        listener keeps retrying if the database is not reachable yet)."""
        if self._task is not None:
            return
        self._task = asyncio.create_task(self._run(), name="tigapilar-listen")
        if wait_s:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.connected.wait(), wait_s)

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self._close()

    async def __aenter__(self) -> ChangeListener:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    def _notified(self, conn: Any, pid: int, channel: str, payload: str) -> None:
        self.notifications += 1
        self.on_change(None if payload in ("", "*") else frozenset(payload.split(",")))

    async def _close(self) -> None:
        conn, self._conn = self._conn, None
        self.connected.clear()
        if conn is not None and not conn.is_closed():
            try:
                await asyncio.wait_for(conn.close(), 5)
            except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError):
                conn.terminate()

    async def _run(self) -> None:
        backoff = 0.25
        while True:
            try:
                conn = await asyncpg.connect(
                    self.url, server_settings={"application_name": "tigapilar-listen"}
                )
            except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                log.warning("cannot LISTEN on %s (%s); retrying in %.1f s", mask_url(self.url), exc, backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, self.max_backoff_s)
                continue
            self._conn = conn
            lost = asyncio.Event()
            conn.add_termination_listener(lambda _conn, lost=lost: lost.set())
            try:
                await conn.add_listener(self.channel, self._notified)
                backoff = 0.25
                self.connected.set()
                self.on_change(None)  # whatever committed while we were not listening
                while not lost.is_set():
                    try:
                        await asyncio.wait_for(lost.wait(), self.keepalive_s)
                    except TimeoutError:
                        await asyncio.wait_for(conn.execute("SELECT 1"), self.keepalive_s)
            except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                log.warning("LISTEN connection lost (%s); reconnecting", exc)
            finally:
                await self._close()
            await asyncio.sleep(backoff)
