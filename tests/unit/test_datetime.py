"""XEP-0082 DateTime parsing and formatting (checklist FLT-07, FLT-08, RES-03)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from garrulus.xmpp.datetime import format_datetime, parse_datetime

MOON = datetime(1969, 7, 21, 2, 56, 15, tzinfo=UTC)


@pytest.mark.parametrize(
    "text",
    [
        "1969-07-21T02:56:15Z",
        "1969-07-20T21:56:15-05:00",  # XEP-0082's own example
        "1969-07-21T04:56:15+02:00",
        "1969-07-21T02:56:15.000Z",
        "1969-07-21T02:56:15.0Z",
        "1969-07-21T02:56:15+00:00",
        "1969-07-21T02:56:15-00:00",
        " 1969-07-21T02:56:15Z\n",  # xs:dateTime collapses surrounding white space
    ],
)
def test_xep0082_forms_of_one_instant(text: str) -> None:
    assert parse_datetime(text) == MOON


def test_flt_08_z_offset_and_fraction_forms_are_the_same_instant() -> None:
    # Conversations sends .SSSZ, Converse.js toISOString() (ms), Gajim whole seconds.
    forms = ["2024-03-01T10:00:00Z", "2024-03-01T12:00:00+02:00", "2024-03-01T10:00:00.000Z"]
    assert {parse_datetime(f) for f in forms} == {datetime(2024, 3, 1, 10, tzinfo=UTC)}


def test_flt_08_fraction_milliseconds() -> None:
    assert parse_datetime("2024-03-01T10:00:00.123Z").microsecond == 123000


def test_flt_08_fraction_microseconds() -> None:
    assert parse_datetime("2024-03-01T10:00:00.123456Z").microsecond == 123456


def test_flt_08_fraction_one_digit() -> None:
    assert parse_datetime("2024-03-01T10:00:00.5Z").microsecond == 500000


def test_flt_08_fraction_beyond_microseconds_is_truncated() -> None:
    assert parse_datetime("2024-03-01T10:00:00.1234569999Z").microsecond == 123456


def test_parsed_value_is_aware_utc() -> None:
    parsed = parse_datetime("2024-03-01T12:00:00+02:00")
    assert parsed.tzinfo is UTC
    assert parsed.hour == 10


def test_hour_24_is_midnight_ending_the_day() -> None:
    assert parse_datetime("2024-02-29T24:00:00Z") == datetime(2024, 3, 1, tzinfo=UTC)
    assert parse_datetime("2024-12-31T24:00:00.000+01:00") == datetime(2024, 12, 31, 23, tzinfo=UTC)


def test_offset_of_fourteen_hours_is_the_maximum() -> None:
    assert parse_datetime("2024-03-01T14:00:00+14:00") == datetime(2024, 3, 1, tzinfo=UTC)


@pytest.mark.parametrize(
    "text",
    [
        "2024-03-01T10:00:00",  # naive: XEP-0082 makes the zone mandatory
        "2024-03-01",  # date only
        "2024-03-01T10:00Z",  # no seconds
        "2024-03-01 10:00:00Z",  # space separator
        "2024-03-01t10:00:00z",  # xs:dateTime has upper-case T and Z only
        "2024-03-01T10:00:00+0200",  # offset without colon
        "2024-03-01T10:00:00+2:00",
        "2024-03-01T10:00:00.Z",  # a dot needs digits
        "2024-03-01T10:00:00+14:30",  # beyond the 14:00 xs:dateTime allows
        "2024-03-01T10:00:00+03:60",
        "2024-03-01T24:00:01Z",
        "2024-03-01T24:00:00.5Z",
        "2024-03-01T25:00:00Z",
        "2016-12-31T23:59:60Z",  # no leap seconds in xs:dateTime
        "2023-02-29T10:00:00Z",
        "2024-13-01T10:00:00Z",
        "0000-01-01T00:00:00Z",
        "0001-01-01T00:00:00+01:00",  # before year 1 in UTC
        "9999-12-31T23:59:59-01:00",  # after year 9999 in UTC
        "12024-03-01T10:00:00Z",
        "-2024-03-01T10:00:00Z",
        "\uff12\uff10\uff12\uff14-03-01T10:00:00Z",  # fullwidth digits are not ASCII digits
        "20240301T10:00:00Z",  # the legacy XEP-0091 format is not a DateTime
        "",
        "now",
    ],
)
def test_invalid_datetimes_raise_value_error(text: str) -> None:
    with pytest.raises(ValueError):
        parse_datetime(text)


def test_format_whole_seconds_has_no_fraction() -> None:
    assert format_datetime(MOON) == "1969-07-21T02:56:15Z"


def test_res_03_format_writes_microseconds_when_present() -> None:
    when = datetime(2025, 1, 1, 10, 0, 0, 123456, tzinfo=UTC)
    assert format_datetime(when) == "2025-01-01T10:00:00.123456Z"


def test_format_writes_all_six_digits() -> None:
    when = datetime(2025, 1, 1, 10, 0, 0, 120000, tzinfo=UTC)
    assert format_datetime(when) == "2025-01-01T10:00:00.120000Z"


def test_format_converts_to_utc() -> None:
    when = datetime(1969, 7, 20, 21, 56, 15, tzinfo=timezone(timedelta(hours=-5)))
    assert format_datetime(when) == "1969-07-21T02:56:15Z"


def test_format_pads_small_years() -> None:
    assert format_datetime(datetime(99, 1, 2, 3, 4, 5, tzinfo=UTC)) == "0099-01-02T03:04:05Z"


def test_format_refuses_naive() -> None:
    with pytest.raises(ValueError):
        format_datetime(datetime(2025, 1, 1))


def test_flt_07_formatted_stamp_parses_back_to_the_same_instant() -> None:
    # A <delay stamp> pasted into start/end must select exactly that message.
    when = datetime(2025, 6, 30, 23, 59, 59, 999999, tzinfo=UTC)
    assert parse_datetime(format_datetime(when)) == when


_OFFSETS = st.integers(min_value=-14 * 60, max_value=14 * 60).map(
    lambda minutes: timezone(timedelta(minutes=minutes))
)
_INSTANTS = st.datetimes(
    min_value=datetime(1, 1, 2),
    max_value=datetime(9999, 12, 30),
    timezones=st.just(UTC),
)
_CANONICAL = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{6})?Z")


@given(_INSTANTS, _OFFSETS)
def test_round_trip_any_instant_in_any_zone(instant: datetime, zone: timezone) -> None:
    local = instant.astimezone(zone)
    text = format_datetime(local)
    assert _CANONICAL.fullmatch(text)
    assert parse_datetime(text) == instant


@given(
    _INSTANTS,
    _OFFSETS,
    st.text(alphabet="0123456789", min_size=0, max_size=12),
    st.booleans(),
)
def test_parse_any_lexical_form(
    instant: datetime, zone: timezone, extra_digits: str, use_z: bool
) -> None:
    instant = instant.replace(microsecond=0)
    local = instant.astimezone(UTC if use_z else zone)
    offset = local.utcoffset()
    assert offset is not None
    if use_z:
        tzd = "Z"
    else:
        minutes = int(offset.total_seconds()) // 60
        sign = "-" if minutes < 0 else "+"
        tzd = f"{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"
    fraction = f".{extra_digits}" if extra_digits else ""
    text = local.strftime("%Y-%m-%dT%H:%M:%S").rjust(19, "0") + fraction + tzd
    expected_us = int(extra_digits[:6].ljust(6, "0")) if extra_digits else 0
    assert parse_datetime(text) == instant + timedelta(microseconds=expected_us)


@given(st.text(max_size=40))
def test_parse_never_raises_anything_but_value_error(text: str) -> None:
    try:
        parsed = parse_datetime(text)
    except ValueError:
        return
    assert parsed.tzinfo is UTC
