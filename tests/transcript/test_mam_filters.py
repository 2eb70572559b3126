"""Checklist 1.4 (FLT) and 1.16 (FTS): the query form's filters."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from garrulus.core.clock import FakeClock
from garrulus.core.server import Server
from garrulus.storage.api import ArchiveCaps, ArchiveStore
from garrulus.xmpp.datetime import format_datetime
from tests.harness import FakeSession, Transcript, login, start_server
from tests.transcript.test_mam_support import (
    DELAY,
    FWD,
    MAM,
    MODULES,
    archive_of,
    chat,
    count_of,
    iq,
    query,
    rsm_set,
    start_server_wrapping_archive,
)

T0 = datetime(2026, 3, 1, 10, 0, 0, tzinfo=UTC)


@dataclass
class Conversation:
    server: Server
    alice: FakeSession
    bob: FakeSession
    bob2: FakeSession
    kate: FakeSession


async def conversation(tmp_path: Path, clock: FakeClock | None = None) -> Conversation:
    server = await start_server(tmp_path, MODULES, clock=clock)
    c = Conversation(
        server,
        await login(server, "alice@localhost/a"),
        await login(server, "bob@localhost/r1"),
        await login(server, "bob@localhost/r2"),
        await login(server, "kate@localhost/k"),
    )
    return c


async def bodies(c: Conversation, **kwargs: Any) -> list[str]:
    page = await query(c.server, c.alice, **kwargs)
    assert page.ok, page.iq
    assert page.complete
    return page.bodies


# ---------------------------------------------------------------- with


async def test_flt_01_bare_with_matches_both_directions(tmp_path: Path) -> None:
    c = await conversation(tmp_path)
    await chat(c.server, c.bob, "alice@localhost", "b1")
    await chat(c.server, c.alice, "bob@localhost", "a-b")
    await chat(c.server, c.kate, "alice@localhost", "k1")
    await chat(c.server, c.alice, "kate@localhost/k", "a-k")
    await chat(c.server, c.bob, "alice@localhost/a", "b2")
    assert await bodies(c, form={"with": "bob@localhost"}) == ["b1", "a-b", "b2"]
    assert await bodies(c, form={"with": "kate@localhost"}) == ["k1", "a-k"]
    await c.server.stop()


async def test_flt_02_bare_with_matches_every_resource(tmp_path: Path) -> None:
    c = await conversation(tmp_path)
    await chat(c.server, c.bob, "alice@localhost", "from r1")
    await chat(c.server, c.bob2, "alice@localhost", "from r2")
    await chat(c.server, c.alice, "bob@localhost/r2", "to r2")
    assert await bodies(c, form={"with": "bob@localhost"}) == ["from r1", "from r2", "to r2"]
    await c.server.stop()


async def test_flt_03_full_with_matches_only_that_resource(tmp_path: Path) -> None:
    c = await conversation(tmp_path)
    await chat(c.server, c.bob, "alice@localhost", "from r1")
    await chat(c.server, c.bob2, "alice@localhost", "from r2")
    await chat(c.server, c.alice, "bob@localhost/r1", "to r1")
    await chat(c.server, c.alice, "bob@localhost", "to bare")
    assert await bodies(c, form={"with": "bob@localhost/r1"}) == ["from r1", "to r1"]
    assert await bodies(c, form={"with": "bob@localhost/r2"}) == ["from r2"]
    await c.server.stop()


async def test_flt_04_own_jid_is_only_self_messages(tmp_path: Path) -> None:
    c = await conversation(tmp_path)
    await chat(c.server, c.bob, "alice@localhost", "from bob")
    await chat(c.server, c.alice, "alice@localhost", "note to self")
    await chat(c.server, c.alice, "bob@localhost", "to bob")
    assert await bodies(c, form={"with": "alice@localhost"}) == ["note to self"]
    await c.server.stop()


async def test_flt_05_with_is_normalised(tmp_path: Path) -> None:
    c = await conversation(tmp_path)
    await chat(c.server, c.bob, "alice@localhost", "hi")
    assert await bodies(c, form={"with": "BOB@LOCALHOST"}) == ["hi"]
    assert await bodies(c, form={"with": "Bob@LocalHost/r1"}) == ["hi"]
    await c.server.stop()


async def test_flt_06_with_nobody_is_empty_and_complete(tmp_path: Path) -> None:
    c = await conversation(tmp_path)
    await chat(c.server, c.bob, "alice@localhost", "hi")
    page = await query(c.server, c.alice, form={"with": "nobody@localhost"})
    # A filtered page carries no <count/> (RSM-24): an empty <set/>, and complete.
    Transcript().match(
        page.iq,
        """<iq type='result' id='q1' to='alice@localhost/a' from='alice@localhost'>
        <fin xmlns='urn:xmpp:mam:2' complete='true'><set xmlns='http://jabber.org/protocol/rsm'/>
        </fin></iq>""",
    )
    # Asked for (<max>0</max>), the set's size is 0.
    assert await count_of(c.server, c.alice, form={"with": "nobody@localhost"}) == 0
    await c.server.stop()


# ---------------------------------------------------------------- start / end


async def timed(tmp_path: Path, offsets_ms: list[int]) -> tuple[Conversation, list[str]]:
    """Bob sends one message per offset (milliseconds after T0); returns their delay stamps."""
    clock = FakeClock(T0)
    c = await conversation(tmp_path, clock)
    for n, ms in enumerate(offsets_ms, start=1):
        clock.set(T0 + timedelta(milliseconds=ms))
        await chat(c.server, c.bob, "alice@localhost", str(n))
    page = await query(c.server, c.alice)
    stamps = [
        r.find(f"{{{MAM}}}result/{{{FWD}}}forwarded/{{{DELAY}}}delay").get("stamp", "")  # type: ignore[union-attr]
        for r in page.results
    ]
    return c, stamps


async def test_flt_07_start_and_end_are_inclusive(tmp_path: Path) -> None:
    c, stamps = await timed(tmp_path, [0, 1000, 2000])
    assert stamps[1] == format_datetime(T0 + timedelta(seconds=1))  # RES-03: our time
    assert await bodies(c, form={"start": stamps[1], "end": stamps[1]}) == ["2"]
    assert await bodies(c, form={"start": stamps[1]}) == ["2", "3"]
    assert await bodies(c, form={"end": stamps[1]}) == ["1", "2"]
    await c.server.stop()


async def test_flt_08_any_xep0082_spelling_of_an_instant(tmp_path: Path) -> None:
    c, _ = await timed(tmp_path, [0, 1123, 2000])
    spellings = [
        "2026-03-01T10:00:01.123Z",
        "2026-03-01T12:00:01.123+02:00",
        "2026-03-01T05:30:01.123-04:30",
        "2026-03-01T10:00:01.123000Z",
        "2026-03-01T10:00:01.1230000001Z",
    ]
    for text in spellings:
        assert await bodies(c, form={"start": text}) == ["2", "3"], text
        assert await bodies(c, form={"end": text}) == ["1", "2"], text
    # Whole seconds, no fraction (Gajim's format).
    assert await bodies(c, form={"start": "2026-03-01T10:00:01Z"}) == ["2", "3"]
    assert await bodies(c, form={"end": "2026-03-01T10:00:01Z"}) == ["1"]
    await c.server.stop()


async def test_flt_09_start_after_end_is_empty(tmp_path: Path) -> None:
    c, stamps = await timed(tmp_path, [0, 1000])
    assert await bodies(c, form={"start": stamps[1], "end": stamps[0]}) == []
    await c.server.stop()


async def test_flt_10_sub_second_precision(tmp_path: Path) -> None:
    c, _ = await timed(tmp_path, [0, 200])
    assert await bodies(c, form={"start": "2026-03-01T10:00:00.100Z"}) == ["2"]
    assert await bodies(c, form={"end": "2026-03-01T10:00:00.100Z"}) == ["1"]
    await c.server.stop()


async def test_flt_11_time_filters_combine_with_everything(tmp_path: Path) -> None:
    clock = FakeClock(T0)
    c = await conversation(tmp_path, clock)
    # Bob and Kate alternate, one message a second: b1 k2 b3 k4 b5 k6 b7 k8.
    for n in range(1, 9):
        sender = c.bob if n % 2 else c.kate
        await chat(c.server, sender, "alice@localhost", f"{'b' if n % 2 else 'k'}{n}")
        clock.advance(timedelta(seconds=1))
    full = await query(c.server, c.alice)
    ids = dict(zip(full.bodies, full.ids, strict=True))

    def at(n: int) -> str:
        return format_datetime(T0 + timedelta(seconds=n - 1))

    # Conversations: with + start + end, paging back with <before/>.
    form = {"with": "bob@localhost", "start": at(2), "end": at(7)}
    page = await query(c.server, c.alice, form=form, rsm=rsm_set(max=2, last_page=True))
    assert page.bodies == ["b5", "b7"] and not page.complete
    assert page.count is None and page.first_index is None  # filtered: counted only when asked
    assert await count_of(c.server, c.alice, form=form) == 3
    page = await query(c.server, c.alice, form=form, rsm=rsm_set(max=2, before=page.first))
    assert page.bodies == ["b3"] and page.complete
    # Gajim: start + RSM after.
    page = await query(
        c.server, c.alice, form={"start": at(3)}, rsm=rsm_set(max=2, after=ids["k4"])
    )
    assert page.bodies == ["b5", "k6"] and not page.complete and page.count is None
    assert await count_of(c.server, c.alice, form={"start": at(3)}) == 6
    # Dino: start + empty <before/>.
    page = await query(
        c.server, c.alice, form={"start": at(6)}, rsm=rsm_set(max=20, last_page=True)
    )
    assert page.bodies == ["k6", "b7", "k8"] and page.complete
    # Time and id filters and ids together.
    form2: dict[str, str | list[str]] = {
        "start": at(2),
        "end": at(8),
        "after-id": ids["k2"],
        "before-id": ids["k8"],
        "ids": [ids["b1"], ids["k2"], ids["b3"], ids["k6"], ids["k8"]],
    }
    page = await query(c.server, c.alice, form=form2)
    assert page.bodies == ["b3", "k6"] and page.complete
    await c.server.stop()


# ---------------------------------------------------------------- before-id / after-id / ids


async def test_flt_12_after_id_is_exclusive(tmp_path: Path) -> None:
    a = await archive_of(tmp_path, 15)
    page = await a.query(form={"after-id": a.id(4)}, rsm=rsm_set(max=5))
    assert a.numbers(page.ids) == [5, 6, 7, 8, 9]
    a.match_fin(
        page,
        """<iq type='result' id='q1' to='alice@localhost/a' from='alice@localhost'>
        <fin xmlns='urn:xmpp:mam:2'><set xmlns='http://jabber.org/protocol/rsm'>
        <first>{id5}</first><last>{id9}</last></set></fin></iq>""",
    )
    assert await a.count(form={"after-id": a.id(4)}) == 11  # 5..15
    page = await a.query(form={"before-id": a.id(4)})
    assert a.numbers(page.ids) == [1, 2, 3]
    await a.stop()


async def test_flt_13_before_id_does_not_page_backwards(tmp_path: Path) -> None:
    a = await archive_of(tmp_path, 15)
    page = await a.query(form={"before-id": a.id(11)}, rsm=rsm_set(max=5))
    assert a.numbers(page.ids) == [1, 2, 3, 4, 5]
    assert not page.complete and page.count is None
    assert await a.count(form={"before-id": a.id(11)}) == 10  # 1..10
    await a.stop()


async def test_flt_14_after_id_and_before_id_are_an_open_range(tmp_path: Path) -> None:
    a = await archive_of(tmp_path, 15)
    page = await a.query(
        form={"after-id": a.id(5), "before-id": a.id(11)}, rsm=rsm_set(max=5, last_page=True)
    )
    assert a.numbers(page.ids) == [6, 7, 8, 9, 10]
    a.match_fin(
        page,
        """<iq type='result' id='q1' to='alice@localhost/a' from='alice@localhost'>
        <fin xmlns='urn:xmpp:mam:2' complete='true'><set xmlns='http://jabber.org/protocol/rsm'>
        <first>{id6}</first><last>{id10}</last></set></fin></iq>""",
    )
    assert await a.count(form={"after-id": a.id(5), "before-id": a.id(11)}) == 5
    await a.stop()


async def test_flt_15_rsm_pages_inside_the_form_range(tmp_path: Path) -> None:
    a = await archive_of(tmp_path, 15)
    page = await a.query(form={"after-id": a.id(5)}, rsm=rsm_set(max=3, after=a.id(8)))
    assert a.numbers(page.ids) == [9, 10, 11]
    page = await a.query(form={"after-id": a.id(5)}, rsm=rsm_set(max=5, last_page=True))
    assert a.numbers(page.ids) == [11, 12, 13, 14, 15]
    assert page.count is None and page.first_index is None and not page.complete
    assert await a.count(form={"after-id": a.id(5)}) == 10
    # Exactly 5 of the range lie before that last page (the index it no longer states).
    page = await a.query(form={"after-id": a.id(5)}, rsm=rsm_set(max=50, before=page.first))
    assert a.numbers(page.ids) == [6, 7, 8, 9, 10] and page.complete
    # An RSM id outside the form's range cannot widen it.
    page = await a.query(form={"after-id": a.id(5)}, rsm=rsm_set(max=3, after=a.id(2)))
    assert a.numbers(page.ids) == [6, 7, 8]
    await a.stop()


async def test_flt_16_ids_in_archive_order(tmp_path: Path) -> None:
    a = await archive_of(tmp_path, 12)
    page = await a.query(form={"ids": [a.id(10), a.id(5), a.id(10)]})
    assert a.numbers(page.ids) == [5, 10]
    assert page.complete and page.count is None
    assert await a.count(form={"ids": [a.id(10), a.id(5), a.id(10)]}) == 2
    await a.stop()


async def test_flt_17_unknown_id_is_item_not_found(tmp_path: Path) -> None:
    a = await archive_of(tmp_path, 12)
    # Well-formed for our id format but never issued, and plainly malformed (RSM-10: both
    # item-not-found).
    other = await archive_of(tmp_path / "other", 1)
    never_issued = other.id(1)  # another server's key: decodes to nothing of ours
    await other.stop()
    for bogus in (never_issued, "bogus"):
        for form in (
            {"ids": [a.id(3), a.id(12), bogus]},
            {"after-id": bogus},
            {"before-id": bogus},
        ):
            page = await a.query(form=form)
            assert page.results == []
            assert page.error() == ("cancel", "item-not-found"), form
            # The error names the id the client sent, never the store's id behind it.
            text = page.iq.findtext(
                "{jabber:client}error/{urn:ietf:params:xml:ns:xmpp-stanzas}text"
            )
            assert text == f"no message with id {bogus!r} in this archive"
    await a.stop()


async def test_flt_18_existing_id_outside_other_filters_is_no_error(tmp_path: Path) -> None:
    a = await archive_of(tmp_path, 3)  # all from Bob
    form = {"ids": [a.id(2)], "with": "kate@localhost"}
    page = await a.query(form=form)
    assert page.ok and page.results == [] and page.complete and page.count is None
    assert await a.count(form=form) == 0  # asked for, the count is no error either
    await a.stop()


async def test_flt_19_ids_with_rsm(tmp_path: Path) -> None:
    a = await archive_of(tmp_path, 6)
    page = await a.query(form={"ids": [a.id(2), a.id(5)]}, rsm=rsm_set(max=10, after=a.id(1)))
    assert a.numbers(page.ids) == [2, 5] and page.complete
    page = await a.query(form={"ids": [a.id(2), a.id(5)]}, rsm=rsm_set(max=1, after=a.id(2)))
    assert a.numbers(page.ids) == [5] and page.complete
    await a.stop()


async def test_flt_20_other_users_id_is_item_not_found(tmp_path: Path) -> None:
    a = await archive_of(tmp_path, 2)
    # Bob's own archive holds his sent copies, under other ids.
    bobs = await query(a.server, a.bob)
    assert len(bobs.ids) == 2 and not set(bobs.ids) & set(a.ids)
    for form in ({"ids": [bobs.ids[0]]}, {"after-id": bobs.ids[0]}):
        page = await a.query(form=form)
        assert page.error() == ("cancel", "item-not-found")
        # The store reports its own id; the client hears only of the one it sent.
        text = page.iq.findtext("{jabber:client}error/{urn:ietf:params:xml:ns:xmpp-stanzas}text")
        assert text == f"no message with id {bobs.ids[0]!r} in this archive"
    page = await a.query(rsm=rsm_set(after=bobs.ids[0]))
    assert page.error() == ("cancel", "item-not-found")
    await a.stop()


async def test_flt_21_include_groupchat_unsupported(tmp_path: Path) -> None:
    a = await archive_of(tmp_path, 2)
    page = await a.query(form={"include-groupchat": "false"})
    assert page.results == [] and page.error() == ("cancel", "feature-not-implemented")
    await a.stop()


# ---------------------------------------------------------------- full-text (XEP-0431)

FULLTEXT = "{urn:xmpp:fulltext:0}fulltext"
TEXTS = [
    "The cat sat",
    "the CAT's toy",
    "dogs only",
    "Cat!",
    "naïve café ☕ Ünïcödé",
    "catalogue",
    "cat and dog",
]


@pytest.fixture(params=["memory", "sqlite"])
def store_kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


async def fulltext_archive(tmp_path: Path, kind: str) -> Any:
    a = await archive_of(tmp_path, 0, sql=kind == "sqlite")
    for n, text in enumerate(TEXTS, start=1):
        sender = a.bob if n != 7 else await login(a.server, "kate@localhost/k")
        await chat(a.server, sender, "alice@localhost", text, f"t{n}")
    await a.refresh()
    return a


async def test_fts_01_field_and_empty_value(tmp_path: Path, store_kind: str) -> None:
    a = await fulltext_archive(tmp_path, store_kind)
    assert a.server.storage.archive.caps.fulltext
    page = await a.query(form={FULLTEXT: "dogs"})
    assert page.bodies == ["dogs only"]
    page = await a.query(form={FULLTEXT: ""})  # empty: no text filter
    assert len(page.results) == len(TEXTS)
    await a.stop()


class NoFulltext:
    """An archive store that cannot search (as a backend without FTS would report)."""

    def __init__(self, inner: ArchiveStore) -> None:
        self._inner = inner
        self.caps = ArchiveCaps(total=True, fulltext=False, wildcard_delete=True)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


async def test_fts_01_not_offered_without_store_support(tmp_path: Path) -> None:
    server = await start_server_wrapping_archive(tmp_path, NoFulltext)
    alice = await login(server, "alice@localhost/a")
    disco = await iq(
        server,
        alice,
        "<iq type='get' id='d'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>",
    )
    assert "urn:xmpp:fulltext:0" not in {f.get("var") for f in disco.iter()}
    form = await iq(server, alice, f"<iq type='get' id='f'><query xmlns='{MAM}'/></iq>")
    assert FULLTEXT not in {f.get("var") for f in form.iter("{jabber:x:data}field")}
    page = await query(server, alice, form={FULLTEXT: "cat"})
    assert page.error() == ("cancel", "feature-not-implemented")  # FRM-13, as M does
    await server.stop()


async def test_fts_02_case_insensitive_word_match_unicode(tmp_path: Path, store_kind: str) -> None:
    a = await fulltext_archive(tmp_path, store_kind)
    # Words, not substrings ("catalogue" is not a cat); case-folded; punctuation splits words.
    # No stemming: "cats" would not find "cat" (a choice of the store; XEP-0431 leaves it open).
    page = await a.query(form={FULLTEXT: "cat"})
    assert page.bodies == ["The cat sat", "the CAT's toy", "Cat!", "cat and dog"]
    page = await a.query(form={FULLTEXT: "CAFÉ"})
    assert page.bodies == ["naïve café ☕ Ünïcödé"]
    page = await a.query(form={FULLTEXT: "ünïcödé naïve"})
    assert page.bodies == ["naïve café ☕ Ünïcödé"]
    page = await a.query(form={FULLTEXT: "cat toy"})  # every word must occur
    assert page.bodies == ["the CAT's toy"]
    await a.stop()


async def test_fts_03_combines_with_filters_rsm_and_count(tmp_path: Path, store_kind: str) -> None:
    a = await fulltext_archive(tmp_path, store_kind)
    form = {FULLTEXT: "cat", "with": "bob@localhost"}
    page = await a.query(form=form, rsm=rsm_set(max=2))
    assert page.bodies == ["The cat sat", "the CAT's toy"] and page.count is None
    assert not page.complete
    assert await a.count(form=form) == 3
    page = await a.query(form=form, rsm=rsm_set(max=2, after=page.last))
    assert page.bodies == ["Cat!"] and page.complete
    assert page.count is None and page.first_index is None  # filtered: no count, no index
    form = {FULLTEXT: "cat", "after-id": a.id(2)}
    page = await a.query(form=form, rsm=rsm_set(last_page=True, max=1))
    assert page.bodies == ["cat and dog"] and page.count is None and not page.complete
    assert await a.count(form=form) == 2
    await a.stop()


async def test_fts_04_legacy_field_name_refused(tmp_path: Path) -> None:
    a = await archive_of(tmp_path, 1)
    page = await a.query(form={"full-text-search": "cat"})
    assert page.error() == ("cancel", "feature-not-implemented")
    await a.stop()


async def test_flt_sqlite_store_agrees_on_filters(tmp_path: Path) -> None:
    # The same paging/filter answers from the SQL backend, so the MAM layer does not rely on
    # memory-store quirks.
    a = await archive_of(tmp_path, 15, sql=True)
    page = await a.query(form={"after-id": a.id(5)}, rsm=rsm_set(max=5, last_page=True))
    assert a.numbers(page.ids) == [11, 12, 13, 14, 15]
    assert page.count is None and page.first_index is None and not page.complete
    assert await a.count(form={"after-id": a.id(5)}) == 10  # the store's filtered count
    page = await a.query(form={"after-id": a.id(5)}, rsm=rsm_set(max=50, before=page.first))
    assert a.numbers(page.ids) == [6, 7, 8, 9, 10] and page.complete
    page = await a.query(form={"before-id": a.id(11)}, rsm=rsm_set(max=5))
    assert a.numbers(page.ids) == [1, 2, 3, 4, 5] and not page.complete
    assert await a.count(form={"before-id": a.id(11)}) == 10
    page = await a.query(form={"ids": [a.id(10), a.id(5)]})
    assert a.numbers(page.ids) == [5, 10] and page.complete
    assert await a.count(form={"ids": [a.id(10), a.id(5)]}) == 2
    # Unfiltered pages carry the kept total; the SQL store states an index only where it is
    # free (a first page, a last page), never a count for a middle one.
    page = await a.query(rsm=rsm_set(max=5))
    assert (page.count, page.first_index) == (15, 0)
    page = await a.query(rsm=rsm_set(max=5, last_page=True))
    assert (page.count, page.first_index) == (15, 10)
    page = await a.query(rsm=rsm_set(max=5, after=a.id(5)))
    assert a.numbers(page.ids) == [6, 7, 8, 9, 10]
    assert (page.count, page.first_index) == (15, None)
    await a.stop()
