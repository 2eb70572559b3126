"""Throttles: failed logins per address and account (a sliding window of failures), and a
token bucket per key for requests that cost real work."""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable


class FailureThrottle:
    def __init__(
        self, max_failures: int, window: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.max_failures = max_failures
        self.window = window
        self._clock = clock
        self._failures: dict[str, deque[float]] = {}

    def _recent(self, key: str) -> deque[float]:
        now = self._clock()
        q = self._failures.get(key)
        if q is None:
            return deque()
        while q and now - q[0] > self.window:
            q.popleft()
        if not q:
            del self._failures[key]
        return q

    def blocked(self, key: str) -> bool:
        return len(self._recent(key)) >= self.max_failures

    def fail(self, key: str) -> None:
        self._recent(key)
        self._failures.setdefault(key, deque()).append(self._clock())
        if len(self._failures) > 100_000:  # hostile address churn must not grow memory forever
            for stale in list(self._failures)[:50_000]:
                del self._failures[stale]

    def succeed(self, key: str) -> None:
        self._failures.pop(key, None)


class RateLimiter:
    """A token bucket per key: ``burst`` requests at once, then ``rate`` per second.

    For requests that cost real work (archive queries): a client catching up pages through its
    archive within the burst, a client flooding gets refused instead of taking the server's time
    from everyone else. ``rate`` 0 means no limit.
    """

    _MAX_KEYS = 100_000

    def __init__(
        self, rate: float, burst: int, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.rate = rate
        self.burst = max(1, burst)
        self._clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}  # key -> (tokens, when)

    def take(self, key: str) -> bool:
        """Spend one token of ``key``'s bucket; False if it is empty."""
        if self.rate <= 0:
            return True
        now = self._clock()
        tokens, then = self._buckets.get(key, (float(self.burst), now))
        # max(): a clock stepping back refills nothing rather than draining the bucket.
        tokens = min(float(self.burst), tokens + max(0.0, now - then) * self.rate)
        if tokens < 1.0:
            self._buckets[key] = (tokens, now)
            return False
        self._buckets[key] = (tokens - 1.0, now)
        if len(self._buckets) > self._MAX_KEYS:
            self._forget_full(now)
        return True

    def _forget_full(self, now: float) -> None:
        # A bucket that has refilled is the same as no bucket: dropping those bounds memory.
        for key, (tokens, then) in list(self._buckets.items()):
            if tokens + max(0.0, now - then) * self.rate >= self.burst:
                del self._buckets[key]
