"""The token bucket behind archive query throttling (checklist ACL-06)."""

from __future__ import annotations

from garrulus.core.throttle import RateLimiter


class Ticks:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_burst_then_the_rate() -> None:
    t = Ticks()
    limiter = RateLimiter(rate=2.0, burst=3, clock=t)
    assert [limiter.take("a") for _ in range(4)] == [True, True, True, False]
    t.now += 0.5  # one token back at 2 per second
    assert [limiter.take("a") for _ in range(2)] == [True, False]
    t.now += 100  # refills up to the burst, no further
    assert [limiter.take("a") for _ in range(4)] == [True, True, True, False]


def test_keys_have_their_own_buckets() -> None:
    limiter = RateLimiter(rate=1.0, burst=1, clock=Ticks())
    assert limiter.take("a") and not limiter.take("a")
    assert limiter.take("b")


def test_rate_zero_never_refuses() -> None:
    limiter = RateLimiter(rate=0, burst=1, clock=Ticks())
    assert all(limiter.take("a") for _ in range(1000))


def test_a_clock_stepping_back_refills_nothing() -> None:
    t = Ticks()
    limiter = RateLimiter(rate=1.0, burst=1, clock=t)
    assert limiter.take("a")
    t.now -= 3600
    assert not limiter.take("a")
    t.now += 1
    assert limiter.take("a")


def test_memory_stays_bounded_under_key_churn() -> None:
    t = Ticks()
    limiter = RateLimiter(rate=1.0, burst=1, clock=t)
    limiter._MAX_KEYS = 100  # type: ignore[misc]
    for n in range(1000):
        limiter.take(f"k{n}")
        t.now += 1.0  # every older bucket has refilled: forgettable
    assert len(limiter._buckets) <= 101
