"""Checklist 1.5 (RSM), 1.6 (FIN) and 1.7 (FLIP): paging, completeness, flipped pages.

Alice's archive holds Bob's messages 1..N; ``{idK}`` is message K's id (see test_mam_support).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from garrulus.core.clock import FakeClock
from tests.harness import login
from tests.transcript.test_mam_support import Archive, archive_of, chat, rsm_set

FIN = """<iq type='result' id='q1' to='alice@localhost/a' from='alice@localhost'>
<fin xmlns='urn:xmpp:mam:2'{complete}><set xmlns='http://jabber.org/protocol/rsm'>{set}</set></fin>
</iq>"""


def fin(set_xml: str, *, complete: bool) -> str:
    return FIN.format(complete=" complete='true'" if complete else "", set=set_xml)


@pytest.fixture
async def a15(tmp_path: Path) -> AsyncIterator[Archive]:
    archive = await archive_of(tmp_path, 15)
    yield archive
    await archive.stop()


# ---------------------------------------------------------------- page selection


async def test_rsm_01_max_limits(a15: Archive) -> None:
    page = await a15.query(rsm=rsm_set(max=5))
    assert a15.numbers(page.ids) == [1, 2, 3, 4, 5]
    a15.match_fin(
        page,
        fin("<first index='0'>{id1}</first><last>{id5}</last><count>15</count>", complete=False),
    )


async def test_rsm_02_server_caps_max(tmp_path: Path) -> None:
    a = await archive_of(tmp_path, 15, extra="max_archive_query_results = 5")
    page = await a.query(rsm=rsm_set(max=10000))
    assert a.numbers(page.ids) == [1, 2, 3, 4, 5] and not page.complete
    page = await a.query(rsm=rsm_set(max=10000, after=a.id(10)))
    assert a.numbers(page.ids) == [11, 12, 13, 14, 15] and page.complete
    await a.stop()
    # The default cap is 50.
    big = await archive_of(tmp_path / "big", 55)
    page = await big.query(rsm=rsm_set(max=99999999999999999999))
    assert len(page.results) == 50 and not page.complete and page.count == 55
    await big.stop()


async def test_rsm_03_no_set_pages_at_default_size(tmp_path: Path) -> None:
    a = await archive_of(tmp_path, 60)
    page = await a.query()
    assert a.numbers(page.ids) == list(range(1, 21))
    a.match_fin(
        page,
        fin("<first index='0'>{id1}</first><last>{id20}</last><count>60</count>", complete=False),
    )
    await a.stop()


async def test_rsm_04_bad_max_is_bad_request(a15: Archive) -> None:
    for value in ("-1", "abc", "1.5", ""):
        page = await a15.query(
            rsm=f"<set xmlns='http://jabber.org/protocol/rsm'><max>{value}</max></set>"
        )
        assert page.results == []
        assert page.error() == ("modify", "bad-request"), value


async def test_rsm_05_after(a15: Archive) -> None:
    page = await a15.query(rsm=rsm_set(max=5, after=a15.id(10)))
    assert a15.numbers(page.ids) == [11, 12, 13, 14, 15]
    page = await a15.query(rsm=rsm_set(max=3, after=a15.id(4)))
    assert a15.numbers(page.ids) == [5, 6, 7]


async def test_rsm_06_before_gives_the_nearest_page(a15: Archive) -> None:
    page = await a15.query(rsm=rsm_set(max=5, before=a15.id(10)))
    assert a15.numbers(page.ids) == [5, 6, 7, 8, 9]
    a15.match_fin(
        page,
        fin("<first index='4'>{id5}</first><last>{id9}</last><count>15</count>", complete=False),
    )


async def test_rsm_07_empty_before_is_the_last_page(a15: Archive) -> None:
    page = await a15.query(rsm=rsm_set(max=5, last_page=True))
    assert a15.numbers(page.ids) == [11, 12, 13, 14, 15]
    # Whitespace inside <before> is still "empty" (the last page), not an id.
    page = await a15.query(
        rsm="<set xmlns='http://jabber.org/protocol/rsm'><max>2</max><before> </before></set>"
    )
    assert a15.numbers(page.ids) == [14, 15]


async def test_rsm_08_backward_pages_oldest_first(a15: Archive) -> None:
    page = await a15.query(rsm=rsm_set(max=5, last_page=True))
    assert page.bodies == ["11", "12", "13", "14", "15"]
    page = await a15.query(rsm=rsm_set(max=4, before=a15.id(6)))
    assert page.bodies == ["2", "3", "4", "5"]


async def test_rsm_09_unknown_rsm_id_is_item_not_found(a15: Archive, tmp_path: Path) -> None:
    # An id from another server (another id key): well-formed, never issued here.
    other = await archive_of(tmp_path / "other", 1)
    foreign = other.id(1)
    await other.stop()
    for rsm in (rsm_set(after=foreign), rsm_set(before=foreign, max=3)):
        page = await a15.query(rsm=rsm)
        assert page.results == []
        assert page.error() == ("cancel", "item-not-found")


async def test_rsm_10_malformed_id_is_item_not_found(a15: Archive) -> None:
    # Our pick: a malformed id is just an id not in the archive (no separate not-acceptable).
    for bogus in ("bogus", "x" * 11, "AAAAAAAAAAA", "=", "a" * 200):
        page = await a15.query(rsm=rsm_set(after=bogus))
        assert page.error() == ("cancel", "item-not-found"), bogus


async def test_rsm_11_rsm_id_need_not_be_in_the_filtered_set(tmp_path: Path) -> None:
    a = await archive_of(tmp_path, 0)
    kate = await login(a.server, "kate@localhost/k")
    for n, sender in enumerate([a.bob, a.bob, kate, kate, a.bob], start=1):
        await chat(a.server, sender, "alice@localhost", str(n))
    await a.refresh()
    page = await a.query(form={"with": "kate@localhost"}, rsm=rsm_set(after=a.id(3)))
    assert page.bodies == ["4"] and page.complete
    page = await a.query(form={"with": "kate@localhost"}, rsm=rsm_set(after=a.id(2)))
    assert page.bodies == ["3", "4"]
    page = await a.query(form={"with": "kate@localhost"}, rsm=rsm_set(before=a.id(5)))
    assert page.bodies == ["3", "4"]
    await a.stop()


async def test_rsm_12_empty_after_is_no_after(a15: Archive) -> None:
    for after in ("<after/>", "<after>  </after>"):
        page = await a15.query(
            rsm=f"<set xmlns='http://jabber.org/protocol/rsm'><max>3</max>{after}</set>"
        )
        assert a15.numbers(page.ids) == [1, 2, 3], after


async def test_rsm_13_after_and_before_together(a15: Archive) -> None:
    page = await a15.query(rsm=rsm_set(max=3, after=a15.id(3), before=a15.id(10)))
    assert a15.numbers(page.ids) == [7, 8, 9] and not page.complete
    page = await a15.query(rsm=rsm_set(max=100, after=a15.id(3), before=a15.id(10)))
    assert a15.numbers(page.ids) == [4, 5, 6, 7, 8, 9] and page.complete


async def test_rsm_14_index_is_feature_not_implemented(a15: Archive) -> None:
    # Our pick (as ejabberd): keyset paging has no offsets; never silently page 1.
    page = await a15.query(
        rsm="<set xmlns='http://jabber.org/protocol/rsm'><max>5</max><index>5</index></set>"
    )
    assert page.results == []
    assert page.error() == ("cancel", "feature-not-implemented")


async def test_rsm_16_max_zero_counts_only(a15: Archive) -> None:
    page = await a15.query(rsm=rsm_set(max=0))
    assert page.results == []
    a15.match_fin(page, fin("<count>15</count>", complete=False))


async def test_rsm_17_no_gap_or_duplicate_within_one_timestamp(tmp_path: Path) -> None:
    # A stopped clock: all 30 messages share one millisecond, so order is the id's alone.
    a = await archive_of(tmp_path, 30, clock=FakeClock())
    assert a.server.clock.now() == FakeClock().now()
    seen: list[str] = []
    after: str | None = None
    while True:
        page = await a.query(rsm=rsm_set(max=7, after=after))
        seen += page.bodies
        if page.complete:
            break
        after = page.last
    assert seen == [str(n) for n in range(1, 31)]
    seen = []
    before: str | None = None
    while True:
        page = await a.query(rsm=rsm_set(max=7, before=before, last_page=before is None))
        seen = page.bodies + seen
        if page.complete:
            break
        before = page.first
    assert seen == [str(n) for n in range(1, 31)]
    await a.stop()


# ---------------------------------------------------------------- the response <set/>


async def test_rsm_18_one_item_page_has_first_and_last(a15: Archive) -> None:
    page = await a15.query(rsm=rsm_set(max=1))
    a15.match_fin(
        page,
        fin("<first index='0'>{id1}</first><last>{id1}</last><count>15</count>", complete=False),
    )
    page = await a15.query(rsm=rsm_set(max=1, last_page=True))
    a15.match_fin(
        page,
        fin("<first index='14'>{id15}</first><last>{id15}</last><count>15</count>", complete=False),
    )


async def test_rsm_19_empty_page_has_neither(a15: Archive) -> None:
    page = await a15.query(rsm=rsm_set(after=a15.id(15)))
    a15.match_fin(page, fin("<count>15</count>", complete=True))
    # Filtered: no <count/> unless asked (RSM-24), so an empty <set/>; asked, it is 0.
    page = await a15.query(form={"with": "kate@localhost"})
    a15.match_fin(page, fin("", complete=True))
    assert await a15.count(form={"with": "kate@localhost"}) == 0


async def test_rsm_20_first_and_last_are_result_ids(a15: Archive) -> None:
    page = await a15.query(rsm=rsm_set(max=4, after=a15.id(2)))
    assert page.first == page.ids[0] == a15.id(3)
    assert page.last == page.ids[-1] == a15.id(6)


async def test_rsm_21_flipped_page_keeps_first_oldest(a15: Archive) -> None:
    page = await a15.query(rsm=rsm_set(max=3, after=a15.id(2)), flip=True)
    assert a15.numbers(page.ids) == [5, 4, 3]
    assert page.first == a15.id(3) and page.last == a15.id(5)


async def test_rsm_22_count_is_the_filtered_set(a15: Archive) -> None:
    after: str | None = None
    for _ in range(5):  # 4 + 4 + 4 + 3, then an empty page
        page = await a15.query(rsm=rsm_set(max=4, after=after))
        assert page.count == 15
        after = page.last or after
    assert page.results == [] and page.count == 15  # the empty last page too
    # A filtered set is counted only when asked (<max>0</max>), its pages carry no count ...
    page = await a15.query(form={"after-id": a15.id(4)}, rsm=rsm_set(max=5))
    assert a15.numbers(page.ids) == [5, 6, 7, 8, 9] and page.count is None
    page = await a15.query(form={"after-id": a15.id(4)}, rsm=rsm_set(max=5, after=a15.id(9)))
    assert a15.numbers(page.ids) == [10, 11, 12, 13, 14] and page.count is None
    # ... and the count is of the filtered set, wherever the RSM cursor stands.
    assert await a15.count(form={"after-id": a15.id(4)}) == 11
    assert await a15.count(form={"after-id": a15.id(4)}, after=a15.id(9)) == 11
    assert await a15.count(form={"after-id": a15.id(4)}, before=a15.id(9)) == 11


async def test_rsm_23_first_index_is_exact(a15: Archive) -> None:
    page = await a15.query(rsm=rsm_set(max=5, last_page=True))
    assert page.first_index == 10
    page = await a15.query(rsm=rsm_set(max=5, before=a15.id(10)))
    assert page.first_index == 4
    page = await a15.query(rsm=rsm_set(max=5, before=a15.id(3)))
    assert page.first_index == 0 and a15.numbers(page.ids) == [1, 2]
    page = await a15.query(rsm=rsm_set(max=5, after=a15.id(7)))
    assert page.first_index == 7
    # slixmpp's stop rule: index + items == count exactly on the last forward page.
    assert page.first_index + len(page.results) != page.count
    page = await a15.query(rsm=rsm_set(max=5, after=a15.id(12)))
    assert page.first_index is not None
    assert page.first_index + len(page.results) == page.count
    # A filtered page states neither index nor count (RSM-24); the count is asked for, and the
    # position checked by paging back: exactly 4 of the set (3..6) lie before the page.
    form = {"with": "bob@localhost", "after-id": a15.id(2)}
    page = await a15.query(form=form, rsm=rsm_set(max=3, after=a15.id(6)))
    assert a15.numbers(page.ids) == [7, 8, 9]
    assert page.first_index is None and page.count is None
    assert await a15.count(form=form) == 13
    page = await a15.query(form=form, rsm=rsm_set(max=50, before=page.first))
    assert a15.numbers(page.ids) == [3, 4, 5, 6] and page.complete


async def test_rsm_24_without_totals_complete_stays_right(tmp_path: Path) -> None:
    a = await archive_of(tmp_path, 6, extra="mam_include_total = false")
    page = await a.query(rsm=rsm_set(max=3))
    a.match_fin(page, fin("<first>{id1}</first><last>{id3}</last>", complete=False))
    page = await a.query(rsm=rsm_set(max=3, after=a.id(3)))
    a.match_fin(page, fin("<first>{id4}</first><last>{id6}</last>", complete=True))
    page = await a.query(rsm=rsm_set(max=3, last_page=True))
    a.match_fin(page, fin("<first>{id4}</first><last>{id6}</last>", complete=False))
    page = await a.query(rsm=rsm_set(max=3, before=a.id(4)))
    a.match_fin(page, fin("<first>{id1}</first><last>{id3}</last>", complete=True))
    # A <max>0</max> query asks for nothing but the count, so it still gets one (RSM-16).
    page = await a.query(rsm=rsm_set(max=0))
    a.match_fin(page, fin("<count>6</count>", complete=False))
    await a.stop()


# ---------------------------------------------------------------- <fin/>


async def test_fin_01_complete_is_the_literal_true(a15: Archive) -> None:
    page = await a15.query(rsm=rsm_set(max=50))
    assert page.fin.get("complete") == "true"
    page = await a15.query(rsm=rsm_set(max=5))
    assert page.fin.get("complete") in (None, "false")


async def test_fin_02_exact_boundaries_are_complete(a15: Archive) -> None:
    page = await a15.query(rsm=rsm_set(max=5, after=a15.id(10)))
    assert a15.numbers(page.ids) == [11, 12, 13, 14, 15] and page.complete
    page = await a15.query(rsm=rsm_set(max=5, before=a15.id(6)))
    assert a15.numbers(page.ids) == [1, 2, 3, 4, 5] and page.complete
    # One short of the boundary is not complete.
    page = await a15.query(rsm=rsm_set(max=5, after=a15.id(9)))
    assert a15.numbers(page.ids) == [10, 11, 12, 13, 14] and not page.complete
    page = await a15.query(rsm=rsm_set(max=5, before=a15.id(7)))
    assert a15.numbers(page.ids) == [2, 3, 4, 5, 6] and not page.complete


async def test_fin_03_pages_with_more_in_their_direction(a15: Archive) -> None:
    page = await a15.query(rsm=rsm_set(max=5, last_page=True))
    assert not page.complete
    page = await a15.query(rsm=rsm_set(max=1, last_page=True))
    assert a15.numbers(page.ids) == [15] and not page.complete
    page = await a15.query(rsm=rsm_set(max=5))
    assert not page.complete
    # Without <max/> the whole set fits the default page, so the last page is complete.
    page = await a15.query(rsm="<set xmlns='http://jabber.org/protocol/rsm'><before/></set>")
    assert len(page.results) == 15 and page.complete


async def test_fin_04_paging_past_either_end(a15: Archive) -> None:
    # ejabberd's walks: forward with after=<first> one fewer each step, down to an empty page.
    after = a15.id(1)
    for remaining in range(14, -1, -1):
        page = await a15.query(rsm=rsm_set(after=after))
        assert len(page.results) == remaining and page.complete and page.count == 15
        after = page.first or after
    page = await a15.query(rsm=rsm_set(before=a15.id(1), max=5))
    assert page.results == [] and page.complete and page.count == 15
    a15.match_fin(page, fin("<count>15</count>", complete=True))


async def test_fin_05_max_zero_completeness(a15: Archive) -> None:
    page = await a15.query(rsm=rsm_set(max=0))
    assert not page.complete and page.count == 15
    page = await a15.query(rsm=rsm_set(max=0, last_page=True))
    assert not page.complete
    page = await a15.query(rsm=rsm_set(max=0, before=a15.id(1)))
    assert page.complete and page.results == []
    page = await a15.query(rsm=rsm_set(max=0, after=a15.id(15)))
    assert page.complete and page.results == []
    page = await a15.query(rsm=rsm_set(max=0, after=a15.id(14)))
    assert not page.complete


async def test_fin_06_stable_not_false(a15: Archive) -> None:
    for rsm in (rsm_set(max=5), rsm_set(last_page=True), ""):
        page = await a15.query(rsm=rsm)
        assert page.fin.get("stable") in (None, "true")


async def test_fin_07_cap_reflected_in_complete(tmp_path: Path) -> None:
    a = await archive_of(tmp_path, 6, extra="max_archive_query_results = 5")
    page = await a.query(rsm=rsm_set(max=100))
    assert len(page.results) == 5 and not page.complete
    page = await a.query(rsm=rsm_set(max=100, last_page=True))
    assert a.numbers(page.ids) == [2, 3, 4, 5, 6] and not page.complete
    page = await a.query(rsm=rsm_set(max=100, after=a.id(1)))
    assert len(page.results) == 5 and page.complete
    await a.stop()


async def test_fin_08_fin_has_no_queryid(a15: Archive) -> None:
    page = await a15.query(queryid="abc")
    assert "queryid" not in page.fin.attrib


# ---------------------------------------------------------------- <flip-page/>


async def test_flip_01_newest_first(a15: Archive) -> None:
    page = await a15.query(rsm=rsm_set(max=5), flip=True)
    assert page.bodies == ["5", "4", "3", "2", "1"]


async def test_flip_02_same_page_same_fin(a15: Archive) -> None:
    for rsm in (rsm_set(max=5), rsm_set(max=5, last_page=True), rsm_set(max=4, after=a15.id(3))):
        plain = await a15.query(rsm=rsm)
        flipped = await a15.query(rsm=rsm, flip=True)
        assert flipped.ids == list(reversed(plain.ids))
        assert (flipped.first, flipped.last, flipped.count, flipped.first_index) == (
            plain.first,
            plain.last,
            plain.count,
            plain.first_index,
        )
        assert flipped.fin.attrib == plain.fin.attrib


async def test_flip_03_flip_with_before(a15: Archive) -> None:
    page = await a15.query(rsm=rsm_set(max=5, last_page=True), flip=True)
    assert a15.numbers(page.ids) == [15, 14, 13, 12, 11]
    page = await a15.query(
        form={"after-id": a15.id(5), "before-id": a15.id(11)},
        rsm=rsm_set(max=5, last_page=True),
        flip=True,
    )
    assert a15.numbers(page.ids) == [10, 9, 8, 7, 6]
    # Filtered: no index, no count (RSM-24).
    a15.match_fin(page, fin("<first>{id6}</first><last>{id10}</last>", complete=True))
    assert await a15.count(form={"after-id": a15.id(5), "before-id": a15.id(11)}) == 5
