"""Checklist 1.2 (MAM) and 1.3 (FRM): query basics and the query form."""

from __future__ import annotations

import asyncio
from pathlib import Path
from xml.etree.ElementTree import Element

from tests.harness import Transcript, login, logout, send, start_server
from tests.transcript.test_mam_support import (
    MAM,
    MODULES,
    archive_of,
    chat,
    error_of,
    iq,
    mam_form,
    query,
    rsm_set,
)

# ---------------------------------------------------------------- MAM


async def test_mam_01_bare_query_returns_everything(tmp_path: Path) -> None:
    a = await archive_of(tmp_path, 3)
    for to in (None, "alice@localhost"):
        page = await query(a.server, a.alice, raw="<query xmlns='urn:xmpp:mam:2'/>", to=to)
        assert page.ok
        assert page.bodies == ["1", "2", "3"]
        a.match_fin(
            page,
            """<iq type='result' id='q1' to='alice@localhost/a' from='alice@localhost'>
            <fin xmlns='urn:xmpp:mam:2' complete='true'><set xmlns='http://jabber.org/protocol/rsm'>
            <first index='0'>{id1}</first><last>{id3}</last><count>3</count></set></fin></iq>""",
        )
    await a.stop()


async def test_mam_02_queryid_echoed_byte_for_byte(tmp_path: Path) -> None:
    a = await archive_of(tmp_path, 2)
    qid = "MLhistory:0f9c-4b2e_x.y"
    page = await a.query(queryid=qid)
    assert len(page.results) == 2
    for result in page.results:
        Transcript().match(
            result,
            f"""<message to='alice@localhost/a' from='alice@localhost'>
            <result xmlns='urn:xmpp:mam:2' queryid='{qid}' id='*'><forwarded
              xmlns='urn:xmpp:forward:0'/>
            </result></message>""",
            exact_children=False,
        )
    await a.stop()


async def test_mam_03_results_before_iq_result(tmp_path: Path) -> None:
    a = await archive_of(tmp_path, 4)
    a.alice.take()
    await send(
        a.server,
        a.alice,
        "<iq type='set' id='q'><query xmlns='urn:xmpp:mam:2' queryid='ord'/></iq>",
    )
    got = a.alice.take()
    kinds = [s.tag.split("}")[1] for s in got]
    assert kinds == ["message"] * 4 + ["iq"]
    assert got[-1].get("type") == "result"
    await a.stop()


async def test_mam_04_no_queryid_no_attribute(tmp_path: Path) -> None:
    a = await archive_of(tmp_path, 2)
    page = await a.query()
    assert page.ok and len(page.results) == 2
    for result in page.results:
        Transcript().match(
            result,
            """<message to='alice@localhost/a' from='alice@localhost'>
            <result xmlns='urn:xmpp:mam:2' id='*'><forwarded xmlns='urn:xmpp:forward:0'/></result>
            </message>""",
            exact_children=False,
        )
    await a.stop()


async def test_mam_05_empty_archive_fin_has_set(tmp_path: Path) -> None:
    server = await start_server(tmp_path, MODULES)
    alice = await login(server, "alice@localhost/a")
    page = await query(server, alice, queryid="e")
    assert page.results == []
    Transcript().match(
        page.iq,
        """<iq type='result' id='q1' to='alice@localhost/a' from='alice@localhost'>
        <fin xmlns='urn:xmpp:mam:2' complete='true'><set xmlns='http://jabber.org/protocol/rsm'>
        <count>0</count></set></fin></iq>""",
    )
    await server.stop()


async def test_mam_06_no_server_side_state_between_pages(tmp_path: Path) -> None:
    a = await archive_of(tmp_path, 6)
    page1 = await a.query(rsm=rsm_set(max=3))
    assert a.numbers(page1.ids) == [1, 2, 3]
    # Page 2 from another resource, and from a fresh session of the first one.
    other = await login(a.server, "alice@localhost/other")
    page2 = await query(a.server, other, rsm=rsm_set(max=3, after=page1.last))
    assert a.numbers(page2.ids) == [4, 5, 6] and page2.complete
    await logout(a.alice)
    again = await login(a.server, "alice@localhost/a")
    page2b = await query(a.server, again, rsm=rsm_set(max=3, after=page1.last))
    assert page2b.ids == page2.ids
    await a.stop()


async def test_mam_07_domain_addressed_query_is_service_unavailable(tmp_path: Path) -> None:
    a = await archive_of(tmp_path, 1)
    page = await a.query(to="localhost")
    assert page.results == []
    assert page.error() == ("cancel", "service-unavailable")
    form = await iq(
        a.server,
        a.alice,
        "<iq type='get' id='f' to='localhost'><query xmlns='urn:xmpp:mam:2'/></iq>",
    )
    assert error_of(form) == ("cancel", "service-unavailable")
    await a.stop()


async def test_mam_08_results_only_to_the_asking_session(tmp_path: Path) -> None:
    a = await archive_of(tmp_path, 3)
    phone = await login(a.server, "alice@localhost/phone")
    page = await a.query(queryid="only-me")
    assert len(page.results) == 3 and page.other == []
    assert phone.take() == []  # never copied to another resource
    # Results are not archived either (RES-10): the archive still holds 3.
    await a.refresh()
    assert len(a.ids) == 3
    # A session that is going away gets its results sent to it only, or not at all: nothing is
    # rerouted to the other resource and nothing lands in the archive.
    a.alice.closing = True
    await send(a.server, a.alice, "<iq type='set' id='q9'><query xmlns='urn:xmpp:mam:2'/></iq>")
    assert phone.take() == []
    page = await query(a.server, phone)
    assert len(page.results) == 3
    await a.stop()


async def test_mam_09_two_queries_in_flight(tmp_path: Path) -> None:
    a = await archive_of(tmp_path, 3)
    a.alice.take()
    await asyncio.gather(
        send(
            a.server,
            a.alice,
            f"<iq type='set' id='qa'><query xmlns='{MAM}' queryid='A'>"
            f"<set xmlns='http://jabber.org/protocol/rsm'><max>2</max></set></query></iq>",
        ),
        send(a.server, a.alice, f"<iq type='set' id='qb'><query xmlns='{MAM}' queryid='B'/></iq>"),
    )
    got = a.alice.take()
    by_query: dict[str, list[str]] = {"A": [], "B": []}
    fins: dict[str, int] = {}
    for n, stanza in enumerate(got):
        result = stanza.find(f"{{{MAM}}}result")
        if result is not None:
            by_query[result.get("queryid", "")].append(result.get("id", ""))
        else:
            fins[stanza.get("id", "")] = n
    assert by_query["A"] == a.ids[:2] and by_query["B"] == a.ids
    assert set(fins) == {"qa", "qb"}
    # Each query's results come before its own <fin/>.
    for qid, iq_id in (("A", "qa"), ("B", "qb")):
        last_result = max(
            n
            for n, s in enumerate(got)
            if (r := s.find(f"{{{MAM}}}result")) is not None and r.get("queryid") == qid
        )
        assert last_result < fins[iq_id]
    await a.stop()


async def test_mam_10_other_mam_namespaces_are_service_unavailable(tmp_path: Path) -> None:
    a = await archive_of(tmp_path, 1)
    for namespace in ("urn:xmpp:mam:0", "urn:xmpp:mam:1", "urn:xmpp:mam:tmp"):
        page = await a.query(raw=f"<query xmlns='{namespace}'/>")
        assert page.results == []
        assert page.error() == ("cancel", "service-unavailable"), namespace
    await a.stop()


# ---------------------------------------------------------------- FRM

FORM_REPLY = """<iq type='result' id='f1' to='alice@localhost/a' from='alice@localhost'>
<query xmlns='urn:xmpp:mam:2'><x xmlns='jabber:x:data' type='form'>
  <field var='FORM_TYPE' type='hidden'><value>urn:xmpp:mam:2</value></field>
  <field var='with' type='jid-single' label='*'/>
  <field var='start' type='text-single' label='*'>
    <validate xmlns='http://jabber.org/protocol/xdata-validate' datatype='xs:dateTime'/></field>
  <field var='end' type='text-single' label='*'>
    <validate xmlns='http://jabber.org/protocol/xdata-validate' datatype='xs:dateTime'/></field>
  <field var='before-id' type='text-single' label='*'/>
  <field var='after-id' type='text-single' label='*'/>
  <field var='ids' type='list-multi' label='*'>
    <validate xmlns='http://jabber.org/protocol/xdata-validate' datatype='xs:string'><open/>
      </validate>
  </field>
  <field var='{urn:xmpp:fulltext:0}fulltext' type='text-single' label='*'/>
</x></query></iq>"""


async def get_form(tmp_path: Path) -> Element:
    server = await start_server(tmp_path, MODULES)
    alice = await login(server, "alice@localhost/a")
    reply = await iq(server, alice, "<iq type='get' id='f1'><query xmlns='urn:xmpp:mam:2'/></iq>")
    await server.stop()
    return reply


async def test_frm_01_get_returns_a_form(tmp_path: Path) -> None:
    reply = await get_form(tmp_path)
    Transcript().match(reply, FORM_REPLY)


async def test_frm_02_form_type_hidden(tmp_path: Path) -> None:
    reply = await get_form(tmp_path)
    fields = list(reply.iter("{jabber:x:data}field"))
    Transcript().match(
        fields[0],
        "<field xmlns='jabber:x:data' var='FORM_TYPE' type='hidden'><value>urn:xmpp:mam:2</value>"
        "</field>",
    )


def field_types(reply: Element) -> dict[str, str]:
    return {f.get("var", ""): f.get("type", "") for f in reply.iter("{jabber:x:data}field")}


async def test_frm_03_with_start_end_types(tmp_path: Path) -> None:
    reply = await get_form(tmp_path)
    types = field_types(reply)
    assert types["with"] == "jid-single"
    assert types["start"] == "text-single" and types["end"] == "text-single"


async def test_frm_04_extended_fields(tmp_path: Path) -> None:
    reply = await get_form(tmp_path)
    types = field_types(reply)
    assert types["before-id"] == "text-single" and types["after-id"] == "text-single"
    assert types["ids"] == "list-multi"
    # Submitting ids typed either way, or untyped, works (FRM-04 "accept either").
    a = await archive_of(tmp_path / "x", 3)
    for field_type in ("list-multi", "text-multi", None):
        attr = f" type='{field_type}'" if field_type else ""
        raw = (
            f"<query xmlns='{MAM}'><x xmlns='jabber:x:data' type='submit'>"
            "<field var='FORM_TYPE'><value>urn:xmpp:mam:2</value></field>"
            f"<field var='ids'{attr}><value>{a.id(3)}</value><value>{a.id(1)}</value></field>"
            "</x></query>"
        )
        page = await a.query(raw=raw)
        assert a.numbers(page.ids) == [1, 3], field_type
    await a.stop()


async def test_frm_05_ids_field_open_validate_no_options(tmp_path: Path) -> None:
    reply = await get_form(tmp_path)
    (ids,) = [f for f in reply.iter("{jabber:x:data}field") if f.get("var") == "ids"]
    Transcript().match(
        ids,
        """<field xmlns='jabber:x:data' var='ids' type='list-multi' label='*'>
        <validate xmlns='http://jabber.org/protocol/xdata-validate' datatype='xs:string'><open/>
          </validate>
        </field>""",
    )
    assert ids.find("{jabber:x:data}option") is None


async def test_frm_06_no_required_fields(tmp_path: Path) -> None:
    reply = await get_form(tmp_path)
    assert list(reply.iter("{jabber:x:data}required")) == []


async def test_frm_07_optional_fields_follow_config(tmp_path: Path) -> None:
    # include-groupchat is not supported, so never offered; full-text is offered because the
    # store searches (FTS-01 covers a store without: the field goes with the feature).
    reply = await get_form(tmp_path)
    types = field_types(reply)
    assert "include-groupchat" not in types
    assert types["{urn:xmpp:fulltext:0}fulltext"] == "text-single"


async def test_frm_08_start_end_validate_datetime(tmp_path: Path) -> None:
    reply = await get_form(tmp_path)
    for field in reply.iter("{jabber:x:data}field"):
        if field.get("var") in ("start", "end"):
            validate = field.find("{http://jabber.org/protocol/xdata-validate}validate")
            assert validate is not None and validate.get("datatype") == "xs:dateTime"


async def test_frm_09_no_form_fetch_needed(tmp_path: Path) -> None:
    a = await archive_of(tmp_path, 3)
    fresh = await login(a.server, "alice@localhost/fresh")
    page = await query(a.server, fresh, form={"with": "bob@localhost"})
    assert a.numbers(page.ids) == [1, 2, 3]
    await a.stop()


async def test_frm_10_typeless_fields_accepted(tmp_path: Path) -> None:
    a = await archive_of(tmp_path, 3)
    # mam_form writes every field but FORM_TYPE without a type, as Dino and slixmpp do.
    page = await a.query(
        form={"with": "bob@localhost", "start": "2000-01-01T00:00:00Z", "ids": [a.id(2)]}
    )
    assert a.numbers(page.ids) == [2]
    await a.stop()


async def test_frm_11_form_type_with_or_without_hidden(tmp_path: Path) -> None:
    a = await archive_of(tmp_path, 2)
    for type_attr in (" type='hidden'", ""):
        raw = (
            f"<query xmlns='{MAM}'><x xmlns='jabber:x:data' type='submit'>"
            f"<field var='FORM_TYPE'{type_attr}><value>urn:xmpp:mam:2</value></field>"
            "<field var='with'><value>bob@localhost</value></field></x></query>"
        )
        page = await a.query(raw=raw)
        assert page.ok and len(page.results) == 2
    await a.stop()


async def test_frm_12_missing_or_wrong_form_type_is_bad_request(tmp_path: Path) -> None:
    a = await archive_of(tmp_path, 1)
    missing = (
        f"<query xmlns='{MAM}'><x xmlns='jabber:x:data' type='submit'>"
        "<field var='with'><value>bob@localhost</value></field></x></query>"
    )
    page = await a.query(raw=missing)
    assert page.results == [] and page.error() == ("modify", "bad-request")
    page = await a.query(
        raw=f"<query xmlns='{MAM}'>{mam_form({}, form_type='urn:xmpp:mam:1')}</query>"
    )
    assert page.results == [] and page.error() == ("modify", "bad-request")
    await a.stop()


async def test_frm_13_unknown_field_is_feature_not_implemented(tmp_path: Path) -> None:
    a = await archive_of(tmp_path, 1)
    for var in ("{urn:example}x", "include-groupchat", "full-text-search"):
        page = await a.query(form={var: "true"})
        assert page.results == []
        assert page.error() == ("cancel", "feature-not-implemented"), var
    await a.stop()


async def test_frm_14_non_submit_form_is_bad_request(tmp_path: Path) -> None:
    a = await archive_of(tmp_path, 1)
    for form_type in ("form", "cancel", "result"):
        raw = (
            f"<query xmlns='{MAM}'><x xmlns='jabber:x:data' type='{form_type}'>"
            "<field var='FORM_TYPE'><value>urn:xmpp:mam:2</value></field></x></query>"
        )
        page = await a.query(raw=raw)
        assert page.error() == ("modify", "bad-request"), form_type
    await a.stop()


async def test_frm_15_invalid_values_are_not_acceptable(tmp_path: Path) -> None:
    a = await archive_of(tmp_path, 1)
    for var, value in (
        ("start", "yesterday"),
        ("end", "2024-13-01T00:00:00Z"),
        ("start", "2024-01-01T00:00:00"),  # XEP-0082 requires the zone
        ("with", "@localhost"),
        ("with", "a@b@c"),
    ):
        page = await a.query(form={var: value})
        assert page.results == []
        assert page.error() == ("modify", "not-acceptable"), (var, value)
    await a.stop()


async def test_frm_16_include_groupchat_booleans(tmp_path: Path) -> None:
    # Not applicable as written: include-groupchat is not supported (DSC-06), so every value,
    # boolean or not, is refused alike (FRM-13, FLT-21).
    a = await archive_of(tmp_path, 1)
    for value in ("true", "1", "false", "0"):
        page = await a.query(form={"include-groupchat": value})
        assert page.error() == ("cancel", "feature-not-implemented")
    await a.stop()


async def test_frm_17_two_values_in_single_field_is_bad_request(tmp_path: Path) -> None:
    a = await archive_of(tmp_path, 2)
    for var, values in (
        ("with", ["bob@localhost", "kate@localhost"]),
        ("start", ["2000-01-01T00:00:00Z", "2001-01-01T00:00:00Z"]),
        ("end", ["2100-01-01T00:00:00Z", "2101-01-01T00:00:00Z"]),
        ("before-id", [a.id(2), a.id(1)]),
        ("after-id", [a.id(1), a.id(2)]),
    ):
        page = await a.query(form={var: values})
        assert page.results == []
        assert page.error() == ("modify", "bad-request"), var
    await a.stop()


async def test_frm_18_empty_value_is_absent(tmp_path: Path) -> None:
    a = await archive_of(tmp_path, 2)
    for field in (
        "<field var='with'/>",
        "<field var='with'><value/></field>",
        "<field var='start'><value></value></field>",
        "<field var='ids'><value/></field>",
    ):
        raw = (
            f"<query xmlns='{MAM}'><x xmlns='jabber:x:data' type='submit'>"
            f"<field var='FORM_TYPE'><value>urn:xmpp:mam:2</value></field>{field}</x></query>"
        )
        page = await a.query(raw=raw)
        assert a.numbers(page.ids) == [1, 2], field
    await a.stop()


async def test_mam_01_both_directions_in_one_archive(tmp_path: Path) -> None:
    # Both directions land in Alice's archive, the order they happened in.
    server = await start_server(tmp_path, MODULES)
    alice = await login(server, "alice@localhost/a")
    bob = await login(server, "bob@localhost/b")
    await chat(server, alice, "bob@localhost", "out", "o1")
    await chat(server, bob, "alice@localhost", "in", "i1")
    page = await query(server, alice)
    assert page.bodies == ["out", "in"]
    await server.stop()
