"""Contract: ArchiveStore queries (filters, keyset paging, totals) on every backend."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

import pytest

from garrulus.storage.api import (
    ArchivePage,
    ArchiveQuery,
    ArchiveStore,
    Direction,
    ItemNotFound,
    StoreSet,
)
from garrulus.storage.ids import encode_id, id_time

from .conftest import T0, item

OWNER = "juliet@capulet.lit"
ROMEO = "romeo@montague.lit"
NURSE = "nurse@capulet.lit"
STRANGER = "tybalt@capulet.lit"  # the owner never talked to him


async def fill(archive: ArchiveStore) -> list[str]:
    """Ten messages of OWNER at minutes 0..9, with another archive's messages in between.

    Even minutes: ROMEO, odd: NURSE; resource "orchard" on minutes 0, 4, 8; minute 5 is
    groupchat; bodies "msg<i> even|odd".
    """
    ids = []
    for i in range(10):
        ids.append(
            await archive.append(
                item(
                    OWNER,
                    ROMEO if i % 2 == 0 else NURSE,
                    minute=i,
                    resource="orchard" if i % 4 == 0 else "balcony",
                    direction=Direction.OUT if i % 3 == 0 else Direction.IN,
                    body=f"msg{i} {'even' if i % 2 == 0 else 'odd'}",
                    msg_type="groupchat" if i == 5 else "chat",
                )
            )
        )
        await archive.append(item(ROMEO, OWNER, minute=i + 0.5, body="other archive"))
    return ids


def ids_of(page: ArchivePage) -> list[str]:
    return [m.id for m in page.items]


async def find(archive: ArchiveStore, **query: object) -> ArchivePage:
    return await archive.find(OWNER, ArchiveQuery(**query))  # type: ignore[arg-type]


# ---------------------------------------------------------------- basics


async def test_append_then_find_in_order(stores: StoreSet) -> None:
    archive = stores.archive
    ids = await fill(archive)
    assert ids == sorted(ids) and len(set(ids)) == 10
    page = await find(archive, limit=None)
    assert ids_of(page) == ids and page.complete
    first = page.items[0]
    assert first.owner == OWNER and first.peer == ROMEO and first.peer_resource == "orchard"
    assert first.direction is Direction.OUT and first.msg_type == "chat"
    assert first.when == T0 and first.stanza == item(body="msg0 even").stanza
    assert [m.when for m in page.items] == [T0 + timedelta(minutes=i) for i in range(10)]
    assert page.items[1].peer_resource == "balcony" and page.items[1].direction is Direction.IN


async def test_when_comes_from_the_id(stores: StoreSet) -> None:
    archive_id = await stores.archive.append(item(minute=0.123))
    got = await stores.archive.get(OWNER, archive_id)
    assert got is not None and got.when == T0 + timedelta(milliseconds=7380)


async def test_imported_messages_sort_by_their_time(stores: StoreSet) -> None:
    late = await stores.archive.append(item(minute=5))
    early = await stores.archive.append(item(minute=1))
    assert ids_of(await find(stores.archive, limit=None)) == [early, late]


async def test_live_messages_get_the_clock_time(stores: StoreSet, clock) -> None:  # type: ignore[no-untyped-def]
    a = await stores.archive.append(item(when=clock.now))
    clock.advance(seconds=2)
    b = await stores.archive.append(item(when=clock.now - timedelta(seconds=1)))
    pages = await find(stores.archive, limit=None)
    assert ids_of(pages) == [a, b]
    assert [m.when for m in pages.items] == [clock.now - timedelta(seconds=2), clock.now]


async def test_empty_archive(stores: StoreSet) -> None:
    for query in [
        ArchiveQuery(),
        ArchiveQuery(last_page=True),
        ArchiveQuery(limit=0),
        ArchiveQuery(limit=None),
        ArchiveQuery(with_bare=ROMEO),
    ]:
        page = await stores.archive.find(OWNER, dataclasses.replace(query, want_total=True))
        assert page.items == () and page.complete and page.total == 0


async def test_get(stores: StoreSet) -> None:
    ids = await fill(stores.archive)
    got = await stores.archive.get(OWNER, ids[3])
    assert got is not None and got.id == ids[3] and got.peer == NURSE
    assert await stores.archive.get(ROMEO, ids[3]) is None  # another owner's view
    assert await stores.archive.get(OWNER, encode_id(12345)) is None
    assert await stores.archive.get(OWNER, "not-an-id") is None


# ---------------------------------------------------------------- forward paging


async def test_forward_pages(stores: StoreSet) -> None:
    archive = stores.archive
    ids = await fill(archive)
    seen: list[str] = []
    completes = []
    after = None
    while True:
        page = await find(archive, limit=3, page_after=after)
        seen += ids_of(page)
        completes.append(page.complete)
        if page.complete:
            break
        after = page.items[-1].id
    assert seen == ids
    assert completes == [False, False, False, True]


@pytest.mark.parametrize("limit", [1, 2, 5, 8])
async def test_forward_complete_exact_at_the_boundary(stores: StoreSet, limit: int) -> None:
    ids = await fill(stores.archive)
    # A page that ends exactly on the last item is complete; one item short of it is not.
    page = await find(stores.archive, limit=limit, page_after=ids[9 - limit])
    assert ids_of(page) == ids[10 - limit :] and page.complete
    page = await find(stores.archive, limit=limit, page_after=ids[8 - limit])
    assert ids_of(page) == ids[9 - limit : 9] and not page.complete


async def test_first_page_of_exactly_limit_items(stores: StoreSet) -> None:
    ids = await fill(stores.archive)
    assert (await find(stores.archive, limit=10)).complete
    page = await find(stores.archive, limit=9)
    assert ids_of(page) == ids[:9] and not page.complete


async def test_page_after_the_last_item_is_empty_and_complete(stores: StoreSet) -> None:
    ids = await fill(stores.archive)
    page = await find(stores.archive, limit=3, page_after=ids[-1])
    assert page.items == () and page.complete


# ---------------------------------------------------------------- backward paging


async def test_backward_pages(stores: StoreSet) -> None:
    archive = stores.archive
    ids = await fill(archive)
    page = await find(archive, limit=3, last_page=True)
    assert ids_of(page) == ids[7:] and not page.complete
    seen = ids_of(page)
    completes: list[bool] = [page.complete]
    while not page.complete:
        page = await find(archive, limit=3, page_before=page.items[0].id)
        seen = ids_of(page) + seen
        completes.append(page.complete)
    assert seen == ids
    assert completes == [False, False, False, True]
    assert ids_of(page) == ids[:1]


@pytest.mark.parametrize("limit", [1, 3, 8])
async def test_backward_complete_exact_at_the_boundary(stores: StoreSet, limit: int) -> None:
    ids = await fill(stores.archive)
    page = await find(stores.archive, limit=limit, page_before=ids[limit])
    assert ids_of(page) == ids[:limit] and page.complete
    page = await find(stores.archive, limit=limit, page_before=ids[limit + 1])
    assert ids_of(page) == ids[1 : limit + 1] and not page.complete


async def test_last_page_of_exactly_limit_items(stores: StoreSet) -> None:
    ids = await fill(stores.archive)
    page = await find(stores.archive, limit=10, last_page=True)
    assert ids_of(page) == ids and page.complete
    page = await find(stores.archive, limit=11, last_page=True)
    assert ids_of(page) == ids and page.complete


async def test_page_before_the_first_item_is_empty_and_complete(stores: StoreSet) -> None:
    ids = await fill(stores.archive)
    page = await find(stores.archive, limit=3, page_before=ids[0])
    assert page.items == () and page.complete


async def test_page_after_and_before_together(stores: StoreSet) -> None:
    ids = await fill(stores.archive)
    page = await find(stores.archive, limit=2, page_after=ids[2], page_before=ids[8])
    assert ids_of(page) == ids[6:8] and not page.complete  # backward: newest of the window
    page = await find(stores.archive, limit=2, page_after=ids[5], page_before=ids[8])
    assert ids_of(page) == ids[6:8] and page.complete


# ---------------------------------------------------------------- limits


async def test_limit_zero(stores: StoreSet) -> None:
    ids = await fill(stores.archive)
    page = await find(stores.archive, limit=0, want_total=True)
    assert page.items == () and not page.complete and page.total == 10
    page = await find(stores.archive, limit=0, page_after=ids[-1])
    assert page.items == () and page.complete
    page = await find(stores.archive, limit=0, last_page=True, with_bare=NURSE, want_total=True)
    assert page.items == () and not page.complete and page.total == 5


async def test_limit_none(stores: StoreSet) -> None:
    ids = await fill(stores.archive)
    page = await find(stores.archive, limit=None, page_after=ids[3])
    assert ids_of(page) == ids[4:] and page.complete
    page = await find(stores.archive, limit=None, page_before=ids[3])
    assert ids_of(page) == ids[:3] and page.complete
    page = await find(stores.archive, limit=None, last_page=True)
    assert ids_of(page) == ids and page.complete


async def test_negative_limit_is_a_bug(stores: StoreSet) -> None:
    with pytest.raises(ValueError):
        await find(stores.archive, limit=-1)


# ---------------------------------------------------------------- with


async def test_with_bare(stores: StoreSet) -> None:
    ids = await fill(stores.archive)
    page = await find(stores.archive, with_bare=NURSE, limit=None)
    assert ids_of(page) == ids[1::2]
    page = await find(stores.archive, with_bare=ROMEO, limit=2, last_page=True)
    assert ids_of(page) == [ids[6], ids[8]] and not page.complete


async def test_with_full_jid(stores: StoreSet) -> None:
    ids = await fill(stores.archive)
    page = await find(stores.archive, with_bare=ROMEO, with_resource="orchard", limit=None)
    assert ids_of(page) == [ids[0], ids[4], ids[8]]
    page = await find(stores.archive, with_bare=ROMEO, with_resource="balcony", limit=None)
    assert ids_of(page) == [ids[2], ids[6]]
    page = await find(stores.archive, with_bare=NURSE, with_resource="orchard", limit=None)
    assert page.items == () and page.complete


async def test_with_a_contact_without_messages(stores: StoreSet) -> None:
    await fill(stores.archive)
    for query in [
        ArchiveQuery(with_bare=STRANGER, want_total=True),
        ArchiveQuery(with_bare=STRANGER, last_page=True, want_total=True),
    ]:
        page = await stores.archive.find(OWNER, query)
        assert page.items == () and page.complete and page.total == 0


async def test_page_cursor_outside_the_filtered_set(stores: StoreSet) -> None:
    ids = await fill(stores.archive)
    # ids[3] is a NURSE message: not in the ROMEO set, but in the archive, so it is a cursor.
    page = await find(stores.archive, with_bare=ROMEO, limit=2, page_after=ids[3])
    assert ids_of(page) == [ids[4], ids[6]] and not page.complete
    page = await find(stores.archive, with_bare=ROMEO, limit=2, page_before=ids[3])
    assert ids_of(page) == [ids[0], ids[2]] and page.complete
    # Another owner's message is not a cursor here, even though it exists.
    other = (await stores.archive.find(ROMEO, ArchiveQuery(limit=1))).items[0].id
    with pytest.raises(ItemNotFound):
        await find(stores.archive, page_after=other)


# ---------------------------------------------------------------- time and id ranges


async def test_start_and_end_are_inclusive(stores: StoreSet) -> None:
    ids = await fill(stores.archive)
    page = await find(
        stores.archive, start=T0 + timedelta(minutes=2), end=T0 + timedelta(minutes=5), limit=None
    )
    assert ids_of(page) == ids[2:6]
    page = await find(stores.archive, start=T0 + timedelta(minutes=2, milliseconds=1), limit=None)
    assert ids_of(page) == ids[3:]
    page = await find(stores.archive, end=T0 + timedelta(minutes=5, milliseconds=-1), limit=None)
    assert ids_of(page) == ids[:5]
    page = await find(
        stores.archive, start=T0 + timedelta(minutes=5), end=T0 + timedelta(minutes=5)
    )
    assert ids_of(page) == [ids[5]]


async def test_start_after_end_is_empty(stores: StoreSet) -> None:
    await fill(stores.archive)
    page = await find(
        stores.archive,
        start=T0 + timedelta(minutes=6),
        end=T0 + timedelta(minutes=5),
        want_total=True,
    )
    assert page.items == () and page.complete and page.total == 0


async def test_time_range_with_paging_backwards(stores: StoreSet) -> None:
    ids = await fill(stores.archive)
    query = dict(start=T0 + timedelta(minutes=1), end=T0 + timedelta(minutes=8), limit=3)
    page = await find(stores.archive, last_page=True, **query)
    assert ids_of(page) == ids[6:9] and not page.complete
    page = await find(stores.archive, page_before=ids[4], **query)
    assert ids_of(page) == ids[1:4] and page.complete


async def test_after_id_and_before_id_are_exclusive(stores: StoreSet) -> None:
    ids = await fill(stores.archive)
    page = await find(stores.archive, after_id=ids[2], before_id=ids[7], limit=None)
    assert ids_of(page) == ids[3:7]
    page = await find(stores.archive, after_id=ids[2], limit=2, last_page=True)
    assert ids_of(page) == ids[8:]
    page = await find(stores.archive, after_id=ids[7], before_id=ids[8], want_total=True)
    assert page.items == () and page.complete and page.total == 0


async def test_after_id_need_not_match_the_other_filters(stores: StoreSet) -> None:
    ids = await fill(stores.archive)
    page = await find(stores.archive, with_bare=ROMEO, after_id=ids[5], limit=None)
    assert ids_of(page) == [ids[6], ids[8]]


async def test_ids_filter(stores: StoreSet) -> None:
    ids = await fill(stores.archive)
    wanted = (ids[7], ids[2], ids[5], ids[2])  # any order, duplicates: archive order, once
    page = await find(stores.archive, ids=wanted, want_total=True)
    assert ids_of(page) == [ids[2], ids[5], ids[7]] and page.complete and page.total == 3
    page = await find(stores.archive, ids=wanted, limit=2)
    assert ids_of(page) == [ids[2], ids[5]] and not page.complete
    page = await find(stores.archive, ids=wanted, limit=2, page_after=ids[5])
    assert ids_of(page) == [ids[7]] and page.complete
    page = await find(stores.archive, ids=wanted, with_bare=NURSE)  # and the other filters
    assert ids_of(page) == [ids[5], ids[7]]
    page = await find(stores.archive, ids=(), want_total=True)
    assert page.items == () and page.complete and page.total == 0


# ---------------------------------------------------------------- unknown ids


@pytest.mark.parametrize("field", ["after_id", "before_id", "page_after", "page_before", "ids"])
async def test_unknown_ids_are_item_not_found(stores: StoreSet, field: str) -> None:
    ids = await fill(stores.archive)
    other_owners = (await stores.archive.find(ROMEO, ArchiveQuery(limit=1))).items[0].id
    never = encode_id(12345)
    for bad in [never, "garbage", "", other_owners, ids[0].lower()]:
        value: object = (ids[0], bad) if field == "ids" else bad
        with pytest.raises(ItemNotFound) as caught:
            await find(stores.archive, **{field: value})
        assert caught.value.archive_id == bad


async def test_deleted_id_is_item_not_found(stores: StoreSet) -> None:
    from garrulus.storage.api import DeleteQuery

    ids = await fill(stores.archive)
    await stores.archive.delete(DeleteQuery(owner=OWNER, before=T0 + timedelta(minutes=1)))
    with pytest.raises(ItemNotFound):
        await find(stores.archive, page_after=ids[0])


# ---------------------------------------------------------------- other filters


async def test_msg_types(stores: StoreSet) -> None:
    ids = await fill(stores.archive)
    assert ids_of(await find(stores.archive, msg_types=frozenset({"groupchat"}))) == [ids[5]]
    page = await find(stores.archive, msg_types=frozenset({"chat", "normal"}), limit=None)
    assert ids_of(page) == ids[:5] + ids[6:]
    page = await find(stores.archive, msg_types=frozenset(), want_total=True)
    assert page.items == () and page.complete and page.total == 0


async def test_fulltext(stores: StoreSet) -> None:
    if not stores.archive.caps.fulltext:
        pytest.skip("this backend has no full-text search")
    ids = await fill(stores.archive)
    assert ids_of(await find(stores.archive, fulltext="msg3")) == [ids[3]]
    assert ids_of(await find(stores.archive, fulltext="EVEN", limit=None)) == ids[::2]
    assert ids_of(await find(stores.archive, fulltext="odd msg7")) == [ids[7]]  # every word
    assert ids_of(await find(stores.archive, fulltext="odd msg4")) == []
    page = await find(stores.archive, fulltext="even", with_bare=ROMEO, limit=2, last_page=True)
    assert ids_of(page) == [ids[6], ids[8]] and not page.complete
    assert (await find(stores.archive, fulltext="even", want_total=True)).total == 5


@pytest.mark.parametrize(
    "text", ['"', "NEAR(a b)", "msg1 OR msg2", "*", "a AND", "-msg1", "col:msg1", "'; DROP"]
)
async def test_fulltext_syntax_is_not_interpreted(stores: StoreSet, text: str) -> None:
    if not stores.archive.caps.fulltext:
        pytest.skip("this backend has no full-text search")
    await fill(stores.archive)
    page = await find(stores.archive, fulltext=text, limit=None)
    assert page.complete  # no error; the words are just words


async def test_fulltext_without_words_is_no_filter(stores: StoreSet) -> None:
    if not stores.archive.caps.fulltext:
        pytest.skip("this backend has no full-text search")
    ids = await fill(stores.archive)
    assert ids_of(await find(stores.archive, fulltext=" ?! ", limit=None)) == ids


async def test_messages_without_body_never_match_fulltext(stores: StoreSet) -> None:
    if not stores.archive.caps.fulltext:
        pytest.skip("this backend has no full-text search")
    await stores.archive.append(item(body=None, stanza="<message><composing/></message>"))
    hit = await stores.archive.append(item(minute=1, body="hello"))
    assert ids_of(await find(stores.archive, fulltext="hello")) == [hit]
    assert ids_of(await find(stores.archive, fulltext="composing")) == []


# ---------------------------------------------------------------- totals and positions


async def test_totals(stores: StoreSet) -> None:
    ids = await fill(stores.archive)
    cases = [
        (ArchiveQuery(), 10),
        (ArchiveQuery(with_bare=ROMEO), 5),
        (ArchiveQuery(with_bare=ROMEO, with_resource="orchard"), 3),
        (ArchiveQuery(start=T0 + timedelta(minutes=3)), 7),
        (ArchiveQuery(after_id=ids[1], before_id=ids[5]), 3),
        (ArchiveQuery(msg_types=frozenset({"groupchat"})), 1),
    ]
    for query, total in cases:
        for paged in [
            dataclasses.replace(query, want_total=True, limit=2),
            dataclasses.replace(query, want_total=True, limit=2, last_page=True),
            dataclasses.replace(query, want_total=True, limit=2, page_after=ids[4]),
        ]:
            assert (await stores.archive.find(OWNER, paged)).total == total, paged
    assert (await find(stores.archive)).total is None  # not asked, not given


async def test_first_index(stores: StoreSet) -> None:
    ids = await fill(stores.archive)
    # Free to know: a first page, and a backward page that reaches the start.
    page = await find(stores.archive, limit=3)
    assert page.first_index == 0
    page = await find(stores.archive, limit=3, page_before=ids[2])
    assert page.first_index == 0
    page = await find(stores.archive, limit=3, with_bare=NURSE, start=T0 + timedelta(minutes=2))
    assert page.first_index == 0
    # With a total (want_total), a last page is free too: total - len(items).
    for query, expected in [
        (ArchiveQuery(limit=3, last_page=True, want_total=True), 7),
        (ArchiveQuery(limit=2, last_page=True, with_bare=NURSE, want_total=True), 3),
        (ArchiveQuery(limit=3, with_bare=ROMEO, want_total=True), 0),  # a first page still
    ]:
        page = await stores.archive.find(OWNER, query)
        assert page.first_index == expected, query
    # Elsewhere a position costs a count of everything before the page, so a store may leave
    # it out (the SQL store does; the memory store knows it anyway) even with want_total; but
    # whenever it is given it is exact.
    for query, expected in [
        (ArchiveQuery(limit=3, page_after=ids[4], want_total=True), 5),
        (ArchiveQuery(limit=3, page_before=ids[6], want_total=True), 3),
        (ArchiveQuery(limit=2, page_after=ids[2], with_bare=ROMEO, want_total=True), 2),
        (ArchiveQuery(limit=3, page_after=ids[6], want_total=True), 7),  # forward, to the end
        (ArchiveQuery(limit=3, page_after=ids[4]), 5),
        (ArchiveQuery(limit=3, last_page=True), 7),  # a last page, but no total to count from
    ]:
        page = await stores.archive.find(OWNER, query)
        assert page.items, query
        assert page.first_index in (None, expected), query
    # A window cut by both cursors: a complete backward page is not the start of the set.
    for want_total in (False, True):
        page = await find(
            stores.archive, limit=3, page_after=ids[2], page_before=ids[6], want_total=want_total
        )
        assert ids_of(page) == ids[3:6] and page.complete and page.first_index in (None, 3)
    # An empty page has no position.
    assert (await find(stores.archive, limit=3, page_after=ids[9])).first_index is None
    page = await find(stores.archive, limit=3, page_after=ids[9], want_total=True)
    assert page.items == () and page.first_index is None


# ---------------------------------------------------------------- owners are separate


async def test_archives_are_per_owner(stores: StoreSet) -> None:
    await fill(stores.archive)
    page = await stores.archive.find(ROMEO, ArchiveQuery(limit=None, want_total=True))
    assert page.total == 10 and all(m.owner == ROMEO for m in page.items)
    assert all(m.when == T0 + timedelta(minutes=i + 0.5) for i, m in enumerate(page.items))
    assert id_time(0) < page.items[0].when
