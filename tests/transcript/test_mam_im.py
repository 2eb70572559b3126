"""The archive among the IM modules (message, presence, roster, offline, carbons, blocking):
checklist CRB (carbons), OFF-04 (offline storage full), ARC-28 (blocked contacts) and PRF-07/08
with the real roster.

These load the full stack, so sessions send initial presence first, as real clients do.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from types import SimpleNamespace
from xml.etree.ElementTree import Element

import pytest

from garrulus.core.server import Server
from tests.harness import FakeSession, Transcript, login, logout, send, start_server
from tests.transcript.test_mam_support import MAM, iq, query

IM = ["disco", "roster", "presence", "message", "offline", "carbons", "blocking", "mam"]
ENABLE = "<iq type='set' id='on'><enable xmlns='urn:xmpp:carbons:2'/></iq>"
SID = "urn:xmpp:sid:0"


async def online(server: Server, jid: str, *, carbons: bool = True) -> FakeSession:
    session = await login(server, jid)
    await send(server, session, "<presence/>")
    if carbons:
        await send(server, session, ENABLE)
    session.take()
    return session


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[Server]:
    server = await start_server(tmp_path, IM, "offline_max_messages = 1")
    yield server
    await server.stop()


def messages(session: FakeSession) -> list[Element]:
    """What the session got, presence (of the user's other resources) left out."""
    return [s for s in session.take() if s.tag == "{jabber:client}message"]


def stanza_ids(message: Element) -> list[dict[str, str]]:
    return [dict(n.attrib) for n in message.iter(f"{{{SID}}}stanza-id")]


# ---------------------------------------------------------------- carbons


async def test_crb_01_sent_carbon_carries_the_senders_id(server: Server) -> None:
    laptop = await online(server, "alice@localhost/laptop")
    phone = await online(server, "alice@localhost/phone")
    bob = await online(server, "bob@localhost/b")
    await send(
        server,
        laptop,
        "<message to='bob@localhost' type='chat' id='m1'><body>hi</body></message>",
    )
    (carbon,) = messages(phone)
    (archived,) = (await query(server, laptop)).ids
    t = Transcript()
    t.vars["aid"] = archived
    t.match(
        carbon,
        """<message from='alice@localhost' to='alice@localhost/phone' type='chat'>
        <sent xmlns='urn:xmpp:carbons:2'><forwarded xmlns='urn:xmpp:forward:0'>
          <message xmlns='jabber:client' to='bob@localhost' type='chat' id='m1'
            from='alice@localhost/laptop'>
            <body>hi</body><stanza-id xmlns='urn:xmpp:sid:0' by='alice@localhost' id='{aid}'/>
          </message></forwarded></sent></message>""",
    )
    # CRB-05 with SID-02: Bob's copy has Bob's id only.
    (got,) = messages(bob)
    assert [d["by"] for d in stanza_ids(got)] == ["bob@localhost"]


async def test_crb_02_received_carbon_carries_the_recipients_id(server: Server) -> None:
    laptop = await online(server, "alice@localhost/laptop")
    phone = await online(server, "alice@localhost/phone")
    bob = await online(server, "bob@localhost/b")
    await send(
        server,
        bob,
        "<message to='alice@localhost/laptop' type='chat' id='m1'><body>yo</body></message>",
    )
    (direct,) = messages(laptop)
    (carbon,) = messages(phone)
    (archived,) = (await query(server, laptop)).ids
    assert stanza_ids(direct) == [{"by": "alice@localhost", "id": archived}]
    assert stanza_ids(carbon) == [{"by": "alice@localhost", "id": archived}]


async def test_crb_03_carbons_and_forks_make_no_extra_entries(server: Server) -> None:
    bobs = [await online(server, f"bob@localhost/r{n}") for n in range(3)]
    alices = [await online(server, f"alice@localhost/r{n}") for n in range(2)]
    await send(
        server,
        alices[0],
        "<message to='bob@localhost' type='chat' id='x'><body>one</body></message>",
    )
    await send(
        server,
        alices[1],
        "<message to='bob@localhost/r1' type='chat' id='y'><body>two</body></message>",
    )
    got = [s for b in bobs for s in messages(b)]
    assert len(got) == 6  # 'one' to all three (bare, equal priority), 'two' to r1 + 2 carbons
    assert len(messages(alices[0])) == 1 and len(messages(alices[1])) == 1  # sent carbons
    assert len((await query(server, bobs[0])).results) == 2
    assert len((await query(server, alices[0])).results) == 2


# ---------------------------------------------------------------- offline storage


async def test_off_04_offline_store_full_but_archived_no_bounce(server: Server) -> None:
    bob = await online(server, "bob@localhost/b")
    await server.accounts.create("alice@localhost", "secret")
    for n in range(3):  # the offline store takes one (offline_max_messages = 1)
        await send(
            server,
            bob,
            f"<message to='alice@localhost' type='chat' id='m{n}'><body>{n}</body></message>",
        )
    assert messages(bob) == []
    # What neither store keeps is bounced.
    await send(
        server,
        bob,
        "<message to='alice@localhost' type='chat' id='ns'><body>x</body>"
        "<no-store xmlns='urn:xmpp:hints'/></message>",
    )
    (bounce,) = messages(bob)
    assert bounce.get("type") == "error"
    alice = await login(server, "alice@localhost/a", create=False)
    assert (await query(server, alice)).bodies == ["0", "1", "2"]
    await send(server, alice, "<presence/>")
    offline = messages(alice)
    # OFF-03 as Prosody: this session queried the archive first, so the offline copy waits.
    assert offline == []


# ---------------------------------------------------------------- blocking


async def test_arc_28_blocked_contact_in_neither_archive(server: Server) -> None:
    alice = await online(server, "alice@localhost/a")
    bob = await online(server, "bob@localhost/b")
    await iq(
        server,
        alice,
        "<iq type='set' id='b1'><block xmlns='urn:xmpp:blocking'><item jid='bob@localhost'/>"
        "</block></iq>",
    )
    bob.take()
    await send(
        server, bob, "<message to='alice@localhost' type='chat' id='in'><body>hey</body></message>"
    )
    (bounce,) = messages(bob)
    assert bounce.get("type") == "error"
    await send(
        server, alice, "<message to='bob@localhost' type='chat' id='out'><body>no</body></message>"
    )
    (refused,) = messages(alice)
    assert refused.get("type") == "error"
    assert (await query(server, alice)).results == []
    assert (await query(server, bob)).results == []


# ---------------------------------------------------------------- roster prefs, real roster


async def test_prf_08_roster_item_without_subscription_counts(server: Server) -> None:
    alice = await online(server, "alice@localhost/a")
    bob = await online(server, "bob@localhost/b")
    kate = await online(server, "kate@localhost/k")
    reply = await iq(
        server,
        alice,
        "<iq type='set' id='r1'><query xmlns='jabber:iq:roster'>"
        "<item jid='bob@localhost' name='Bob'/></query></iq>",
    )
    assert reply.get("type") == "result"
    await iq(server, alice, f"<iq type='set' id='p'><prefs xmlns='{MAM}' default='roster'/></iq>")
    for sender, body in ((bob, "from bob"), (kate, "from kate")):
        await send(
            server,
            sender,
            f"<message to='alice@localhost' type='chat'><body>{body}</body></message>",
        )
    await send(
        server, alice, "<message to='bob@localhost/b' type='chat'><body>to bob</body></message>"
    )
    await send(
        server, alice, "<message to='kate@localhost' type='chat'><body>to kate</body></message>"
    )
    # Bob is an item with subscription 'none': in the roster all the same.
    assert (await query(server, alice)).bodies == ["from bob", "to bob"]


# ---------------------------------------------------------------- hints and both stores


async def test_hnt_01_no_store_kept_by_neither_store(server: Server) -> None:
    bob = await online(server, "bob@localhost/b")
    await server.accounts.create("alice@localhost", "secret")
    await send(
        server,
        bob,
        "<message to='alice@localhost' type='chat' id='ns'><body>x</body>"
        "<no-store xmlns='urn:xmpp:hints'/></message>",
    )
    (bounce,) = messages(bob)  # refused offline, not archived: the sender is told
    assert bounce.get("type") == "error"
    alice = await login(server, "alice@localhost/a", create=False)
    await send(server, alice, "<presence/>")
    assert messages(alice) == []  # nothing came from offline storage
    assert (await query(server, alice)).results == []
    assert (await query(server, bob)).results == []


async def test_hnt_02_no_permanent_store_offline_yes_archive_no(server: Server) -> None:
    bob = await online(server, "bob@localhost/b")
    await server.accounts.create("alice@localhost", "secret")
    await send(
        server,
        bob,
        "<message to='alice@localhost' type='chat' id='np'><body>for now</body>"
        "<no-permanent-store xmlns='urn:xmpp:hints'/></message>",
    )
    assert messages(bob) == []
    alice = await login(server, "alice@localhost/a", create=False)
    await send(server, alice, "<presence/>")
    (delivered,) = messages(alice)
    assert delivered.findtext("{jabber:client}body") == "for now"
    assert stanza_ids(delivered) == []  # never archived, so no archive id
    assert (await query(server, alice)).results == []
    assert (await query(server, bob)).results == []


# ---------------------------------------------------------------- stream management


async def test_mam_08_unacked_results_are_not_rerouted(tmp_path: Path) -> None:
    server = await start_server(tmp_path, [*IM, "smacks"])
    await server.accounts.create("alice@localhost", "secret")
    bob = await online(server, "bob@localhost/b")
    await send(
        server, bob, "<message to='alice@localhost' type='chat' id='m1'><body>x</body></message>"
    )
    alice = await login(server, "alice@localhost/a", create=False)
    (result,) = (await query(server, alice)).results
    # The connection drops with the result unacknowledged and its hibernation runs out.
    await logout(alice)
    dropped = SimpleNamespace(sm_id=None, jid=alice.jid)
    await server.hosts["localhost"].events.fire("smacks-unacked", (dropped, [result]))
    later = await login(server, "alice@localhost/later", create=False)
    await send(server, later, "<presence/>")
    got = messages(later)
    await server.stop()
    assert [m for m in got if m.find(f"{{{MAM}}}result") is not None] == []
