"""When a failed delivery is attempted again: exponential backoff with jitter, for at least the retry
window (24 hours by default), then the dead-letter list."""

from __future__ import annotations

import random
from dataclasses import dataclass


@dataclass(frozen=True, kw_only=True)
class RetrySchedule:
    first_s: float = 10.0
    max_s: float = 3600.0
    window_s: float = 24 * 3600.0

    def delay(self, attempts: int, rng: random.Random | None = None) -> float:
        """Wait after the `attempts`-th failed attempt: first_s, doubling, at most max_s, each
        between half and all of it (jitter: receivers coming back are not hit by every sender at
        the same instant)."""
        base = min(self.max_s, self.first_s * 2.0 ** max(0, attempts - 1))
        jitter: float = (rng or random).random()
        return base * (0.5 + 0.5 * jitter)

    def next_attempt(self, attempts: int, created_at: float, now: float) -> float | None:
        """Time of the next attempt, or None once the delivery has been failing for the window."""
        if now - created_at >= self.window_s:
            return None
        return now + self.delay(attempts)
