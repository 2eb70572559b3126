"""Archive ids: layout, encoding, order, time bounds and the generator's guarantees."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from garrulus.storage.ids import (
    EPOCH,
    ID_LENGTH,
    MAX_ID,
    SEQ_BITS,
    SEQ_MASK,
    IdGenerator,
    decode_id,
    encode_id,
    id_ceiling,
    id_floor,
    id_time,
)

from .conftest import FakeClock

ids = st.integers(min_value=0, max_value=MAX_ID)
times = st.datetimes(
    min_value=datetime(2020, 1, 1), max_value=datetime(2290, 1, 1), timezones=st.just(UTC)
)


@given(ids)
def test_round_trip(value: int) -> None:
    text = encode_id(value)
    assert len(text) == ID_LENGTH
    assert decode_id(text) == value


@given(ids)
def test_encoding_is_base32_digit_by_digit(value: int) -> None:
    # The encoder works 10 bits at a time; this spells the same id 5 bits at a time.
    alphabet = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
    digits = [alphabet[(value >> (5 * k)) & 31] for k in reversed(range(ID_LENGTH))]
    assert encode_id(value) == "".join(digits)


@given(ids, ids)
def test_string_order_is_numeric_order(a: int, b: int) -> None:
    assert (encode_id(a) < encode_id(b)) == (a < b)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "0",
        "0" * 12,
        "0" * 14,
        "8" + "0" * 12,  # would need the 64th bit: beyond signed storage
        "Z" * 13,
        "0000000000I00",  # Crockford never writes I, L, O, U
        "0000000000L00",
        "0000000000O00",
        "0000000000U00",
        "03nhyp300e1pj",  # only the canonical (upper-case) spelling
        "03NHYP300E1P ",
        "03NHYP300E1P\n",
        "\uff10" * 13,  # full-width digits are digits to Python, not to us
    ],
)
def test_impossible_ids_decode_to_none(text: str) -> None:
    assert decode_id(text) is None


def test_non_strings_decode_to_none() -> None:
    assert decode_id(None) is None  # type: ignore[arg-type]
    assert decode_id(123) is None  # type: ignore[arg-type]


def test_encode_rejects_out_of_range() -> None:
    with pytest.raises(ValueError):
        encode_id(-1)
    with pytest.raises(ValueError):
        encode_id(MAX_ID + 1)


def test_extremes() -> None:
    assert encode_id(0) == "0" * 13
    assert encode_id(MAX_ID) == "7" + "Z" * 12


@given(times)
def test_floor_and_ceiling_bracket_the_millisecond(when: datetime) -> None:
    lo, hi = id_floor(when), id_ceiling(when)
    assert hi - lo == SEQ_MASK
    whole_ms = when.replace(microsecond=when.microsecond // 1000 * 1000)
    assert id_time(lo) == id_time(hi) == whole_ms
    # Time order is id order: the next millisecond starts right after.
    assert id_floor(when + timedelta(milliseconds=1)) == (lo >> SEQ_BITS) + 1 << SEQ_BITS


def test_bounds_outside_the_id_range() -> None:
    before = datetime(2019, 12, 31, 23, 59, tzinfo=UTC)
    assert id_floor(before) == 0  # a start before 2020: everything
    assert id_ceiling(before) == -1  # an end before 2020: nothing
    far = datetime(9999, 1, 1, tzinfo=UTC)
    assert id_floor(far) == MAX_ID + 1  # a start after 2298: nothing
    assert id_ceiling(far) == MAX_ID
    assert id_floor(EPOCH) == 0


def test_naive_datetimes_are_refused() -> None:
    with pytest.raises(ValueError):
        id_floor(datetime(2024, 1, 1))


def test_live_ids_increase_and_follow_the_clock() -> None:
    clock = FakeClock(datetime(2025, 1, 1, tzinfo=UTC))
    gen = IdGenerator(clock)
    first = [gen.next_id() for _ in range(1000)]
    assert first == sorted(first) and len(set(first)) == 1000
    assert {id_time(i) for i in first} == {clock.now}
    clock.advance(seconds=1)
    later = gen.next_id()
    assert later > first[-1] and id_time(later) == clock.now


def test_live_ids_stay_monotonic_when_the_clock_steps_back() -> None:
    clock = FakeClock(datetime(2025, 1, 1, tzinfo=UTC))
    gen = IdGenerator(clock)
    a = gen.next_id()
    clock.advance(hours=-1)
    b = gen.next_id()
    assert b > a
    assert id_time(b) == id_time(a)  # held at the last millisecond, not rewound


def test_each_millisecond_starts_at_a_random_offset() -> None:
    clock = FakeClock(datetime(2025, 1, 1, tzinfo=UTC))
    gen = IdGenerator(clock)
    starts = set()
    for _ in range(20):
        clock.advance(milliseconds=1)
        starts.add(gen.next_id() & SEQ_MASK)
    assert len(starts) > 15


def test_millisecond_overflow_borrows_the_next() -> None:
    clock = FakeClock(datetime(2025, 1, 1, tzinfo=UTC))
    gen = IdGenerator(clock)
    gen.observe(id_ceiling(clock.now) - 1)  # the sequence of this ms is nearly spent
    a, b, c = gen.next_id(), gen.next_id(), gen.next_id()
    assert a < b < c
    assert id_time(c) == clock.now + timedelta(milliseconds=1)


def test_old_messages_get_ids_from_their_own_time() -> None:
    clock = FakeClock(datetime(2025, 1, 1, tzinfo=UTC))
    gen = IdGenerator(clock)
    old = datetime(2023, 5, 17, 8, 0, 0, 123000, tzinfo=UTC)
    assert id_time(gen.id_for(old)) == old
    recent = clock.now - timedelta(seconds=5)  # within the slack: a live id, now
    assert id_time(gen.id_for(recent)) == clock.now
    future = clock.now + timedelta(days=1)  # never ahead of the clock
    assert id_time(gen.id_for(future)) == clock.now


def test_imports_into_one_millisecond_are_unique_and_ordered() -> None:
    clock = FakeClock(datetime(2025, 1, 1, tzinfo=UTC))
    gen = IdGenerator(clock)
    old = datetime(2023, 5, 17, tzinfo=UTC)
    got = [gen.id_for(old) for _ in range(500)]
    assert got == sorted(got) and len(set(got)) == 500


def test_imports_never_collide_with_live_ids_of_the_same_millisecond() -> None:
    clock = FakeClock(datetime(2025, 1, 1, tzinfo=UTC))
    gen = IdGenerator(clock)
    live = {gen.next_id() for _ in range(100)}
    clock.advance(minutes=5)
    gen.next_id()
    imported = {gen.id_at(datetime(2025, 1, 1, tzinfo=UTC)) for _ in range(100)}
    assert not live & imported
    assert min(imported) > max(live)


def test_observe_moves_live_ids_past_a_stored_id() -> None:
    clock = FakeClock(datetime(2025, 1, 1, tzinfo=UTC))
    gen = IdGenerator(clock)
    stored = id_floor(datetime(2026, 1, 1, tzinfo=UTC)) + 7  # written before the clock stepped back
    gen.observe(stored)
    assert gen.next_id() == stored + 1


def test_dedup_values_are_time_ordered_and_match_the_hour_before() -> None:
    from datetime import UTC, datetime, timedelta

    from garrulus.storage.dedup import dedup_candidates, dedup_hash

    t = datetime(2026, 5, 1, 12, 30, tzinfo=UTC)
    stored = dedup_hash("a@x", "k", t)
    assert dedup_candidates("a@x", "k", t)[0] == stored  # the writer hashes each row once
    assert stored in dedup_candidates("a@x", "k", t + timedelta(minutes=45))  # next hour
    assert stored not in dedup_candidates("a@x", "k", t + timedelta(hours=3))
    assert stored not in dedup_candidates("b@x", "k", t)
    assert dedup_hash("z@x", "zz", t) < dedup_hash("a@x", "a", t + timedelta(hours=1))
    assert 0 < stored < 2**63
