"""Hybrid logical clock.

A stamp is "<13-digit ms>-<5-digit counter>-<node>", so stamps compare correctly as strings.
The clock never goes backwards: a phone whose wall clock is hours off still orders its own edits
correctly, and a stamp received from a clock that runs ahead pulls ours forward instead of
producing an edit that sorts before one its author had seen. The server never uses a client's
stamp as a cursor: cursors are server revisions.
"""

from __future__ import annotations

import time
from collections.abc import Callable

MAX_COUNTER = 99_999


def format_hlc(ms: int, counter: int, node: str) -> str:
    return f"{ms:013d}-{counter:05d}-{node}"


def parse_hlc(stamp: str) -> tuple[int, int, str]:
    ms, counter, node = stamp.split("-", 2)
    return int(ms), int(counter), node


class HybridClock:
    def __init__(self, node: str, wall: Callable[[], int] | None = None) -> None:
        self.node = node
        self._wall = wall or (lambda: time.time_ns() // 1_000_000)
        self._ms = 0
        self._counter = 0

    def wall_ms(self) -> int:
        """The wall clock this HLC follows, in ms."""
        return self._wall()

    def now(self) -> str:
        """A stamp for a local event, later than every stamp issued or received so far."""
        wall = self._wall()
        if wall > self._ms:
            self._ms, self._counter = wall, 0
        else:
            self._tick()
        return format_hlc(self._ms, self._counter, self.node)

    def receive(self, stamp: str) -> str:
        """Merge a remote stamp; returns a local stamp later than both."""
        remote_ms, remote_counter, _ = parse_hlc(stamp)
        wall = self._wall()
        if wall > self._ms and wall > remote_ms:
            self._ms, self._counter = wall, 0
        elif remote_ms > self._ms:
            self._ms, self._counter = remote_ms, remote_counter
            self._tick()
        elif remote_ms == self._ms:
            self._counter = max(self._counter, remote_counter)
            self._tick()
        else:
            self._tick()
        return format_hlc(self._ms, self._counter, self.node)

    def _tick(self) -> None:
        if self._counter >= MAX_COUNTER:
            # Counter exhausted within one millisecond: borrow the next millisecond.
            self._ms += 1
            self._counter = 0
        else:
            self._counter += 1
