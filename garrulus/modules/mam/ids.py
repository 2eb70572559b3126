"""Archive ids as clients see them: the store's time-ordered ids under a keyed permutation.

The store keys everything on a 64-bit time-ordered id (fast keyset paging). Shown as is, such an
id would tell anyone who sees one when it was made and how busy the archive is (checklist
SID-08). So ids cross the protocol boundary through a 4-round Feistel permutation keyed with a
per-server secret: unique (it is a bijection), unguessable and revealing nothing, and mapped back
exactly for paging. Clients treat ids as opaque strings (XEP-0313), so losing string order costs
nothing.
"""

from __future__ import annotations

import base64
import hashlib

from garrulus.storage.ids import decode_id, encode_id

_ROUNDS = 4
_MASK32 = 0xFFFFFFFF


class IdCodec:
    def __init__(self, key: bytes) -> None:
        if len(key) < 16:
            raise ValueError("the id key needs at least 16 bytes")
        self._keys = [
            hashlib.blake2b(key + bytes([r]), digest_size=32).digest() for r in range(_ROUNDS)
        ]

    def _f(self, round_no: int, half: int) -> int:
        digest = hashlib.blake2b(
            half.to_bytes(4, "big"), key=self._keys[round_no], digest_size=4
        ).digest()
        return int.from_bytes(digest, "big")

    def _permute(self, value: int) -> int:
        left, right = value >> 32, value & _MASK32
        for r in range(_ROUNDS):
            left, right = right, left ^ self._f(r, right)
        return (left << 32) | right

    def _unpermute(self, value: int) -> int:
        left, right = value >> 32, value & _MASK32
        for r in reversed(range(_ROUNDS)):
            left, right = right ^ self._f(r, left), left
        return (left << 32) | right

    def to_client(self, store_id: str) -> str:
        number = decode_id(store_id)
        if number is None:
            raise ValueError(f"not a store id: {store_id!r}")
        return (
            base64.urlsafe_b64encode(self._permute(number).to_bytes(8, "big")).decode().rstrip("=")
        )

    def from_client(self, client_id: str) -> str | None:
        """The store id behind a client id, or None if no id of ours is spelled so."""
        if len(client_id) != 11:
            return None
        try:
            raw = base64.urlsafe_b64decode(client_id + "=")
        except (ValueError, TypeError):
            return None
        if len(raw) != 8:
            return None
        number = self._unpermute(int.from_bytes(raw, "big"))
        if number >> 63:
            return None  # outside the store's signed 64-bit range: never issued
        encoded = encode_id(number)
        # Reject non-canonical spellings (base64 padding bits), so an id has one spelling only.
        return encoded if self.to_client(encoded) == client_id else None
