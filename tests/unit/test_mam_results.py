"""MAM result stanzas, <fin/> and <metadata/> (checklist RES, FIN, FLIP, RSM-16..24, META)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from xml.etree.ElementTree import Element, fromstring

import pytest

from garrulus.modules.mam.results import fin_element, metadata_element, result_message, send_order
from garrulus.storage.api import ArchiveBounds, ArchivedMessage, ArchivePage, Direction
from garrulus.xmpp.datetime import parse_datetime
from garrulus.xmpp.jid import parse_jid
from garrulus.xmpp.xml import to_xml

MAM = "urn:xmpp:mam:2"
RSM = "http://jabber.org/protocol/rsm"
C = "{jabber:client}"
T0 = datetime(2025, 1, 1, 10, 0, 0, 123456, tzinfo=UTC)


def item(n: int, stanza: str = "") -> ArchivedMessage:
    return ArchivedMessage(
        id=f"id{n}",
        owner="alice@ex",
        peer="bob@ex",
        peer_resource="r1",
        direction=Direction.IN,
        when=T0 + timedelta(seconds=n),
        stanza=stanza or f"<message xmlns='jabber:client' type='chat'><body>{n}</body></message>",
        msg_type="chat",
    )


def result_for(stanza: str, query_id: str | None = "q1", owner: str = "alice@ex") -> Element:
    it = item(1, stanza)
    return result_message(
        parse_jid("alice@ex/phone"), parse_jid(owner), query_id, it, fromstring(it.stanza)
    )


def inner(message: Element) -> Element:
    found = message.find(f"{{{MAM}}}result/{{urn:xmpp:forward:0}}forwarded/{C}message")
    assert found is not None
    return found


# ------------------------------------------------------------------ results (RES)

CHAT = (
    "<message xmlns='jabber:client' from='bob@ex/r1' to='alice@ex/phone' type='chat' id='m1'>"
    "<body>hi</body></message>"
)


def test_res_01_result_structure() -> None:
    assert to_xml(result_for(CHAT)) == (
        "<message to='alice@ex/phone' from='alice@ex'>"
        "<result xmlns='urn:xmpp:mam:2' queryid='q1' id='id1'>"
        "<forwarded xmlns='urn:xmpp:forward:0'>"
        "<delay xmlns='urn:xmpp:delay' stamp='2025-01-01T10:00:01.123456Z'/>"
        "<message xmlns='jabber:client' from='bob@ex/r1' to='alice@ex/phone' type='chat' id='m1'>"
        "<body>hi</body><stanza-id xmlns='urn:xmpp:sid:0' by='alice@ex' id='id1'/></message>"
        "</forwarded></result></message>"
    )


def test_res_02_result_id_is_the_archive_id() -> None:
    result = result_for(CHAT).find(f"{{{MAM}}}result")
    assert result is not None
    assert result.get("id") == "id1"


def test_res_03_delay_stamp_is_the_archive_time_in_utc() -> None:
    delay = result_for(CHAT).find(".//{urn:xmpp:delay}delay")
    assert delay is not None
    assert parse_datetime(delay.get("stamp", "")) == item(1).when


def test_res_04_inner_message_is_kept_whole() -> None:
    stanza = (
        "<message xmlns='jabber:client' from='bob@ex/r1' to='alice@ex' type='chat' id='m1' "
        "xml:lang='fr'><body>salut 🦜 ünïcødé</body><thread>t1</thread>"
        "<origin-id xmlns='urn:xmpp:sid:0' id='o1'/><custom xmlns='urn:example'><deep a='1'/>"
        "</custom></message>"
    )
    got = inner(result_for(stanza))
    assert got.get("{http://www.w3.org/XML/1998/namespace}lang") == "fr"
    assert [got.get(a) for a in ("from", "to", "type", "id")] == [
        "bob@ex/r1",
        "alice@ex",
        "chat",
        "m1",
    ]
    assert got.findtext(C + "body") == "salut 🦜 ünïcødé"
    assert got.findtext(C + "thread") == "t1"
    origin = got.find("{urn:xmpp:sid:0}origin-id")
    assert origin is not None and origin.get("id") == "o1"
    assert got.find("{urn:example}custom/{urn:example}deep") is not None


def test_res_06_inner_message_is_rewritten_into_jabber_client() -> None:
    stanza = (
        "<message xmlns='jabber:server' from='bob@remote/r' to='alice@ex'><body>hi</body>"
        "<x xmlns='urn:example'><y/></x></message>"
    )
    out = to_xml(result_for(stanza))
    assert "<message xmlns='jabber:client' from='bob@remote/r' to='alice@ex'><body>hi</body>" in out
    assert "jabber:server" not in out
    got = inner(result_for(stanza))
    assert got.find("{urn:example}x/{urn:example}y") is not None


def test_res_06_stanza_stored_without_namespace() -> None:
    got = inner(result_for("<message from='bob@ex'><body>hi</body></message>"))
    assert got.findtext(C + "body") == "hi"


def test_res_07_from_is_the_archive_bare_jid() -> None:
    message = result_for(CHAT, owner="Alice@EX/phone")
    assert (message.tag, message.get("from"), message.get("to")) == (
        C + "message",
        "alice@ex",
        "alice@ex/phone",
    )


def test_mam_02_queryid_on_every_result() -> None:
    result = result_for(CHAT, query_id="MLhistory:a-b").find(f"{{{MAM}}}result")
    assert result is not None
    assert result.get("queryid") == "MLhistory:a-b"


def test_mam_04_no_queryid_attribute_without_one() -> None:
    result = result_for(CHAT, query_id=None).find(f"{{{MAM}}}result")
    assert result is not None
    assert "queryid" not in result.attrib


def test_result_message_id_is_optional() -> None:
    it = item(1)
    message = result_message(
        "alice@ex/phone", "alice@ex", None, it, fromstring(it.stanza), message_id="r-1"
    )
    assert message.get("id") == "r-1"
    assert "id" not in result_for(CHAT).attrib


def stanza_ids(message: Element) -> list[tuple[str | None, str | None]]:
    return [(s.get("by"), s.get("id")) for s in inner(message).findall("{urn:xmpp:sid:0}stanza-id")]


def test_res_08_exactly_one_stanza_id_by_the_archive() -> None:
    assert stanza_ids(result_for(CHAT)) == [("alice@ex", "id1")]


def test_res_08_stale_or_forged_own_stanza_ids_are_replaced() -> None:
    stanza = (
        "<message xmlns='jabber:client' type='chat'><body>x</body>"
        "<stanza-id xmlns='urn:xmpp:sid:0' by='alice@ex' id='evil'/>"
        "<stanza-id xmlns='urn:xmpp:sid:0' by='ALICE@ex/phone' id='evil2'/>"
        "<stanza-id xmlns='urn:xmpp:sid:0' by='room@muc.ex' id='room-1'/></message>"
    )
    assert stanza_ids(result_for(stanza)) == [("room@muc.ex", "room-1"), ("alice@ex", "id1")]


def test_result_does_not_change_the_stored_element() -> None:
    it = item(1, "<message xmlns='jabber:server'><body>x</body></message>")
    stored = fromstring(it.stanza)
    before = to_xml(stored)
    result_message("alice@ex/phone", "alice@ex", "q", it, stored)
    assert to_xml(stored) == before


# ------------------------------------------------------------------ order (RES-09, FLIP)


def page(
    *ns: int, complete: bool = False, total: int | None = None, first_index: int | None = None
) -> ArchivePage:
    return ArchivePage(tuple(item(n) for n in ns), complete, total, first_index)


def test_res_09_rsm_08_results_oldest_first() -> None:
    assert [i.id for i in send_order(page(11, 12, 13), flip=False)] == ["id11", "id12", "id13"]


def test_flip_01_flip_03_flipped_page_newest_first() -> None:
    assert [i.id for i in send_order(page(6, 7, 8, 9, 10), flip=True)] == [
        "id10",
        "id9",
        "id8",
        "id7",
        "id6",
    ]


def test_flip_02_flip_keeps_the_same_items_and_fin() -> None:
    p = page(1, 2, 3, total=15, first_index=0)
    assert set(send_order(p, True)) == set(send_order(p, False))
    assert to_xml(fin_element(p, True, True)) == to_xml(fin_element(p, False, True))


# ------------------------------------------------------------------ <fin/> (FIN, RSM)


def fin(p: ArchivePage, include_total: bool = True, flip: bool = False, stable: bool = True) -> str:
    return to_xml(fin_element(p, flip, include_total, stable=stable))


def test_fin_01_complete_is_the_literal_true() -> None:
    assert fin(page(11, 12, 13, 14, 15, complete=True, total=15, first_index=10)) == (
        f"<fin xmlns='{MAM}' complete='true'><set xmlns='{RSM}'><first index='10'>id11</first>"
        "<last>id15</last><count>15</count></set></fin>"
    )


def test_fin_01_fin_03_incomplete_page_has_no_complete_attribute() -> None:
    element = fin_element(page(1, 2, 3, 4, 5, complete=False, total=15, first_index=0), False, True)
    assert "complete" not in element.attrib


def test_mam_05_empty_archive_still_has_a_set() -> None:
    assert fin(page(complete=True, total=0)) == (
        f"<fin xmlns='{MAM}' complete='true'><set xmlns='{RSM}'><count>0</count></set></fin>"
    )


def test_mam_05_empty_set_without_total() -> None:
    assert fin(page(complete=True), include_total=False) == (
        f"<fin xmlns='{MAM}' complete='true'><set xmlns='{RSM}'/></fin>"
    )


def test_fin_04_paging_past_the_end_is_complete_with_count() -> None:
    assert fin(page(complete=True, total=5)) == (
        f"<fin xmlns='{MAM}' complete='true'><set xmlns='{RSM}'><count>5</count></set></fin>"
    )


def test_rsm_16_fin_05_max_zero_count_only_not_complete() -> None:
    assert fin(page(complete=False, total=5)) == (
        f"<fin xmlns='{MAM}'><set xmlns='{RSM}'><count>5</count></set></fin>"
    )


def test_rsm_18_rsm_20_one_item_page_first_equals_last() -> None:
    element = fin_element(page(7, total=15, first_index=6), False, True)
    rsm_set = element.find(f"{{{RSM}}}set")
    assert rsm_set is not None
    assert rsm_set.findtext(f"{{{RSM}}}first") == rsm_set.findtext(f"{{{RSM}}}last") == "id7"


def test_rsm_19_empty_page_has_no_first_or_last() -> None:
    element = fin_element(page(complete=True, total=15, first_index=15), False, True)
    assert element.find(f".//{{{RSM}}}first") is None
    assert element.find(f".//{{{RSM}}}last") is None


def test_rsm_21_flipped_page_first_is_the_oldest() -> None:
    element = fin_element(page(6, 7, 8, 9, 10), True, True)
    assert element.findtext(f".//{{{RSM}}}first") == "id6"
    assert element.findtext(f".//{{{RSM}}}last") == "id10"


def test_rsm_22_rsm_23_count_and_index_from_the_store() -> None:
    element = fin_element(page(11, 12, total=11, first_index=6), False, True)
    first = element.find(f".//{{{RSM}}}first")
    assert first is not None and first.get("index") == "6"
    assert element.findtext(f".//{{{RSM}}}count") == "11"


def test_rsm_24_no_count_or_index_when_switched_off_but_complete_stays() -> None:
    assert fin(page(1, 2, complete=True, total=2, first_index=0), include_total=False) == (
        f"<fin xmlns='{MAM}' complete='true'><set xmlns='{RSM}'><first>id1</first>"
        "<last>id2</last></set></fin>"
    )


def test_rsm_23_no_index_when_the_store_does_not_know_it() -> None:
    element = fin_element(page(1, total=9), False, True)
    first = element.find(f".//{{{RSM}}}first")
    assert first is not None and "index" not in first.attrib


def test_fin_06_stable_only_when_false() -> None:
    assert "stable" not in fin_element(page(1), False, True).attrib
    assert fin_element(page(1), False, True, stable=False).get("stable") == "false"


def test_fin_08_no_queryid() -> None:
    assert "queryid" not in fin_element(page(1), False, True).attrib


# ------------------------------------------------------------------ <metadata/> (META)


def test_meta_01_start_and_end_match_results() -> None:
    first, last = item(1), item(15)
    element = metadata_element(ArchiveBounds(first, last))
    assert to_xml(element) == (
        f"<metadata xmlns='{MAM}'><start id='id1' timestamp='2025-01-01T10:00:01.123456Z'/>"
        "<end id='id15' timestamp='2025-01-01T10:00:15.123456Z'/></metadata>"
    )
    # The timestamps are the same strings as the results' <delay stamp>.
    for it, local in ((first, "start"), (last, "end")):
        delay = result_message("alice@ex/a", "alice@ex", None, it, fromstring(it.stanza)).find(
            ".//{urn:xmpp:delay}delay"
        )
        marker = element.find(f"{{{MAM}}}{local}")
        assert delay is not None and marker is not None
        assert marker.get("timestamp") == delay.get("stamp")


def test_meta_02_empty_archive_has_no_children() -> None:
    assert to_xml(metadata_element(ArchiveBounds(None, None))) == f"<metadata xmlns='{MAM}'/>"


def test_meta_03_one_message_start_equals_end() -> None:
    one = item(3)
    element = metadata_element(ArchiveBounds(one, one))
    start, end = element.find(f"{{{MAM}}}start"), element.find(f"{{{MAM}}}end")
    assert start is not None and end is not None
    assert start.attrib == end.attrib == {"id": "id3", "timestamp": "2025-01-01T10:00:03.123456Z"}


@pytest.mark.parametrize("bounds", [ArchiveBounds(item(3), None), ArchiveBounds(None, item(3))])
def test_meta_03_one_known_end_is_both(bounds: ArchiveBounds) -> None:
    element = metadata_element(bounds)
    assert [(c.tag, c.get("id")) for c in element] == [
        (f"{{{MAM}}}start", "id3"),
        (f"{{{MAM}}}end", "id3"),
    ]
