"""Retention periods in Prosody's notation (``archive_expires_after`` and the like).

Prosody's mod_mam reads ``"<number><unit>"`` with the units d, w, m, y, or a bare number of seconds,
or ``"never"``. We keep those forms and Prosody's month of 31 days; a year is 365 days here (Prosody
uses 365.2425), so every period is a whole number of days and reads the same in a calendar. Unlike
Prosody, which takes the first number it finds in the string, we reject anything that is not
exactly one of these forms: a typo must not become a retention period.
"""

from __future__ import annotations

import re
from datetime import timedelta

from garrulus.core.options import OptionValueError

__all__ = ["DURATION_EXPECTED", "format_duration", "parse_duration"]

DURATION_EXPECTED = (
    'a period like "1d", "2w", "3m" (month = 31 days) or "1y" (year = 365 days), '
    'a whole number of seconds (3600 or "3600"), or "never"'
)

_UNIT_DAYS = {"d": 1, "w": 7, "m": 31, "y": 365}
# Largest unit first, so format_duration picks the shortest spelling.
_FORMAT_ORDER = ("y", "m", "w", "d")
# ASCII only: str.isdigit() and \d without re.ASCII accept other scripts' digits; Prosody does not.
_PERIOD = re.compile(r"([0-9]+)\s*([dwmy]?)", re.ASCII)


def _positive(seconds: int, shown: str) -> timedelta:
    if seconds <= 0:
        raise OptionValueError(
            f'{shown} is not a positive period; write "never" to keep messages forever, '
            f"or {DURATION_EXPECTED}"
        )
    try:
        return timedelta(seconds=seconds)
    except OverflowError:
        raise OptionValueError(f'{shown} is too long a period; use "never" instead') from None


def parse_duration(value: object) -> timedelta | None:
    """Parse a period as written in the config file; None means "never" (no expiry).

    Already-parsed values (a positive ``timedelta``, or None) are returned unchanged, so an option
    may declare its default in either form.
    """
    if value is None:
        return None
    if isinstance(value, timedelta):
        if value <= timedelta(0):
            raise OptionValueError(f"expected {DURATION_EXPECTED}")
        return value
    # bool is an int subclass: `true` must not mean one second.
    if isinstance(value, int) and not isinstance(value, bool):
        return _positive(value, str(value))
    if isinstance(value, str):
        text = value.strip().lower()
        if text == "never":
            return None
        match = _PERIOD.fullmatch(text)
        if match is not None:
            number, unit = int(match[1]), match[2]
            if not unit:
                return _positive(number, repr(value))
            return _positive(number * _UNIT_DAYS[unit] * 86400, repr(value))
    raise OptionValueError(f"expected {DURATION_EXPECTED}")


def format_duration(period: timedelta | None) -> str:
    """The shortest config spelling of a period; ``parse_duration`` reads it back unchanged."""
    if period is None:
        return "never"
    if period <= timedelta(0) or period.microseconds:
        raise ValueError(f"{period!r} is not a positive whole number of seconds")
    # Not total_seconds(): a float loses whole seconds on periods of millions of years.
    seconds = period.days * 86400 + period.seconds
    for unit in _FORMAT_ORDER:
        unit_seconds = _UNIT_DAYS[unit] * 86400
        if seconds % unit_seconds == 0:
            return f"{seconds // unit_seconds}{unit}"
    return str(seconds)
