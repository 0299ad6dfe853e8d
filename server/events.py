"""Wake-ups for live views (server-sent events).

Live pages never receive event payloads from here: they re-read the changes feed after their last
revision, which is what makes reconnection lossless (the SSE event id is the revision, so
Last-Event-ID is a cursor). The hub only says "something was committed, look again".

The app keeps two hubs: `events` (a push committed) and `account_changes` (a token revoked, an
account disabled, an assignment changed in this process: live streams check their session at once).

Usage, without a lost wake-up:

    wake = hub.next()          # take the wake-up before reading
    ... read changes after cursor ...
    await hub.wait(wake, 15)   # returns early when anything commits after next()

With several server processes (PostgreSQL), LISTEN/NOTIFY calls notify() in every process: each
sync commit NOTIFYs `tigapilar_changes` inside its transaction, and `cross_process_events()` (entered
by the app's lifespan) LISTENs and calls hub.notify() for every notification and after every
reconnect. On SQLite (one process) it does nothing.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any


class EventHub:
    def __init__(self) -> None:
        self._event = asyncio.Event()

    def next(self) -> asyncio.Event:
        return self._event

    def notify(self) -> None:
        self._event.set()
        self._event = asyncio.Event()

    @staticmethod
    async def wait(wake: asyncio.Event, timeout: float) -> bool:
        """True when woken, False on timeout (time for a heartbeat)."""
        try:
            await asyncio.wait_for(wake.wait(), timeout)
        except TimeoutError:
            return False
        return True

    @staticmethod
    async def wait_any(wakes: list[asyncio.Event], timeout: float) -> bool:
        """True when any of `wakes` is set (or was already), False on timeout."""
        if any(w.is_set() for w in wakes):
            return True
        waiters = [asyncio.ensure_future(w.wait()) for w in wakes]
        try:
            done, _ = await asyncio.wait(
                waiters, timeout=max(0.0, timeout), return_when=asyncio.FIRST_COMPLETED
            )
        finally:
            for waiter in waiters:
                waiter.cancel()
        return bool(done)


class PostgresNotifier:
    """LISTENs on the PostgreSQL changes channel and calls `hub.notify()` for every sync commit
    of any server process on the database (server.storage.postgres.notify.ChangeListener: one
    dedicated connection, reconnects with backoff, notifies once more after each reconnect)."""

    def __init__(self, url: str, hub: EventHub) -> None:
        from server.storage.postgres.notify import ChangeListener

        self.listener = ChangeListener(url, hub.notify)

    async def start(self) -> None:
        await self.listener.start()

    async def stop(self) -> None:
        await self.listener.stop()


@asynccontextmanager
async def cross_process_events(storage: Any, hub: EventHub) -> AsyncIterator[None]:
    """Wake `hub` on commits made by other processes, for as long as the context is open.

    A storage that can tell (PostgreSQL: `listen_changes`) is listened to; for others (SQLite, one
    process, where the push handler's own hub.notify() is enough) this does nothing."""
    listen = getattr(storage, "listen_changes", None)
    if listen is None:
        yield
        return
    async with listen(hub.notify):
        yield
