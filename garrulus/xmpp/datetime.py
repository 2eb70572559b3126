"""XEP-0082 DateTime: parse any conforming timestamp, format one canonical UTC form.

XEP-0082 defers to XML Schema ``xs:dateTime`` where the two differ, so the accepted grammar is
``CCYY-MM-DDThh:mm:ss[.s+](Z|(+|-)hh:mm)`` with XML Schema's extras (surrounding whitespace is
collapsed away, ``24:00:00`` is the midnight ending that day, offsets reach at most ``14:00``).
Everything else is a :class:`ValueError`: a missing time zone (XEP-0082 makes it mandatory), a
bare date, lower-case ``t``/``z``, a leap second (``xs:dateTime`` has none), years outside 1..9999.

Fractional seconds may have any number of digits (clients send none, milliseconds or
microseconds); digits past the microsecond are truncated, since that is all a
:class:`~datetime.datetime` holds and all the archive stores.

Formatting always writes UTC with ``Z``. Sub-second digits are written as exactly six digits
(microseconds) when the value has any, and left out otherwise: archive timestamps are stored to
the microsecond and a client copying a ``<delay stamp>`` into a ``start``/``end`` filter must get
that same instant back (checklist FLT-07), which milliseconds would break.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

__all__ = ["format_datetime", "parse_datetime"]

# [0-9] rather than \d: \d also matches non-ASCII digits, which xs:dateTime does not allow.
_DATETIME = re.compile(
    r"(?P<year>[0-9]{4})-(?P<month>[0-9]{2})-(?P<day>[0-9]{2})"
    r"T(?P<hour>[0-9]{2}):(?P<minute>[0-9]{2}):(?P<second>[0-9]{2})"
    r"(?:\.(?P<fraction>[0-9]+))?"
    r"(?:(?P<utc>Z)|(?P<sign>[+-])(?P<tzhour>[0-9]{2}):(?P<tzminute>[0-9]{2}))"
)
_MAX_OFFSET = timedelta(hours=14)
# xs:dateTime's whiteSpace facet is "collapse": only XML white space is stripped, not all of
# Unicode's.
_XML_SPACE = " \t\r\n"


def parse_datetime(text: str) -> datetime:
    """Parse an XEP-0082 DateTime into an aware UTC datetime; raise ValueError if it is not one."""
    match = _DATETIME.fullmatch(text.strip(_XML_SPACE))
    if match is None:
        raise ValueError(f"not an XEP-0082 DateTime (CCYY-MM-DDThh:mm:ss[.sss]TZD): {text!r}")
    fraction = match["fraction"] or ""
    microsecond = int(fraction[:6].ljust(6, "0"))
    hour = int(match["hour"])
    end_of_day = hour == 24
    if end_of_day:
        # XML Schema 1.0 allows 24:00:00 (only with zero minutes, seconds and fraction) for the
        # midnight that ends the day.
        if match["minute"] != "00" or match["second"] != "00" or fraction.strip("0"):
            raise ValueError(f"hour 24 is only allowed as 24:00:00: {text!r}")
        hour = 0
    if match["utc"]:
        offset = timedelta(0)
    else:
        offset = timedelta(hours=int(match["tzhour"]), minutes=int(match["tzminute"]))
        if int(match["tzminute"]) > 59 or offset > _MAX_OFFSET:
            raise ValueError(f"time zone offset out of range (at most 14:00): {text!r}")
        if match["sign"] == "-":
            offset = -offset
    try:
        local = datetime(
            int(match["year"]),
            int(match["month"]),
            int(match["day"]),
            hour,
            int(match["minute"]),
            int(match["second"]),
            microsecond,
            tzinfo=UTC,
        )
        if end_of_day:
            local += timedelta(days=1)
        # The fields were read as UTC; subtracting the offset makes them the UTC instant.
        return local - offset
    except (ValueError, OverflowError) as exc:
        # Out-of-range fields (month 13, Feb 30, second 60), or an instant outside 1..9999 UTC.
        raise ValueError(f"not a valid DateTime: {text!r} ({exc})") from None


def format_datetime(when: datetime) -> str:
    """Format an aware datetime as XEP-0082 DateTime in UTC: ``2010-07-10T23:08:25[.123456]Z``."""
    if when.tzinfo is None or when.utcoffset() is None:
        raise ValueError("refusing to format a naive datetime: its instant is unknown")
    utc = when.astimezone(UTC)
    out = (
        f"{utc.year:04d}-{utc.month:02d}-{utc.day:02d}"
        f"T{utc.hour:02d}:{utc.minute:02d}:{utc.second:02d}"
    )
    if utc.microsecond:
        out += f".{utc.microsecond:06d}"
    return out + "Z"
