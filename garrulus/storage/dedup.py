"""The idempotency index: (owner, dedup_key) hashed into a time-bucketed 63-bit integer.

A unique index on the key text itself put every archived row at a random place in a large
B-tree, so each group commit dirtied about one index page per row (half the writer's time went
into COMMIT). Resends that must not be stored twice arrive close in time to the original (a
reconnect, a stream-management resend) or carry the original time (a re-import of an export),
so the index only needs to answer "was this key stored around this time": the hour of the
message leads the value, new rows land at the end of the index, and a lookup asks the message's
hour and the one before. The key text stays in the row and is compared exactly, so a hash
collision can only cost a lookup, never merge two messages.
"""

from __future__ import annotations

import hashlib
from datetime import datetime

_HOUR_MS = 3_600_000
_HASH_BITS = 40


def _hour(when: datetime) -> int:
    return int(when.timestamp() * 1000) // _HOUR_MS


def _digest(owner: str, key: str) -> int:
    raw = hashlib.blake2b(f"{owner}\0{key}".encode(), digest_size=_HASH_BITS // 8).digest()
    return int.from_bytes(raw, "big")


def dedup_hash(owner: str, key: str, when: datetime) -> int:
    """The indexed value of a row stored at ``when``."""
    return (_hour(when) << _HASH_BITS) | _digest(owner, key)


def dedup_candidates(owner: str, key: str, when: datetime) -> tuple[int, int]:
    """The values an earlier copy of the same message would have: this hour or the one before.

    The first is ``dedup_hash(owner, key, when)``, the value a copy stored now gets.
    """
    digest, hour = _digest(owner, key), _hour(when)
    return (hour << _HASH_BITS) | digest, ((hour - 1) << _HASH_BITS) | digest
