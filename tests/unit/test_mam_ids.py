"""Client-visible archive ids: a keyed permutation of the store's time-ordered ids (SID-08/09)."""

from __future__ import annotations

import os

from hypothesis import given
from hypothesis import strategies as st

from garrulus.modules.mam.ids import IdCodec
from garrulus.storage.ids import MAX_ID, encode_id

CODEC = IdCodec(os.urandom(32))


@given(st.integers(min_value=0, max_value=MAX_ID))
def test_round_trip(number: int) -> None:
    store_id = encode_id(number)
    client_id = CODEC.to_client(store_id)
    assert CODEC.from_client(client_id) == store_id


def test_consecutive_ids_reveal_no_order_or_time() -> None:
    shown = [CODEC.to_client(encode_id((1_000_000 << 20) + n)) for n in range(50)]
    assert len(set(shown)) == 50
    assert shown != sorted(shown)
    # No shared prefix to speak of: neighbours look unrelated.
    assert len({s[:4] for s in shown}) > 45


def test_foreign_and_malformed_ids_are_not_ours() -> None:
    other = IdCodec(os.urandom(32))
    client_id = other.to_client(encode_id(12345))
    assert CODEC.from_client(client_id) is None
    for bad in ("", "x", "A" * 21, "A" * 23, "!" * 22, "0003G9230VQVS"):
        assert CODEC.from_client(bad) is None


def test_a_key_gives_the_same_ids_after_a_restart() -> None:
    key = os.urandom(32)
    assert IdCodec(key).to_client(encode_id(777)) == IdCodec(key).to_client(encode_id(777))
