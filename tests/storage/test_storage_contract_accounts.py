"""Contract: AccountStore and KeyValueStore, on every backend."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from garrulus.storage.api import Account, Conflict, ScramCredentials, StoreSet

CREATED = datetime(2024, 2, 29, 23, 59, 59, 123456, tzinfo=UTC)
SHA1 = ScramCredentials("SHA-1", b"\x00salt\xff", 4096, b"\x01" * 20, b"\x02" * 20)
SHA256 = ScramCredentials("SHA-256", b"pepper", 10000, b"\x03" * 32, b"\x04" * 32)


def account(username: str = "juliet", host: str = "capulet.lit") -> Account:
    return Account(username, host, (SHA1, SHA256), CREATED)


async def test_account_round_trip(stores: StoreSet) -> None:
    assert await stores.accounts.get("capulet.lit", "juliet") is None
    await stores.accounts.create(account())
    got = await stores.accounts.get("capulet.lit", "juliet")
    assert got == account()
    assert got is not None and got.scram("SHA-256") == SHA256 and got.scram("SHA-512") is None


async def test_create_existing_is_a_conflict(stores: StoreSet) -> None:
    await stores.accounts.create(account())
    with pytest.raises(Conflict):
        await stores.accounts.create(Account("juliet", "capulet.lit", (), CREATED))
    assert await stores.accounts.get("capulet.lit", "juliet") == account()
    # The store stays usable after the failed write.
    await stores.accounts.create(account("nurse"))
    assert await stores.accounts.list("capulet.lit") == ["juliet", "nurse"]


async def test_same_username_on_another_host_is_another_account(stores: StoreSet) -> None:
    await stores.accounts.create(account())
    await stores.accounts.create(account(host="verona.lit"))
    assert await stores.accounts.list("capulet.lit") == ["juliet"]
    assert await stores.accounts.list("verona.lit") == ["juliet"]
    assert await stores.accounts.list("montague.lit") == []


async def test_set_credentials(stores: StoreSet) -> None:
    assert not await stores.accounts.set_credentials("capulet.lit", "juliet", [SHA256])
    await stores.accounts.create(account())
    assert await stores.accounts.set_credentials("capulet.lit", "juliet", [SHA256])
    got = await stores.accounts.get("capulet.lit", "juliet")
    assert got == Account("juliet", "capulet.lit", (SHA256,), CREATED)


async def test_delete_account(stores: StoreSet) -> None:
    assert not await stores.accounts.delete("capulet.lit", "juliet")
    await stores.accounts.create(account())
    await stores.accounts.create(account("nurse"))
    assert await stores.accounts.delete("capulet.lit", "juliet")
    assert await stores.accounts.get("capulet.lit", "juliet") is None
    assert await stores.accounts.list("capulet.lit") == ["nurse"]
    await stores.accounts.create(account())  # the name is free again


async def test_list_is_sorted(stores: StoreSet) -> None:
    for name in ["tybalt", "juliet", "benvolio", "nurse"]:
        await stores.accounts.create(account(name))
    assert await stores.accounts.list("capulet.lit") == ["benvolio", "juliet", "nurse", "tybalt"]


# ---------------------------------------------------------------- key-value

VALUE = {"n": 1, "f": 0.5, "s": "ünïcødé ✓", "l": [1, "two", None, True], "d": {"x": {}}}


async def test_keyval_round_trip(stores: StoreSet) -> None:
    kv = stores.keyval
    assert await kv.get("capulet.lit", "juliet", "roster") is None
    await kv.set("capulet.lit", "juliet", "roster", VALUE)
    assert await kv.get("capulet.lit", "juliet", "roster") == VALUE
    await kv.set("capulet.lit", "juliet", "roster", [1, 2])  # overwrite (upsert)
    assert await kv.get("capulet.lit", "juliet", "roster") == [1, 2]


async def test_keyval_values_are_json(stores: StoreSet) -> None:
    kv = stores.keyval
    await kv.set("h", "o", "tuple", (1, 2))
    assert await kv.get("h", "o", "tuple") == [1, 2]
    for scalar in [0, "", False, "text", 12.5]:
        await kv.set("h", "o", "scalar", scalar)
        assert await kv.get("h", "o", "scalar") == scalar
    stored = {"a": [1]}
    await kv.set("h", "o", "copy", stored)
    stored["a"].append(2)  # the store keeps what was set, not a live reference
    assert await kv.get("h", "o", "copy") == {"a": [1]}


async def test_keyval_items_and_delete(stores: StoreSet) -> None:
    kv = stores.keyval
    await kv.set("capulet.lit", "juliet", "a", 1)
    await kv.set("capulet.lit", "juliet", "b", {"x": 2})
    await kv.set("capulet.lit", "nurse", "a", 3)
    await kv.set("capulet.lit", "", "motd", "hello")  # "" = the host itself
    await kv.set("verona.lit", "juliet", "a", 4)
    assert await kv.items("capulet.lit", "juliet") == {"a": 1, "b": {"x": 2}}
    assert await kv.items("capulet.lit", "") == {"motd": "hello"}
    await kv.delete("capulet.lit", "juliet", "a")
    await kv.delete("capulet.lit", "juliet", "missing")  # no error
    assert await kv.items("capulet.lit", "juliet") == {"b": {"x": 2}}
    assert await kv.get("verona.lit", "juliet", "a") == 4


async def test_keyval_delete_owner(stores: StoreSet) -> None:
    kv = stores.keyval
    for key in "abc":
        await kv.set("capulet.lit", "juliet", key, key)
    await kv.set("capulet.lit", "nurse", "a", 1)
    assert await kv.delete_owner("capulet.lit", "juliet") == 3
    assert await kv.items("capulet.lit", "juliet") == {}
    assert await kv.delete_owner("capulet.lit", "juliet") == 0
    assert await kv.items("capulet.lit", "nurse") == {"a": 1}
