"""Contract: ArchiveStore writes (group commit, dedup, delete) and metadata, on every backend."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from garrulus.storage.api import (
    ArchiveQuery,
    ArchiveStats,
    DeleteQuery,
    StoreSet,
)
from garrulus.storage.ids import decode_id

from .conftest import T0, FakeClock, item

OWNER = "juliet@capulet.lit"
ROMEO = "romeo@montague.lit"
NURSE = "nurse@capulet.lit"


async def all_ids(stores: StoreSet, owner: str = OWNER) -> list[str]:
    page = await stores.archive.find(owner, ArchiveQuery(limit=None))
    return [m.id for m in page.items]


# ---------------------------------------------------------------- group commit


async def test_concurrent_appends_are_all_committed_in_call_order(
    stores: StoreSet, clock: FakeClock
) -> None:
    async def caller(n: int) -> list[str]:
        got = []
        for i in range(50):
            clock.advance(microseconds=300)  # several appends per millisecond, some not
            got.append(await stores.archive.append(item(when=clock.now, body=f"c{n} m{i}")))
        return got

    burst = [stores.archive.append(item(when=clock.now, body=f"burst {i}")) for i in range(250)]
    burst_ids, *callers = await asyncio.gather(asyncio.gather(*burst), *map(caller, range(5)))
    # Ids are handed out at call time: strictly increasing in the order appends were made.
    assert burst_ids == sorted(burst_ids) and len(set(burst_ids)) == 250
    for ids in callers:
        assert ids == sorted(ids) and len(set(ids)) == 50
    stored = await all_ids(stores)
    assert len(stored) == 500
    assert set(stored) == set(burst_ids).union(*callers)


async def test_append_many(stores: StoreSet) -> None:
    ids = await stores.archive.append_many([item(minute=i) for i in range(2500)])
    assert ids == sorted(ids) and len(set(ids)) == 2500
    assert await all_ids(stores) == ids
    assert await stores.archive.append_many([]) == []


async def test_a_query_sees_appends_made_before_it(stores: StoreSet, clock: FakeClock) -> None:
    # Not awaited: the append is queued, and the query (issued after it) must still see it.
    pending = asyncio.ensure_future(stores.archive.append(item(when=clock.now)))
    await asyncio.sleep(0)
    page = await stores.archive.find(OWNER, ArchiveQuery())
    assert [m.id for m in page.items] == [await pending]


# ---------------------------------------------------------------- dedup


async def test_dedup_against_stored_rows(stores: StoreSet) -> None:
    first = await stores.archive.append(item(minute=1, dedup_key="romeo@montague.lit/x|id1"))
    again = await stores.archive.append(item(minute=2, dedup_key="romeo@montague.lit/x|id1"))
    assert again == first
    assert await all_ids(stores) == [first]
    (stats,) = await stores.archive.stats(OWNER)
    assert stats.count == 1


async def test_dedup_within_one_batch(stores: StoreSet) -> None:
    ids = await stores.archive.append_many(
        [item(minute=1, dedup_key="k"), item(minute=2, dedup_key="k"), item(minute=3)]
    )
    assert ids[0] == ids[1] != ids[2]
    assert await all_ids(stores) == [ids[0], ids[2]]


async def test_dedup_across_concurrent_appends(stores: StoreSet, clock: FakeClock) -> None:
    ids = await asyncio.gather(
        *(stores.archive.append(item(when=clock.now, dedup_key="same")) for _ in range(20))
    )
    assert len(set(ids)) == 1
    assert await all_ids(stores) == ids[:1]
    assert (await stores.archive.stats(OWNER))[0].count == 1


async def test_dedup_keys_are_per_owner(stores: StoreSet) -> None:
    mine = await stores.archive.append(item(OWNER, ROMEO, dedup_key="romeo/x|1"))
    theirs = await stores.archive.append(item(ROMEO, OWNER, dedup_key="romeo/x|1"))
    assert mine != theirs
    assert await all_ids(stores, ROMEO) == [theirs]


async def test_no_dedup_key_never_dedups(stores: StoreSet) -> None:
    ids = await stores.archive.append_many([item(minute=1), item(minute=1)])
    assert len(set(ids)) == 2


async def test_a_deleted_dedup_key_can_be_stored_again(stores: StoreSet) -> None:
    first = await stores.archive.append(item(minute=1, dedup_key="k"))
    assert await stores.archive.delete(DeleteQuery(owner=OWNER)) == 1
    second = await stores.archive.append(item(minute=2, dedup_key="k"))
    assert second != first and await all_ids(stores) == [second]


# ---------------------------------------------------------------- delete


async def fill(stores: StoreSet) -> dict[str, list[str]]:
    """Owners OWNER (20: ROMEO even minutes, NURSE odd), ROMEO (10), NURSE (5)."""
    ids: dict[str, list[str]] = {OWNER: [], ROMEO: [], NURSE: []}
    for i in range(20):
        peer = ROMEO if i % 2 == 0 else NURSE
        ids[OWNER].append(await stores.archive.append(item(OWNER, peer, minute=i)))
    for i in range(10):
        ids[ROMEO].append(await stores.archive.append(item(ROMEO, OWNER, minute=i + 0.5)))
    for i in range(5):
        ids[NURSE].append(await stores.archive.append(item(NURSE, OWNER, minute=i + 0.25)))
    return ids


async def test_delete_an_owner(stores: StoreSet) -> None:
    ids = await fill(stores)
    assert await stores.archive.delete(DeleteQuery(owner=OWNER, batch_size=3)) == 20
    assert await all_ids(stores) == []
    assert await all_ids(stores, ROMEO) == ids[ROMEO]
    assert await stores.archive.owners() == [NURSE, ROMEO]
    assert await stores.archive.delete(DeleteQuery(owner=OWNER)) == 0


async def test_delete_with_a_contact(stores: StoreSet) -> None:
    ids = await fill(stores)
    deleted = await stores.archive.delete(DeleteQuery(owner=OWNER, with_bare=NURSE, batch_size=4))
    assert deleted == 10
    assert await all_ids(stores) == ids[OWNER][::2]
    assert (await stores.archive.stats(OWNER))[0].count == 10


async def test_delete_before_is_strict(stores: StoreSet) -> None:
    ids = await fill(stores)
    cut = T0 + timedelta(minutes=5)
    assert await stores.archive.delete(DeleteQuery(owner=OWNER, before=cut)) == 5
    assert await all_ids(stores) == ids[OWNER][5:]  # the message at exactly `cut` stays


async def test_expiry_across_all_owners_in_batches(stores: StoreSet) -> None:
    ids = await fill(stores)
    cut = T0 + timedelta(minutes=3)
    # OWNER 0,1,2; ROMEO 0.5,1.5,2.5; NURSE 0.25,1.25,2.25
    deleted = await stores.archive.delete(DeleteQuery(owner=None, before=cut, batch_size=2))
    assert deleted == 9
    assert await all_ids(stores) == ids[OWNER][3:]
    assert await all_ids(stores, ROMEO) == ids[ROMEO][3:]
    assert await all_ids(stores, NURSE) == ids[NURSE][3:]
    counts = {s.owner: s.count for s in await stores.archive.stats(None)}
    assert counts == {OWNER: 17, ROMEO: 7, NURSE: 2}


async def test_delete_everything(stores: StoreSet) -> None:
    await fill(stores)
    assert await stores.archive.delete(DeleteQuery(owner=None, batch_size=7)) == 35
    assert await stores.archive.owners() == []
    assert await stores.archive.stats(None) == []
    await stores.archive.reclaim_space()


async def test_appends_between_delete_batches_survive(stores: StoreSet, clock: FakeClock) -> None:
    await fill(stores)
    cut = T0 + timedelta(hours=1)
    deleting = asyncio.ensure_future(
        stores.archive.delete(DeleteQuery(owner=None, before=cut, batch_size=1))
    )
    live = [await stores.archive.append(item(when=clock.now)) for _ in range(5)]
    assert await deleting == 35
    assert await all_ids(stores) == live


# ---------------------------------------------------------------- metadata


async def test_bounds(stores: StoreSet) -> None:
    empty = await stores.archive.bounds(OWNER)
    assert empty.first is None and empty.last is None
    ids = await fill(stores)
    bounds = await stores.archive.bounds(OWNER)
    assert bounds.first is not None and bounds.last is not None
    assert (bounds.first.id, bounds.last.id) == (ids[OWNER][0], ids[OWNER][-1])
    assert bounds.first.when == T0 and bounds.last.when == T0 + timedelta(minutes=19)


async def test_stats(stores: StoreSet) -> None:
    assert await stores.archive.stats(OWNER) == [ArchiveStats(OWNER, 0, None, None, 0)]
    assert await stores.archive.stats(None) == []
    await stores.archive.append(item(minute=1, stanza="<message>é</message>"))  # 21 bytes
    await stores.archive.append(item(minute=4, stanza="<message/>"))
    (stats,) = await stores.archive.stats(OWNER)
    assert stats == ArchiveStats(
        OWNER, 2, T0 + timedelta(minutes=1), T0 + timedelta(minutes=4), 21 + 10
    )
    await fill(stores)
    everyone = await stores.archive.stats(None)
    assert [(s.owner, s.count) for s in everyone] == [(OWNER, 22), (NURSE, 5), (ROMEO, 10)]


async def test_owners(stores: StoreSet) -> None:
    assert await stores.archive.owners() == []
    await fill(stores)
    assert await stores.archive.owners() == sorted([OWNER, ROMEO, NURSE])


async def test_unfiltered_total_follows_writes(stores: StoreSet) -> None:
    await fill(stores)
    query = ArchiveQuery(limit=1, want_total=True)
    assert (await stores.archive.find(OWNER, query)).total == 20
    await stores.archive.append(item(minute=30, dedup_key="d"))
    await stores.archive.append(item(minute=31, dedup_key="d"))
    assert (await stores.archive.find(OWNER, query)).total == 21
    await stores.archive.delete(DeleteQuery(owner=OWNER, with_bare=ROMEO))
    assert (await stores.archive.find(OWNER, query)).total == 10


async def test_reclaim_space_is_safe_any_time(stores: StoreSet) -> None:
    await stores.archive.reclaim_space()
    await fill(stores)
    await stores.archive.delete(DeleteQuery(owner=ROMEO))
    await stores.archive.reclaim_space()
    assert len(await all_ids(stores)) == 20


async def test_ids_are_valid(stores: StoreSet) -> None:
    ids = await fill(stores)
    assert all(decode_id(i) is not None for owner_ids in ids.values() for i in owner_ids)
