"""Archive ids as clients see them: the store's time-ordered ids, encrypted with a server key.

The store keys everything on a 64-bit time-ordered id (fast keyset paging). Shown as is, such an
id would tell anyone who sees one when it was made and how busy the archive is (checklist
SID-08). So ids cross the protocol boundary as one AES block: the 64-bit id followed by 64 zero
bits, encrypted with a per-server key. The result is unique (a permutation), looks like 128
random bits, maps back exactly for paging, and an id we never issued fails the zero check (one
chance in 2**64 of passing), so forged ids are simply "not found". Clients treat ids as opaque
strings (XEP-0313), so losing string order costs nothing.
"""

from __future__ import annotations

import base64
import hashlib

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from garrulus.storage.ids import decode_id, encode_id

_TAG = bytes(8)
_CLIENT_ID_LENGTH = 22  # 16 bytes in unpadded base64url


class IdCodec:
    def __init__(self, key: bytes) -> None:
        if len(key) < 16:
            raise ValueError("the id key needs at least 16 bytes")
        aes_key = hashlib.blake2b(key, digest_size=16, person=b"garrulus-mam-id").digest()
        # ECB over exactly one block is a keyed permutation of that block, which is all we
        # want; the contexts are reused because creating them costs more than a block.
        cipher = Cipher(algorithms.AES(aes_key), modes.ECB())
        self._encrypt = cipher.encryptor()
        self._decrypt = cipher.decryptor()

    def to_client(self, store_id: str) -> str:
        number = decode_id(store_id)
        if number is None:
            raise ValueError(f"not a store id: {store_id!r}")
        block = self._encrypt.update(number.to_bytes(8, "big") + _TAG)
        return base64.urlsafe_b64encode(block).decode()[:_CLIENT_ID_LENGTH]

    def from_client(self, client_id: str) -> str | None:
        """The store id behind a client id, or None if no id of ours is spelled so."""
        if len(client_id) != _CLIENT_ID_LENGTH:
            return None
        try:
            block = base64.urlsafe_b64decode(client_id + "==")
        except (ValueError, TypeError):
            return None
        if len(block) != 16:
            return None
        plain = self._decrypt.update(block)
        if plain[8:] != _TAG:
            return None
        number = int.from_bytes(plain[:8], "big")
        if number >> 63:
            return None  # outside the store's signed 64-bit range: never issued
        encoded = encode_id(number)
        # One spelling per id: base64 has spare bits in the last character.
        return encoded if self.to_client(encoded) == client_id else None
