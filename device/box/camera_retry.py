"""A lost camera is a state the box is in, not a crash: re-open attempts spaced out.

An unplugged camera fails fast on every open; if each idle check and each live-view frame
tried again, the box would hammer the driver (and the journal) several times a second. So
after a failure the next background attempt waits `min_s`, doubling up to `max_s`, and the
first success resets it. An operator's own capture always tries at once: they just plugged
it back in.
"""

from __future__ import annotations

import time
from collections.abc import Callable


class RetrySchedule:
    """When the next background re-open of a lost camera is due (exponential backoff)."""

    def __init__(self, min_s: float = 1.0, max_s: float = 30.0, clock: Callable[[], float] = time.monotonic):
        self.min_s, self.max_s = min_s, max(max_s, min_s)
        self._clock = clock
        self.failures = 0
        self._next_at = 0.0
        self._delay = 0.0

    def due(self) -> bool:
        """True when nothing failed yet, or the wait after the last failure is over."""
        return self.failures == 0 or self._clock() >= self._next_at

    def failed(self) -> float:
        """Record a failed attempt; returns the wait before the next one."""
        self.failures += 1
        self._delay = self.min_s if self.failures == 1 else min(self.max_s, self._delay * 2)
        self._next_at = self._clock() + self._delay
        return self._delay

    def succeeded(self) -> None:
        self.failures = 0
        self._delay = 0.0

    def wait_s(self) -> float | None:
        """Seconds until the next attempt (None while the camera works)."""
        return None if self.failures == 0 else max(0.0, round(self._next_at - self._clock(), 2))
