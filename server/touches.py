"""Devices' last_seen, written in batches.

A device's `last_seen` is a supervisor's hint ("this phone has not been seen for 6 hours": the
admin's device list, the overview's contact flags), not user data. `authenticate()` refreshes it
at most every `Config.touch_interval_s` per device, and does not write it itself: it notes the time
here, and a background task writes everything noted in ONE write transaction every
`Config.touch_flush_interval_s` (about a second). When 500 phones reconnect at once after a night
offline, that is a handful of small transactions instead of 500, each with its fsync and its turn
under the SQLite writer lock, queued among the phones' push batches.

What it costs:

- last_seen trails the request by up to one flush interval.
- A clean stop loses nothing: the app's lifespan stops the task and flushes once more before the
  storage closes. A crash (or a final flush failing) loses the touches noted since the last flush,
  about a second's worth; the next request of each of those devices notes it again.
- While the storage is unavailable, flushes fail: the failure is logged, the noted times are kept
  (one entry per device, so memory is bounded by the number of devices) and written by the first
  flush that succeeds.
- A device is noted once until its time is written; requests meanwhile find the stored last_seen
  still old and do not note it again. With several server processes (PostgreSQL) each has its own
  batch; the storage never lets an older time replace a newer one.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from server.storage import Storage
from server.storage.base import StorageUnavailable

log = logging.getLogger("tigapilar.touches")


class DeviceTouches:
    """last_seen times noted by `authenticate()`, written by `flush()`: by the background task
    (`start()`), every `interval_s`, and once more by `close()`. Tests call `flush()` to write now."""

    def __init__(self, storage: Storage, *, interval_s: float) -> None:
        self._storage = storage
        self._interval_s = interval_s
        self._pending: dict[str, str] = {}
        """device id -> time noted, not yet handed to the storage."""
        self._writing: dict[str, str] = {}
        """The batch the storage is writing now."""
        self._flush_lock = asyncio.Lock()
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._failures = 0

    def note(self, device_id: str, at: str) -> None:
        """Record that `device_id` was seen at `at` (ISO time), unless it is already waiting to be
        written."""
        if device_id not in self._pending and device_id not in self._writing:
            self._pending[device_id] = at

    @property
    def pending(self) -> int:
        """How many devices' times are waiting to be written (the batch being written included)."""
        return len(self._pending) + len(self._writing)

    async def flush(self) -> int:
        """Write every noted time in one storage call; returns how many devices it wrote (0: nothing
        noted, no transaction). On failure the times are kept for the next flush and the error is
        raised."""
        async with self._flush_lock:
            if not self._pending:
                return 0
            batch, self._pending = self._pending, {}
            self._writing = batch
            try:
                await self._storage.touch_devices(sorted(batch.items()))
            except BaseException:
                # Keep them (cancelled included): a later flush, the one at shutdown at the latest,
                # writes them. Nothing can have been noted for these devices meanwhile.
                for device_id, at in batch.items():
                    self._pending[device_id] = max(at, self._pending.get(device_id, at))
                raise
            finally:
                self._writing = {}
            return len(batch)

    # -- the background task -----------------------------------------------------------------------
    def start(self) -> None:
        if self._task is None:
            self._stop.clear()
            self._task = asyncio.create_task(self._run(), name="tigapilar-device-touches")

    async def close(self) -> None:
        """Stop the background task (letting a flush in progress finish) and flush what is left.
        A failing final flush is logged: those devices' last_seen stays at its previous value."""
        if self._task is not None:
            self._stop.set()
            await self._task
            self._task = None
        try:
            await self.flush()
        except Exception as exc:
            log.warning("last_seen of %d devices not written at shutdown: %s", self.pending, exc)

    async def _run(self) -> None:
        while not self._stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), self._interval_s)
            if self._stop.is_set():
                return  # close() flushes
            await self._flush_logged()

    async def _flush_logged(self) -> None:
        """One tick's flush: never raises, logs the first failure of a run of failures and the
        recovery (not one line a second while the database is down)."""
        try:
            await self.flush()
        except Exception as exc:
            self._failures += 1
            if self._failures == 1:
                level = logging.WARNING if isinstance(exc, StorageUnavailable) else logging.ERROR
                log.log(
                    level,
                    "last_seen of %d devices not written (%s); retrying every %g s",
                    self.pending,
                    exc,
                    self._interval_s,
                    exc_info=not isinstance(exc, StorageUnavailable),
                )
            return
        if self._failures:
            log.info("last_seen written again after %d failed attempts", self._failures)
            self._failures = 0
