"""Checklist 1.8 (RES), 1.9 (META) and 1.11 (SID): result stanzas, metadata, stanza-ids."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from pathlib import Path
from xml.etree.ElementTree import Element

from garrulus.core.clock import FakeClock
from garrulus.core.server import Server
from garrulus.modules.mam.expiry import expire
from garrulus.xmpp.datetime import format_datetime
from tests.harness import FakeSession, Transcript, login, send, start_server
from tests.transcript.test_mam_support import (
    DELAY,
    FWD,
    MAM,
    MODULES,
    archive_of,
    chat,
    error_of,
    iq,
    query,
    xml,
)

SID = "urn:xmpp:sid:0"
T0 = datetime(2026, 5, 4, 12, 0, 0, tzinfo=UTC)


def stanza_ids(message: Element) -> list[dict[str, str]]:
    return [dict(node.attrib) for node in message.findall(f"{{{SID}}}stanza-id")]


def delay_of(result: Element) -> str:
    node = result.find(f"{{{MAM}}}result/{{{FWD}}}forwarded/{{{DELAY}}}delay")
    assert node is not None
    return node.get("stamp", "")


# ---------------------------------------------------------------- RES


async def test_res_01_result_structure(tmp_path: Path) -> None:
    clock = FakeClock(T0)
    server = await start_server(tmp_path, MODULES, clock=clock)
    alice = await login(server, "alice@localhost/a")
    bob = await login(server, "bob@localhost/b")
    await chat(server, bob, "alice@localhost/a", "hello", "m1")
    (live,) = alice.take()
    page = await query(server, alice, queryid="q:1")
    (result,) = page.results
    t = Transcript()
    t.vars["sid"] = stanza_ids(live)[0]["id"]
    t.match(
        result,
        """<message to='alice@localhost/a' from='alice@localhost'>
        <result xmlns='urn:xmpp:mam:2' queryid='q:1' id='{sid}'>
          <forwarded xmlns='urn:xmpp:forward:0'>
            <delay xmlns='urn:xmpp:delay' stamp='2026-05-04T12:00:00Z'/>
            <message xmlns='jabber:client' to='alice@localhost/a' from='bob@localhost/b'
              type='chat' id='m1'>
              <body>hello</body><stanza-id xmlns='urn:xmpp:sid:0' by='alice@localhost' id='{sid}'/>
            </message>
          </forwarded>
        </result></message>""",
    )
    await server.stop()


async def test_res_02_result_id_is_the_live_stanza_id(tmp_path: Path) -> None:
    server = await start_server(tmp_path, MODULES)
    alice = await login(server, "alice@localhost/a")
    bob = await login(server, "bob@localhost/b")
    live_ids = []
    for n in range(3):
        await chat(server, bob, "alice@localhost", f"m{n}")
        (got,) = alice.take()
        live_ids.append(stanza_ids(got)[0]["id"])
    page = await query(server, alice)
    assert page.ids == live_ids
    await server.stop()


async def test_res_03_delay_is_our_receipt_time(tmp_path: Path) -> None:
    clock = FakeClock(T0 + timedelta(microseconds=250_000))
    server = await start_server(tmp_path, MODULES, clock=clock)
    alice = await login(server, "alice@localhost/a")
    bob = await login(server, "bob@localhost/b")
    # The sender claims a time of its own: it is kept in the message, never used as the stamp.
    claim = "<delay xmlns='urn:xmpp:delay' stamp='2001-01-01T00:00:00Z'/>"
    await chat(server, bob, "alice@localhost", "late", extra=claim)
    page = await query(server, alice)
    assert delay_of(page.results[0]) == "2026-05-04T12:00:00.250000Z"
    inner = page.inner(0)
    assert inner.find(f"{{{DELAY}}}delay").get("stamp") == "2001-01-01T00:00:00Z"  # type: ignore[union-attr]
    await server.stop()


async def test_res_04_inner_message_kept_whole(tmp_path: Path) -> None:
    server = await start_server(tmp_path, MODULES)
    alice = await login(server, "alice@localhost/a")
    bob = await login(server, "bob@localhost/b")
    body = "emoji \U0001f99c and ünïcödé &amp; &lt;xml&gt; 中文"
    await send(
        server,
        bob,
        f"""<message to='alice@localhost' type='chat' id='rich-1' xml:lang='de'>
        <body>{body}</body><body xml:lang='fr'>bonjour</body><thread parent='p1'>th-1</thread>
        <origin-id xmlns='urn:xmpp:sid:0' id='origin-1'/>
        <x xmlns='urn:example:ext' a='1'><deep xmlns='urn:example:deep'>text</deep></x>
          </message>""",
    )
    page = await query(server, alice)
    Transcript().match(
        page.inner(0),
        """<message xmlns='jabber:client' to='alice@localhost' type='chat' id='rich-1'
             from='bob@localhost/b' xml:lang='de'>
          <body>emoji \U0001f99c and ünïcödé &amp; &lt;xml&gt; 中文</body>
          <body xml:lang='fr'>bonjour</body>
          <thread parent='p1'>th-1</thread>
          <origin-id xmlns='urn:xmpp:sid:0' id='origin-1'/>
          <x xmlns='urn:example:ext' a='1'><deep xmlns='urn:example:deep'>text</deep></x>
          <stanza-id xmlns='urn:xmpp:sid:0' by='alice@localhost' id='*'/>
        </message>""",
    )
    await server.stop()


async def test_res_05_outgoing_from_is_the_full_jid(tmp_path: Path) -> None:
    server = await start_server(tmp_path, MODULES)
    alice = await login(server, "alice@localhost/laptop")
    await login(server, "bob@localhost/b")
    # No 'from', and a forged one: both stored as the session's full JID.
    await send(
        server, alice, "<message to='bob@localhost' type='chat' id='o1'><body>1</body></message>"
    )
    await send(
        server,
        alice,
        "<message from='mallory@localhost/x' to='bob@localhost' type='chat' id='o2'><body>2</body>"
        "</message>",
    )
    page = await query(server, alice)
    assert [page.inner(i).get("from") for i in range(2)] == ["alice@localhost/laptop"] * 2
    await server.stop()


async def test_res_06_inner_message_is_jabber_client(tmp_path: Path) -> None:
    a = await archive_of(tmp_path, 1)
    page = await a.query()
    raw = xml(page.results[0])
    assert "<message xmlns='jabber:client'" in raw
    assert page.inner(0).tag == "{jabber:client}message"
    # Every stanza-namespace child is jabber:client too.
    assert page.inner(0).find("{jabber:client}body") is not None
    await a.stop()


async def test_res_07_result_from_is_the_archive(tmp_path: Path) -> None:
    a = await archive_of(tmp_path, 2)
    page = await a.query()
    assert {r.get("from") for r in page.results} == {"alice@localhost"}
    assert {r.get("to") for r in page.results} == {"alice@localhost/a"}
    await a.stop()


async def test_res_08_exactly_one_own_stanza_id_others_kept(tmp_path: Path) -> None:
    server = await start_server(tmp_path, MODULES)
    alice = await login(server, "alice@localhost/a")
    bob = await login(server, "bob@localhost/b")
    forged = (
        "<stanza-id xmlns='urn:xmpp:sid:0' by='alice@localhost' id='evil'/>"
        "<stanza-id xmlns='urn:xmpp:sid:0' by='room@conference.example' id='room-1'/>"
    )
    await chat(server, bob, "alice@localhost", "in", extra=forged)
    await chat(server, alice, "bob@localhost", "out", extra=forged)
    page = await query(server, alice)
    for n in range(2):
        ids = stanza_ids(page.inner(n))
        assert sorted(ids, key=lambda d: d["by"]) == [
            {"by": "alice@localhost", "id": page.ids[n]},
            {"by": "room@conference.example", "id": "room-1"},
        ]
    await server.stop()


async def test_res_09_results_in_archive_order(tmp_path: Path) -> None:
    a = await archive_of(tmp_path, 12)
    page = await a.query()
    assert page.bodies == [str(n) for n in range(1, 13)]
    await a.stop()


async def test_res_10_results_are_never_archived(tmp_path: Path) -> None:
    a = await archive_of(tmp_path, 3)
    for _ in range(3):
        page = await a.query()
        assert len(page.results) == 3
    # A message carrying a MAM <result> (e.g. a client forwarding one) is not archived.
    await chat(
        a.server,
        a.bob,
        "alice@localhost",
        "fwd",
        extra="<result xmlns='urn:xmpp:mam:2' id='x'/>",
    )
    page = await a.query()
    assert len(page.results) == 3
    await a.stop()


# ---------------------------------------------------------------- META


async def metadata(server: Server, session: FakeSession) -> Element:
    return await iq(server, session, f"<iq type='get' id='m1'><metadata xmlns='{MAM}'/></iq>")


async def test_meta_01_start_and_end_match_the_archive(tmp_path: Path) -> None:
    clock = FakeClock(T0)
    a = await archive_of(tmp_path, 4, clock=clock, step=timedelta(milliseconds=1500))
    page = await a.query()
    reply = await metadata(a.server, a.alice)
    a.t.vars["first_stamp"] = delay_of(page.results[0])
    a.t.vars["last_stamp"] = delay_of(page.results[-1])
    a.t.match(
        reply,
        """<iq type='result' id='m1' to='alice@localhost/a' from='alice@localhost'>
        <metadata xmlns='urn:xmpp:mam:2'>
          <start id='{id1}' timestamp='{first_stamp}'/>
          <end id='{id4}' timestamp='{last_stamp}'/>
        </metadata></iq>""",
    )
    assert a.t.vars["last_stamp"] == format_datetime(T0 + timedelta(milliseconds=4500))
    await a.stop()


async def test_meta_02_empty_archive_is_empty_metadata(tmp_path: Path) -> None:
    server = await start_server(tmp_path, MODULES)
    alice = await login(server, "alice@localhost/a")
    Transcript().match(
        await metadata(server, alice),
        """<iq type='result' id='m1' to='alice@localhost/a' from='alice@localhost'>
        <metadata xmlns='urn:xmpp:mam:2'/></iq>""",
    )
    await server.stop()


async def test_meta_03_one_message_start_is_end(tmp_path: Path) -> None:
    a = await archive_of(tmp_path, 1)
    a.t.match(
        await metadata(a.server, a.alice),
        """<iq type='result' id='m1' to='alice@localhost/a' from='alice@localhost'>
        <metadata xmlns='urn:xmpp:mam:2'>
          <start id='{id1}' timestamp='{stamp}'/><end id='{id1}' timestamp='{stamp}'/>
        </metadata></iq>""",
    )
    await a.stop()


async def test_meta_04_ignores_prefs_and_follows_expiry(tmp_path: Path) -> None:
    clock = FakeClock(T0)
    a = await archive_of(tmp_path, 4, clock=clock, step=timedelta(days=1))
    # Prefs that would archive nothing more do not hide what is there.
    await iq(
        a.server,
        a.alice,
        "<iq type='set' id='p'><prefs xmlns='urn:xmpp:mam:2' default='never'/></iq>",
    )
    reply = await metadata(a.server, a.alice)
    start = reply.find(f"{{{MAM}}}metadata/{{{MAM}}}start")
    assert start is not None and start.get("id") == a.id(1)
    # Messages 1..4 were sent on days 0..3. On day 8 (plus an hour) a week's retention drops
    # days 0 and 1: messages 1 and 2, from Alice's archive and Bob's.
    clock.set(T0 + timedelta(days=8, hours=1))
    assert await expire(a.server) == 4
    reply = await metadata(a.server, a.alice)
    a.t.match(
        reply,
        """<iq type='result' id='m1' to='alice@localhost/a' from='alice@localhost'>
        <metadata xmlns='urn:xmpp:mam:2'>
          <start id='{id3}' timestamp='*'/><end id='{id4}' timestamp='*'/>
        </metadata></iq>""",
    )
    await a.stop()


async def test_meta_06_metadata_set_is_bad_request(tmp_path: Path) -> None:
    a = await archive_of(tmp_path, 1)
    reply = await iq(
        a.server, a.alice, "<iq type='set' id='m1'><metadata xmlns='urn:xmpp:mam:2'/></iq>"
    )
    assert error_of(reply) == ("modify", "bad-request")
    await a.stop()


# ---------------------------------------------------------------- SID


async def test_sid_01_live_copy_carries_recipient_stanza_id(tmp_path: Path) -> None:
    server = await start_server(tmp_path, MODULES)
    alice = await login(server, "alice@localhost/a")
    bob = await login(server, "bob@localhost/b")
    await chat(server, alice, "bob@localhost", "hi", "m1")
    (got,) = bob.take()
    Transcript().match(
        got,
        """<message to='bob@localhost' from='alice@localhost/a' type='chat' id='m1'>
        <body>hi</body><stanza-id xmlns='urn:xmpp:sid:0' by='bob@localhost' id='*'/></message>""",
    )
    await server.stop()


async def test_sid_02_contact_copy_has_no_sender_stanza_id(tmp_path: Path) -> None:
    server = await start_server(tmp_path, MODULES)
    alice = await login(server, "alice@localhost/a")
    bob = await login(server, "bob@localhost/b")
    await chat(server, alice, "bob@localhost/b", "hi", "m1")
    (got,) = bob.take()
    ids = stanza_ids(got)
    assert len(ids) == 1 and ids[0]["by"] == "bob@localhost"
    alices = await query(server, alice)
    assert ids[0]["id"] not in alices.ids  # Alice's own id stays with Alice
    await server.stop()


async def test_sid_03_forged_ids_stripped_even_when_not_archived(tmp_path: Path) -> None:
    server = await start_server(tmp_path, MODULES)
    alice = await login(server, "alice@localhost/a")
    bob = await login(server, "bob@localhost/b")
    await send(
        server,
        bob,
        """<message to='alice@localhost/a' type='chat' id='cs1'>
        <composing xmlns='http://jabber.org/protocol/chatstates'/>
        <stanza-id xmlns='urn:xmpp:sid:0' by='alice@localhost' id='evil'/></message>""",
    )
    (got,) = alice.take()
    Transcript().match(
        got,
        """<message to='alice@localhost/a' type='chat' id='cs1' from='bob@localhost/b'>
        <composing xmlns='http://jabber.org/protocol/chatstates'/></message>""",
    )
    await server.stop()


async def test_sid_04_every_spelling_of_our_by_stripped_foreign_kept(tmp_path: Path) -> None:
    server = await start_server(tmp_path, MODULES)
    alice = await login(server, "alice@localhost/a")
    bob = await login(server, "bob@localhost/b")
    forged = "".join(
        f"<stanza-id xmlns='urn:xmpp:sid:0' by='{by}' id='f{n}'/>"
        for n, by in enumerate(
            [
                "alice@localhost",
                "ALICE@LocalHost",
                "alice@localhost/a",
                "localhost",
                "localhost/x",
                "someone@elsewhere",
                "bob@localhost",
            ]
        )
    )
    # From Bob: ours (the recipient's) and his own (the sender's) are stripped, and the one
    # real id by Alice is added as it is archived.
    await chat(server, bob, "alice@localhost/a", "hi", "from-bob", extra=forged)
    # To oneself, a chat state only (ejabberd's fake_by test): not archived, so nothing of
    # ours comes back; Bob's is foreign here and stays.
    await send(
        server,
        alice,
        "<message to='alice@localhost' type='chat' id='self'>"
        f"<gone xmlns='http://jabber.org/protocol/chatstates'/>{forged}</message>",
    )
    got = {m.get("id"): stanza_ids(m) for m in alice.take()}
    (archived,) = (await query(server, alice)).ids
    assert sorted(got["from-bob"], key=lambda d: d["by"]) == [
        {"by": "alice@localhost", "id": archived},
        {"by": "someone@elsewhere", "id": "f5"},
    ]
    assert sorted(got["self"], key=lambda d: d["by"]) == [
        {"by": "bob@localhost", "id": "f6"},
        {"by": "someone@elsewhere", "id": "f5"},
    ]
    await server.stop()


async def test_sid_05_live_id_equals_result_id(tmp_path: Path) -> None:
    server = await start_server(tmp_path, MODULES)
    alice = await login(server, "alice@localhost/a")
    bob = await login(server, "bob@localhost/b")
    await chat(server, alice, "bob@localhost", "hi", "m1")
    (got,) = bob.take()
    live = stanza_ids(got)[0]["id"]
    page = await query(server, bob)
    assert page.ids == [live]
    await server.stop()


async def test_sid_06_one_stanza_id_per_by_no_content(tmp_path: Path) -> None:
    server = await start_server(tmp_path, MODULES)
    alice = await login(server, "alice@localhost/a")
    bob = await login(server, "bob@localhost/b")
    dup = "<stanza-id xmlns='urn:xmpp:sid:0' by='alice@localhost' id='x'/>" * 2
    await chat(server, bob, "alice@localhost", "hi", extra=dup)
    (got,) = alice.take()
    mine = got.findall(f"{{{SID}}}stanza-id")
    assert len(mine) == 1
    assert set(mine[0].attrib) == {"by", "id"} and len(mine[0]) == 0 and not mine[0].text
    await server.stop()


async def test_sid_07_origin_id_untouched(tmp_path: Path) -> None:
    server = await start_server(tmp_path, MODULES)
    alice = await login(server, "alice@localhost/a")
    bob = await login(server, "bob@localhost/b")
    origin = "<origin-id xmlns='urn:xmpp:sid:0' id='de305d54-75b4-431b-adb2-eb6b9e546013'/>"
    await chat(server, alice, "bob@localhost", "hi", "m1", extra=origin)
    (got,) = bob.take()
    for message in (
        got,
        (await query(server, alice)).inner(0),
        (await query(server, bob)).inner(0),
    ):
        (node,) = message.findall(f"{{{SID}}}origin-id")
        assert node.attrib == {"id": "de305d54-75b4-431b-adb2-eb6b9e546013"}
    await server.stop()


async def test_sid_08_ids_are_unpredictable(tmp_path: Path) -> None:
    a = await archive_of(tmp_path, 20, clock=FakeClock(T0))
    ids = a.ids
    assert len(set(ids)) == 20
    # Neither sorted nor sequential, whether read as text or as the bytes they spell, and
    # nothing in them counts messages.
    assert ids != sorted(ids) and ids != sorted(ids, reverse=True)
    assert not any(i.isdigit() for i in ids)
    shared = [len(_common_prefix(x, y)) for x, y in itertools.pairwise(ids)]
    assert max(shared) < 5, shared  # consecutive ids share no long prefix
    await a.stop()


def _common_prefix(x: str, y: str) -> str:
    n = 0
    while n < min(len(x), len(y)) and x[n] == y[n]:
        n += 1
    return x[:n]


async def test_sid_09_ids_never_reused_after_deletion(tmp_path: Path) -> None:
    clock = FakeClock(T0)
    a = await archive_of(tmp_path, 5, clock=clock, step=timedelta(days=3))
    before = set(a.ids)
    clock.advance(timedelta(days=5))
    assert await expire(a.server) > 0
    for n in range(5):
        await chat(a.server, a.bob, "alice@localhost", f"again {n}")
    await a.refresh()
    survivors = [i for i in a.ids if i in before]
    fresh = [i for i in a.ids if i not in before]
    assert len(fresh) == 5 and len(set(a.ids)) == len(a.ids)
    assert survivors == [i for i in a.ids[: len(survivors)]]
    await a.stop()


async def test_sid_10_self_message_has_stanza_id_and_one_entry(tmp_path: Path) -> None:
    server = await start_server(tmp_path, MODULES)
    alice = await login(server, "alice@localhost/a")
    phone = await login(server, "alice@localhost/phone")
    for msg_id in ("self-1", None):
        await chat(server, alice, "alice@localhost", "note", msg_id)
    got = alice.take() + phone.take()
    assert len(got) == 4  # both resources, both messages
    page = await query(server, alice)
    assert len(page.ids) == 2
    for message in got:
        (sid,) = stanza_ids(message)
        assert sid["by"] == "alice@localhost" and sid["id"] in page.ids
    await server.stop()


async def test_sid_12_foreign_stanza_ids_survive_routing(tmp_path: Path) -> None:
    server = await start_server(tmp_path, MODULES)
    alice = await login(server, "alice@localhost/a")
    bob = await login(server, "bob@localhost/b")
    room = "<stanza-id xmlns='urn:xmpp:sid:0' by='room@conference.example.org' id='r-77'/>"
    await chat(server, bob, "alice@localhost", "hi", extra=room)
    (got,) = alice.take()
    assert {"by": "room@conference.example.org", "id": "r-77"} in stanza_ids(got)
    await server.stop()
