"""Retention periods in Prosody's notation (archive_expires_after)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from garrulus.core.durations import DURATION_EXPECTED, format_duration, parse_duration
from garrulus.core.options import OptionValueError

DAY = timedelta(days=1)
UNIT_DAYS = {"d": 1, "w": 7, "m": 31, "y": 365}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1d", DAY),
        ("1w", 7 * DAY),
        ("2m", 62 * DAY),  # Prosody's month: 31 days
        ("1y", 365 * DAY),
        ("1W", 7 * DAY),  # Prosody lower-cases the value
        ("3 d", 3 * DAY),  # and allows space between number and unit
        (" 2w ", 14 * DAY),
        ("3600", timedelta(hours=1)),  # a bare number is seconds
        (3600, timedelta(hours=1)),
        ("never", None),
        ("Never", None),
    ],
)
def test_accepted_forms(text: object, expected: timedelta | None) -> None:
    assert parse_duration(text) == expected


GENERIC = f"expected {DURATION_EXPECTED}"


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("1x", GENERIC),
        ("12h", GENERIC),  # Prosody's mod_mam has no hours either
        ("", GENERIC),
        ("w", GENERIC),
        ("-1d", GENERIC),
        ("1.5d", GENERIC),
        ("1d2w", GENERIC),
        ("1 week", GENERIC),
        ("٣d", GENERIC),  # non-ASCII digits
        ("forever", GENERIC),
        (1.5, GENERIC),
        (True, GENERIC),  # bool is an int in Python; not here
        (False, GENERIC),
        (["1d"], GENERIC),
        ({"days": 1}, GENERIC),
        (timedelta(0), GENERIC),
        (
            0,
            '0 is not a positive period; write "never" to keep messages forever, '
            f"or {DURATION_EXPECTED}",
        ),
        (
            -5,
            '-5 is not a positive period; write "never" to keep messages forever, '
            f"or {DURATION_EXPECTED}",
        ),
        (
            "0d",
            "'0d' is not a positive period; write \"never\" to keep messages forever, "
            f"or {DURATION_EXPECTED}",
        ),
        ("99999999999y", "'99999999999y' is too long a period; use \"never\" instead"),
    ],
)
def test_rejected_forms(value: object, message: str) -> None:
    with pytest.raises(OptionValueError) as caught:
        parse_duration(value)
    assert str(caught.value) == message


def test_message_lists_every_accepted_form() -> None:
    for form in ('"1d"', '"2w"', '"3m"', '"1y"', "seconds", '"never"', "31 days", "365 days"):
        assert form in DURATION_EXPECTED


@given(st.integers(min_value=1, max_value=10**6), st.sampled_from(sorted(UNIT_DAYS)))
def test_units(number: int, unit: str) -> None:
    assert parse_duration(f"{number}{unit}") == timedelta(days=number * UNIT_DAYS[unit])
    assert parse_duration(f"{number} {unit.upper()}") == timedelta(days=number * UNIT_DAYS[unit])


@given(st.integers(min_value=1, max_value=10**12))
def test_seconds_as_int_or_string(seconds: int) -> None:
    assert parse_duration(seconds) == parse_duration(str(seconds)) == timedelta(seconds=seconds)


@given(st.integers(min_value=1, max_value=10**12))
def test_format_round_trip(seconds: int) -> None:
    period = timedelta(seconds=seconds)
    text = format_duration(period)
    assert parse_duration(text) == period
    # The shortest spelling: no larger unit divides it exactly.
    if text[-1] in UNIT_DAYS:
        larger = [u for u, d in UNIT_DAYS.items() if d > UNIT_DAYS[text[-1]]]
        assert all(seconds % (UNIT_DAYS[u] * 86400) for u in larger)


@given(
    st.one_of(
        st.just("never"),
        st.integers(min_value=1, max_value=10**9),
        st.builds(
            "{}{}".format, st.integers(min_value=1, max_value=10**5), st.sampled_from("dwmy")
        ),
    )
)
def test_parse_is_idempotent(value: object) -> None:
    # Option defaults go through the parser too, in either form.
    parsed = parse_duration(value)
    assert parse_duration(parsed) == parsed
    assert parse_duration(format_duration(parsed)) == parsed


@pytest.mark.parametrize(
    ("period", "text"),
    [
        (None, "never"),
        (DAY, "1d"),
        (14 * DAY, "2w"),
        (62 * DAY, "2m"),
        (730 * DAY, "2y"),
        (372 * DAY, "12m"),  # twelve Prosody months are not a year
        (timedelta(seconds=90), "90"),
    ],
)
def test_format(period: timedelta | None, text: str) -> None:
    assert format_duration(period) == text


@pytest.mark.parametrize("period", [timedelta(0), timedelta(seconds=-1), timedelta(seconds=1.5)])
def test_format_rejects_what_parse_cannot_read(period: timedelta) -> None:
    with pytest.raises(ValueError):
        format_duration(period)
