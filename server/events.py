"""Wake-ups for live views (server-sent events).

Live pages never receive event payloads from here: they re-read the changes feed after their
per-warehouse cursors, which is what makes reconnection lossless. The hub only says "something was
committed in these warehouses, look again", and only to the views that can see one of them: a live
view subscribes with its scope (`hub.subscribe(scope)`), indexed by warehouse, so a commit in one
warehouse wakes the views of that warehouse and no other.

The app keeps two hubs: `events` (a push committed) and `account_changes` (a token revoked, an
account disabled, an assignment changed in this process: live streams check their session at once).

Usage, without a lost wake-up:

    with hub.subscribe(scope) as subscription:
        while True:
            wake = subscription.next()     # take the wake-up before reading
            ... read changes after the cursors of subscription.take() ...
            await hub.wait(wake, 15)       # returns early when a warehouse in scope commits

Every commit reaches notify() through the storage's `listen_changes` (entered by the app's
lifespan through `cross_process_events()`): on PostgreSQL each sync commit NOTIFYs
`tigapilar_changes` with the warehouses it wrote inside its transaction, and every process LISTENs
(notify(None) after a reconnect); on SQLite (one process) the storage calls it after each commit.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Collection, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import Any


class Subscription:
    """One live view's wake-ups for the warehouses it can see: registered once in the hub's index,
    so a commit wakes it in O(1) when it wrote one of them, and never when it did not. `dirty`
    collects the warehouses written since the view last took them (None: any may have been, after
    a LISTEN reconnect or a wake-up without warehouses)."""

    def __init__(self, hub: EventHub, scope: frozenset[str]) -> None:
        self.hub = hub
        self.scope = scope
        self.dirty: set[str] | None = set()
        self._event = asyncio.Event()

    def next(self) -> asyncio.Event:
        """The wake-up to wait on: taken *before* reading, so nothing committed meanwhile is missed."""
        if self._event.is_set():
            self._event = asyncio.Event()
        return self._event

    def take(self) -> set[str] | None:
        """The warehouses written since the last take (None: every warehouse in scope)."""
        dirty, self.dirty = self.dirty, set()
        return dirty

    def wake(self, warehouse_id: str | None) -> None:
        if warehouse_id is None:
            self.dirty = None
        elif self.dirty is not None:
            self.dirty.add(warehouse_id)
        if not self._event.is_set():
            self._event.set()
            self.hub.wakeups += 1


class EventHub:
    def __init__(self) -> None:
        self._event = asyncio.Event()
        self._index: dict[str, set[Subscription]] = {}
        self._subscriptions: set[Subscription] = set()
        self.wakeups = 0
        """Subscriptions woken so far (bench/national.py counts them per commit)."""

    def next(self) -> asyncio.Event:
        """A wake-up for any notify, whatever it names (the account-changes hub, tests)."""
        return self._event

    def notify(self, warehouse_ids: Collection[str] | None = None) -> None:
        """Something was committed in these warehouses (None: in any): wake the plain waiters and
        the subscriptions that can see one of them."""
        self._event.set()
        self._event = asyncio.Event()
        if warehouse_ids is None:
            for subscription in self._subscriptions:
                subscription.wake(None)
            return
        for warehouse_id in warehouse_ids:
            for subscription in self._index.get(warehouse_id, ()):
                subscription.wake(warehouse_id)

    @contextmanager
    def subscribe(self, scope: Collection[str]) -> Iterator[Subscription]:
        """Wake-ups for the warehouses of `scope` for as long as the block runs."""
        subscription = Subscription(self, frozenset(scope))
        self._subscriptions.add(subscription)
        for warehouse_id in subscription.scope:
            self._index.setdefault(warehouse_id, set()).add(subscription)
        try:
            yield subscription
        finally:
            self._subscriptions.discard(subscription)
            for warehouse_id in subscription.scope:
                found = self._index.get(warehouse_id)
                if found is not None:
                    found.discard(subscription)
                    if not found:
                        del self._index[warehouse_id]

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
    """Wake `hub` on every sync commit, naming its warehouses, for as long as the context is open:
    the storage's `listen_changes` (PostgreSQL: LISTEN, every process's commits; SQLite: its own)."""
    listen = getattr(storage, "listen_changes", None)
    if listen is None:
        yield
        return
    async with listen(hub.notify):
        yield
