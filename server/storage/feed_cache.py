"""Recent changes of the pull feed, kept by (warehouse, revision).

A warehouse's revision names one state of one of its records for good. A record that changes again gets a new
revision, and rows are only ever removed (the tombstone purge), never rewritten under the same
number. So a change read once can answer every later pull that reaches its revision, for as long
as it is kept. In a reconnect storm every phone of a warehouse pulls the same recent changes;
reading and decoding each row once instead of once per phone saved a fifth of the server's CPU
(docs/benchmarks.md).

Only pulls whose cursor is within `capacity` revisions of their warehouse's newest use it
(`covers()`): an initial sync from far back reads its pages straight from the table, as before,
and does not push the recent changes out.

Threads: reader threads only call `get()`; `put()` and its eviction run on the event loop. Single
dict reads and writes are atomic under the GIL, and nothing iterates the dict off the loop.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping

from sync.messages import Change

FEED_CACHE_CHANGES = 32_768
"""Changes kept (~1.2 kB each: ~35 MiB): more than a morning's storm of a city's phones writes."""


def capacity_from_env(env: Mapping[str, str] | None = None) -> int:
    """$TIGAPILAR_FEED_CACHE_CHANGES (0 turns the cache off), else FEED_CACHE_CHANGES."""
    value = (os.environ if env is None else env).get("TIGAPILAR_FEED_CACHE_CHANGES", "").strip()
    return int(value) if value.isdigit() else FEED_CACHE_CHANGES


class FeedCache:
    def __init__(self, capacity: int = FEED_CACHE_CHANGES) -> None:
        self.capacity = capacity
        self._changes: dict[tuple[str, int], Change] = {}

    def __len__(self) -> int:
        return len(self._changes)

    def covers(self, after: int, latest: int) -> bool:
        """Whether a pull after `after` reads recent enough changes to go through the cache."""
        return self.capacity > 0 and after >= latest - self.capacity

    def get(self, warehouse_id: str, revision: int) -> Change | None:
        return self._changes.get((warehouse_id, revision))

    def put(self, changes: Iterable[Change]) -> None:
        """Keep these changes; beyond capacity, the ones kept longest go first."""
        kept = self._changes
        for change in changes:
            kept[(change.warehouse_id, change.revision)] = change
        while len(kept) > self.capacity:
            del kept[next(iter(kept))]
