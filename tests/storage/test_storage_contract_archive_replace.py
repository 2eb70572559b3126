"""Contract: ArchiveStore.replace (an entry rewritten in place: a retraction's tombstone), on every
backend. Full-text search, sizes, idempotency keys and paging must all follow the new content."""

from __future__ import annotations

import asyncio

from garrulus.storage.api import ArchivedMessage, ArchiveQuery, Direction, StoreSet
from garrulus.storage.ids import encode_id

from .conftest import item

OWNER = "juliet@capulet.lit"
ROMEO = "romeo@montague.lit"
NURSE = "nurse@capulet.lit"
TOMB = (
    "<message xmlns='jabber:client' type='chat' id='m2'>"
    "<retracted xmlns='urn:xmpp:message-retract:1' id='r1' stamp='2024-03-01T12:09:00Z'/>"
    "</message>"
)


async def everything(stores: StoreSet, owner: str = OWNER) -> list[ArchivedMessage]:
    return list((await stores.archive.find(owner, ArchiveQuery(limit=None))).items)


async def search(stores: StoreSet, text: str) -> list[str]:
    page = await stores.archive.find(OWNER, ArchiveQuery(fulltext=text, limit=None))
    return [m.id for m in page.items]


async def three(stores: StoreSet) -> list[str]:
    return await stores.archive.append_many(
        [
            item(minute=1, body="the first rose"),
            item(minute=2, body="secret orchard plans", direction=Direction.OUT, dedup_key="k2"),
            item(minute=3, body="the last rose"),
        ]
    )


async def test_replace_keeps_the_entry_and_changes_its_content(stores: StoreSet) -> None:
    ids = await three(stores)
    before = await everything(stores)
    assert await stores.archive.replace(OWNER, ids[1], stanza=TOMB, body=None, dedup_key=None)
    after = await everything(stores)
    assert [m.id for m in after] == ids
    assert after[0] == before[0] and after[2] == before[2]
    # Everything but the stanza stays: id, time, peer, resource, direction, type (RES-11).
    assert after[1].stanza == TOMB
    kept = ("id", "owner", "peer", "peer_resource", "direction", "when", "msg_type")
    assert [getattr(after[1], f) for f in kept] == [getattr(before[1], f) for f in kept]
    assert after[1].direction is Direction.OUT
    assert await stores.archive.get(OWNER, ids[1]) == after[1]
    bounds = await stores.archive.bounds(OWNER)
    assert bounds.first == after[0] and bounds.last == after[2]


async def test_replace_of_what_is_not_there_changes_nothing(stores: StoreSet) -> None:
    ids = await three(stores)
    other = await stores.archive.append(item(owner=NURSE, minute=4))
    before = await everything(stores)
    replace = stores.archive.replace
    # Another owner's entry, an unknown owner, an id never given, an id that is no id.
    assert not await replace(OWNER, other, stanza=TOMB, body=None, dedup_key=None)
    assert not await replace("nobody@capulet.lit", ids[0], stanza=TOMB, body=None, dedup_key=None)
    assert not await replace(OWNER, encode_id(12345), stanza=TOMB, body=None, dedup_key=None)
    assert not await replace(OWNER, "not-an-id", stanza=TOMB, body=None, dedup_key=None)
    assert await everything(stores) == before
    assert [m.stanza for m in await everything(stores, NURSE)] != [TOMB]


async def test_replace_keeps_the_size_stats_right(stores: StoreSet) -> None:
    ids = await three(stores)
    await stores.archive.append(item(owner=NURSE, minute=4))
    (stats,) = await stores.archive.stats(OWNER)
    (nurse,) = await stores.archive.stats(NURSE)
    old = (await everything(stores))[1].stanza
    await stores.archive.replace(OWNER, ids[1], stanza=TOMB, body=None, dedup_key=None)
    (changed,) = await stores.archive.stats(OWNER)
    assert changed.count == stats.count == 3
    assert changed.size_bytes == stats.size_bytes - len(old.encode()) + len(TOMB.encode())
    assert (changed.oldest, changed.newest) == (stats.oldest, stats.newest)
    # Bytes, not characters; and growing works as shrinking does.
    bigger = TOMB.replace("r1", "r1-\u00e9\u00e9\u00e9-longer")
    await stores.archive.replace(OWNER, ids[1], stanza=bigger, body=None, dedup_key=None)
    (grown,) = await stores.archive.stats(OWNER)
    assert grown.size_bytes == stats.size_bytes - len(old.encode()) + len(bigger.encode())
    assert await stores.archive.stats(NURSE) == [nurse]  # other owners untouched


async def test_replaced_body_leaves_the_fulltext_search(stores: StoreSet) -> None:
    if not stores.archive.caps.fulltext:
        return
    ids = await three(stores)
    # Replaced before any search: on SQLite the row is still queued for indexing.
    await stores.archive.replace(OWNER, ids[1], stanza=TOMB, body=None, dedup_key=None)
    assert await search(stores, "secret") == []
    assert await search(stores, "orchard plans") == []
    assert await search(stores, "rose") == [ids[0], ids[2]]
    # Replaced after a search: on SQLite the row is in the index by now.
    assert await search(stores, "last") == [ids[2]]
    await stores.archive.replace(OWNER, ids[2], stanza=TOMB, body=None, dedup_key=None)
    assert await search(stores, "last") == []
    assert await search(stores, "rose") == [ids[0]]
    # A new body is searchable in place of the old one.
    await stores.archive.replace(OWNER, ids[0], stanza=TOMB, body="thorn", dedup_key=None)
    assert await search(stores, "rose") == []
    assert await search(stores, "thorn") == [ids[0]]
    page = await stores.archive.find(OWNER, ArchiveQuery(fulltext="thorn", want_total=True))
    assert page.total == 1


async def test_replace_changes_the_idempotency_key(stores: StoreSet) -> None:
    ids = await three(stores)
    await stores.archive.replace(OWNER, ids[1], stanza=TOMB, body=None, dedup_key="tomb-key")
    # The new key finds the entry (a re-import of the exported tombstone stores nothing) ...
    again = item(minute=2, direction=Direction.OUT, stanza=TOMB, body=None, dedup_key="tomb-key")
    assert await stores.archive.append(again) == ids[1]
    # ... the old one no longer does.
    fresh = await stores.archive.append(item(minute=2, dedup_key="k2"))
    assert fresh not in ids
    assert [m.id for m in await everything(stores)] == sorted([*ids, fresh])


async def test_paging_across_a_replaced_entry_is_unchanged(stores: StoreSet) -> None:
    ids = await stores.archive.append_many([item(minute=i, body=f"m{i}") for i in range(7)])
    await stores.archive.append(item(minute=8, peer=NURSE))
    await stores.archive.replace(OWNER, ids[3], stanza=TOMB, body=None, dedup_key=None)
    find = stores.archive.find
    assert [m.id for m in (await find(OWNER, ArchiveQuery(page_after=ids[3], limit=2))).items] == (
        ids[4:6]
    )
    page = await find(OWNER, ArchiveQuery(with_bare=ROMEO, page_before=ids[5], limit=3))
    assert [m.id for m in page.items] == ids[2:5]
    page = await find(OWNER, ArchiveQuery(after_id=ids[2], before_id=ids[4], want_total=True))
    assert [m.id for m in page.items] == [ids[3]] and page.total == 1
    page = await find(OWNER, ArchiveQuery(with_bare=ROMEO, limit=0, want_total=True))
    assert page.total == 7


async def test_replace_after_an_append_not_yet_awaited(stores: StoreSet) -> None:
    ids = await three(stores)
    # Queued behind an append: the append is still committed, and then the replacement.
    pending = asyncio.ensure_future(stores.archive.append(item(minute=5, body="later")))
    await asyncio.sleep(0)
    assert await stores.archive.replace(OWNER, ids[0], stanza=TOMB, body=None, dedup_key=None)
    stored = await everything(stores)
    assert [m.id for m in stored] == [*ids, await pending]
    assert stored[0].stanza == TOMB
