"""Property: for any archive and any filter, paging through the result forwards (RSM after)
and backwards (RSM before) yields exactly the filtered items, in order, without gap or
duplicate, with ``complete`` true exactly on the last page. Checked against a plain model."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from garrulus.storage.api import ArchivePage, ArchiveQuery, Direction, NewArchiveItem, StoreSet
from garrulus.storage.ids import decode_id
from garrulus.storage.manager import open_storage

from .conftest import T0, pg_schema, pg_url, sqlite_url

PEERS = ["romeo@montague.lit", "nurse@capulet.lit", "tybalt@capulet.lit"]
RESOURCES = [None, "orchard", "balcony"]
TYPES = ["chat", "groupchat", "normal"]
WORDS = ["rose", "name", "night", "star"]


@dataclass(frozen=True)
class Stored:
    id: str
    item: NewArchiveItem


new_items = st.lists(
    st.builds(
        lambda peer, resource, second, msg_type, words: (peer, resource, second, msg_type, words),
        st.sampled_from(PEERS),
        st.sampled_from(RESOURCES),
        st.integers(0, 15),  # few distinct times: many items share a millisecond
        st.sampled_from(TYPES),
        st.lists(st.sampled_from(WORDS), max_size=3),
    ),
    max_size=25,
)


def draw_query(data: st.DataObject, stored: list[Stored], fulltext: bool) -> ArchiveQuery:
    ids = [s.id for s in stored]
    maybe_id = st.sampled_from(ids) if ids else st.nothing()
    time = st.integers(-1, 16).map(lambda s: T0 + timedelta(seconds=s))
    with_bare = data.draw(st.none() | st.sampled_from([*PEERS, "stranger@verona.lit"]))
    return ArchiveQuery(
        with_bare=with_bare,
        with_resource=data.draw(st.none() | st.sampled_from(RESOURCES[1:])) if with_bare else None,
        start=data.draw(st.none() | time),
        end=data.draw(st.none() | time),
        after_id=data.draw(st.none() | maybe_id),
        before_id=data.draw(st.none() | maybe_id),
        ids=data.draw(st.none() | st.lists(maybe_id, max_size=6 if ids else 0).map(tuple)),
        fulltext=data.draw(st.none() | st.sampled_from(WORDS)) if fulltext else None,
        msg_types=data.draw(st.none() | st.frozensets(st.sampled_from(TYPES))),
        limit=data.draw(st.integers(1, 6)),
        want_total=data.draw(st.booleans()),
    )


def model(stored: list[Stored], q: ArchiveQuery) -> list[str]:
    """The filtered set, straight from the definitions (ids sort as time then insertion)."""

    def n(archive_id: str) -> int:
        value = decode_id(archive_id)
        assert value is not None
        return value

    out = []
    for s in sorted(stored, key=lambda s: n(s.id)):
        it = s.item
        if q.with_bare is not None and it.peer != q.with_bare:
            continue
        if q.with_resource is not None and it.peer_resource != q.with_resource:
            continue
        if q.start is not None and it.when < q.start:
            continue
        if q.end is not None and it.when > q.end:
            continue
        if q.after_id is not None and n(s.id) <= n(q.after_id):
            continue
        if q.before_id is not None and n(s.id) >= n(q.before_id):
            continue
        if q.ids is not None and s.id not in q.ids:
            continue
        if q.fulltext is not None and q.fulltext not in (it.body or "").split():
            continue
        if q.msg_types is not None and it.msg_type not in q.msg_types:
            continue
        out.append(s.id)
    return out


def check_page(page: ArchivePage, expected: list[str], q: ArchiveQuery) -> None:
    if q.want_total:
        assert page.total == len(expected)
    if page.items and page.first_index is not None:
        assert expected[page.first_index] == page.items[0].id


async def page_forwards(stores: StoreSet, owner: str, q: ArchiveQuery, expected: list[str]) -> None:
    seen: list[str] = []
    after = None
    for _ in range(len(expected) + 2):
        page = await stores.archive.find(owner, _with(q, page_after=after))
        check_page(page, expected, q)
        seen += [m.id for m in page.items]
        # complete exactly when nothing of the filtered set lies after this page
        assert page.complete == (len(seen) == len(expected))
        if page.complete:
            break
        assert page.items, "an incomplete page must make progress"
        after = page.items[-1].id
    assert seen == expected


async def page_backwards(
    stores: StoreSet, owner: str, q: ArchiveQuery, expected: list[str]
) -> None:
    seen: list[str] = []
    before = None
    for _ in range(len(expected) + 2):
        query = _with(q, last_page=True) if before is None else _with(q, page_before=before)
        page = await stores.archive.find(owner, query)
        check_page(page, expected, q)
        seen = [m.id for m in page.items] + seen
        assert page.complete == (len(seen) == len(expected))
        if page.complete:
            break
        assert page.items, "an incomplete page must make progress"
        before = page.items[0].id
    assert seen == expected


def _with(q: ArchiveQuery, **changes: object) -> ArchiveQuery:
    import dataclasses

    return dataclasses.replace(q, **changes)  # type: ignore[arg-type]


@pytest.fixture(params=["memory", "sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, str | None]]:
    if request.param == "memory":
        yield "memory", None
    elif request.param == "sqlite":
        yield "sql", sqlite_url(tmp_path / "garrulus.sqlite")
    else:
        with pg_schema() as schema:
            yield "sql", pg_url(schema)


def test_paging_returns_exactly_the_filtered_set(backend: tuple[str, str | None]) -> None:
    kind, url = backend
    loop = asyncio.new_event_loop()
    stores = loop.run_until_complete(open_storage(dict(archive=kind), url))
    owners = itertools.count()
    examples = 200 if kind == "memory" else 80

    @settings(
        max_examples=examples,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
        database=None,
    )
    @given(new_items, st.data())
    def check(raw: list[tuple[str, str | None, int, str, list[str]]], data: st.DataObject) -> None:
        owner = f"user{next(owners)}@capulet.lit"  # a fresh archive per example
        items = [
            NewArchiveItem(
                owner=owner,
                peer=peer,
                peer_resource=resource,
                direction=Direction.IN,
                when=T0 + timedelta(seconds=second),
                stanza=f"<message><body>{' '.join(words)}</body></message>",
                body=" ".join(words) or None,
                msg_type=msg_type,
            )
            for peer, resource, second, msg_type, words in raw
        ]

        async def run() -> None:
            ids = await stores.archive.append_many(items)
            stored = [Stored(i, it) for i, it in zip(ids, items, strict=True)]
            for s in stored:  # ids carry the time, ms precision
                assert (await stores.archive.get(owner, s.id)) is not None
            q = draw_query(data, stored, stores.archive.caps.fulltext)
            expected = model(stored, q)
            await page_forwards(stores, owner, q, expected)
            await page_backwards(stores, owner, q, expected)

        loop.run_until_complete(run())

    try:
        check()
    finally:
        loop.run_until_complete(stores.close())
        loop.close()
