"""Archive ids: time-ordered 64-bit snowflakes, shown to clients as sortable base32 strings.

Layout of the integer (fits a signed 64-bit SQL ``BIGINT`` / SQLite ``INTEGER``)::

    [ milliseconds since 2020-01-01 UTC : 44 bits ][ in-millisecond part : 20 bits ]

Because the id is time-ordered, one column is the key of everything: paging (keyset on id),
start/end filters (id ranges via :func:`id_floor` / :func:`id_ceiling`), expiry (delete by id
range) and the message time itself (:func:`id_time`, millisecond precision).

The top bit must stay clear for signed storage, so ids run out in 2298; times before 2020 clamp
to the epoch (an import of older messages keeps their order but reports 2020-01-01).
"""

from __future__ import annotations

import random
import re
import secrets
import threading
from collections import OrderedDict
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

Clock = Callable[[], datetime]

EPOCH = datetime(2020, 1, 1, tzinfo=UTC)
SEQ_BITS = 20
SEQ_MASK = (1 << SEQ_BITS) - 1
MAX_ID = (1 << 63) - 1  # signed 64-bit storage
MAX_MS = MAX_ID >> SEQ_BITS
ID_LENGTH = 13  # 13 * 5 bits = 65 >= 64: fixed width, so string order == numeric order

# Crockford base32: digits then letters without I, L, O, U; ASCII-sorted, as the order needs.
_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_PY_DIGITS = "0123456789abcdefghijklmnopqrstuv"  # what int(s, 32) reads
_TO_PY = str.maketrans(_ALPHABET, _PY_DIGITS)
# Only the canonical spelling is accepted, so decode/encode is a bijection and an id string can
# be compared or deduplicated as a string. The first character carries the 63rd-65th bits.
_ID_RE = re.compile(r"[0-7][0-9A-HJKMNP-TV-Z]{12}")
_ONE_MS = timedelta(milliseconds=1)


def utc_now() -> datetime:
    return datetime.now(UTC)


# Two characters per 10 bits: an id is 1 + 6 lookups instead of 13 (every message makes two).
_PAIRS = tuple(a + b for a in _ALPHABET for b in _ALPHABET)


def encode_id(archive_id: int) -> str:
    """The client-visible form: 13 Crockford base32 characters, zero-padded."""
    if not 0 <= archive_id <= MAX_ID:
        raise ValueError(f"archive id out of range: {archive_id}")
    pairs = _PAIRS
    return (
        _ALPHABET[archive_id >> 60]
        + pairs[(archive_id >> 50) & 1023]
        + pairs[(archive_id >> 40) & 1023]
        + pairs[(archive_id >> 30) & 1023]
        + pairs[(archive_id >> 20) & 1023]
        + pairs[(archive_id >> 10) & 1023]
        + pairs[archive_id & 1023]
    )


def decode_id(text: object) -> int | None:
    """The integer behind a client-visible id, or None if no id could ever be spelled so."""
    if not isinstance(text, str) or _ID_RE.fullmatch(text) is None:
        return None
    return int(text.translate(_TO_PY), 32)


def _ms_since_epoch(when: datetime) -> int:
    if when.tzinfo is None or when.utcoffset() is None:
        raise ValueError(f"naive datetime has no place on the archive time line: {when!r}")
    return (when - EPOCH) // _ONE_MS


def _clamp_ms(ms: int) -> int:
    return min(max(ms, 0), MAX_MS)


def id_floor(when: datetime) -> int:
    """The smallest id of ``when``'s millisecond: ``id >= id_floor(start)`` is an inclusive start.

    Before 2020 this is 0 (everything); past the id range it is ``MAX_ID + 1`` (nothing).
    """
    ms = _ms_since_epoch(when)
    if ms > MAX_MS:
        return MAX_ID + 1
    return max(ms, 0) << SEQ_BITS


def id_ceiling(when: datetime) -> int:
    """The largest id of ``when``'s millisecond: ``id <= id_ceiling(end)`` is an inclusive end.

    Before 2020 this is -1 (nothing); past the id range it is ``MAX_ID`` (everything).
    """
    ms = _ms_since_epoch(when)
    if ms < 0:
        return -1
    return (min(ms, MAX_MS) << SEQ_BITS) | SEQ_MASK


def id_time(archive_id: int) -> datetime:
    """When the message was archived, to the millisecond."""
    return EPOCH + timedelta(milliseconds=archive_id >> SEQ_BITS)


_RANDOM = random.Random(secrets.randbits(64))


def _fast_random_start() -> int:
    # Start in the lower half so at least 2**19 ids fit in the millisecond before it overflows.
    # Not a secret: clients see ids only through the archive module's keyed permutation, so a
    # fast PRNG (not a system call per millisecond) is enough here.
    return _RANDOM.getrandbits(SEQ_BITS - 1)


# Called through a module variable, not directly: a test replaces it to make two processes
# collide, which must work when this module is compiled (setup.py) too.
_random_start: Callable[[], int] = _fast_random_start


class IdGenerator:
    """Hands out unique archive ids; thread-safe.

    Live messages get ids from the clock, strictly increasing within the process even if the
    clock steps back (the millisecond used is ``max(last, now)``). Each millisecond starts at a
    random offset and then increments, so ids are not trivially guessable from each other.

    An imported message (its time more than ``import_slack`` in the past) gets an id from its own
    timestamp, so start/end filters and the reported time still fit it.
    """

    _HISTORIC_MEMORY = 4096  # milliseconds remembered for imports; enough for one import run

    def __init__(self, clock: Clock = utc_now, *, import_slack: timedelta = timedelta(seconds=60)):
        self._clock = clock
        self._slack_ms = import_slack // _ONE_MS
        self._lock = threading.Lock()
        self._last_ms = -1
        self._next_seq = 0
        self._historic: OrderedDict[int, int] = OrderedDict()

    def next_id(self) -> int:
        """A live id: later than every id this generator handed out or observed."""
        now_ms = _clamp_ms(_ms_since_epoch(self._clock()))
        with self._lock:
            return self._live(now_ms)

    def id_for(self, when: datetime) -> int:
        """The id for a message stamped ``when``: live unless it is clearly historical."""
        ms = _ms_since_epoch(when)
        now_ms = _ms_since_epoch(self._clock())
        if ms < now_ms - self._slack_ms:
            return self.id_at(when)
        with self._lock:
            return self._live(_clamp_ms(now_ms))

    def id_at(self, when: datetime) -> int:
        """An id in ``when``'s millisecond, unique within this process."""
        ms = _clamp_ms(_ms_since_epoch(when))
        with self._lock:
            if ms >= self._last_ms:
                # Not in the past of the live sequence: share it, so the two cannot collide.
                return self._live(ms)
            while True:
                seq = self._historic.pop(ms, None)
                if seq is None:
                    seq = _random_start()
                if seq <= SEQ_MASK:
                    self._historic[ms] = seq + 1
                    if len(self._historic) > self._HISTORIC_MEMORY:
                        self._historic.popitem(last=False)
                    return (ms << SEQ_BITS) | seq
                ms += 1  # a million imports in one millisecond: spill into the next one

    def observe(self, archive_id: int) -> None:
        """Make later live ids greater than ``archive_id`` (e.g. the newest id at start-up)."""
        ms, seq = archive_id >> SEQ_BITS, archive_id & SEQ_MASK
        with self._lock:
            if ms > self._last_ms:
                self._retire_live_ms()
                self._last_ms, self._next_seq = ms, seq + 1
            elif ms == self._last_ms:
                self._next_seq = max(self._next_seq, seq + 1)

    def _live(self, now_ms: int) -> int:
        ms = max(self._last_ms, now_ms)
        if ms == self._last_ms and self._next_seq <= SEQ_MASK:
            seq = self._next_seq
        else:
            if ms == self._last_ms:
                ms += 1  # a million ids in one millisecond: borrow the next; order still holds
            self._retire_live_ms()
            seq = _random_start()
        self._last_ms, self._next_seq = ms, seq + 1
        return (ms << SEQ_BITS) | seq

    def _retire_live_ms(self) -> None:
        # An import may later land in the millisecond the live sequence is leaving: it must
        # continue after the live ids there, not pick a random start that could collide.
        if self._last_ms >= 0:
            self._historic[self._last_ms] = self._next_seq
            self._historic.move_to_end(self._last_ms)
            if len(self._historic) > self._HISTORIC_MEMORY:
                self._historic.popitem(last=False)
