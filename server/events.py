"""Wake-ups for live views (server-sent events).

Live pages never receive event payloads from here: they re-read the changes feed after their last
revision, which is what makes reconnection lossless (the SSE event id is the revision, so
Last-Event-ID is a cursor). The hub only says "something was committed, look again".

Usage, without a lost wake-up:

    wake = hub.next()          # take the wake-up before reading
    ... read changes after cursor ...
    await hub.wait(wake, 15)   # returns early when anything commits after next()

With several server processes (PostgreSQL), LISTEN/NOTIFY calls notify() in every process.
"""

from __future__ import annotations

import asyncio


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
