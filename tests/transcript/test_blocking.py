"""XEP-0191 blocking command: the blocklist protocol, pushes, what blocking does to stanzas in
both directions, and the presence that blocking and unblocking imply."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from garrulus.core.modules import load_module, unload_module
from garrulus.core.server import Server
from garrulus.modules.blocking import BlockingAPI
from garrulus.xmpp.jid import parse_jid
from garrulus.xmpp.xml import to_xml
from tests.harness import FakeSession, Transcript, expect, login, logout, send, start_server

MODULES = ["disco", "roster", "presence", "message", "offline", "blocking"]
STANZAS = "urn:ietf:params:xml:ns:xmpp-stanzas"
GET = "<iq type='get' id='bl'><blocklist xmlns='urn:xmpp:blocking'/></iq>"


def block(*jids: str, iq_id: str = "b") -> str:
    items = "".join(f"<item jid='{j}'/>" for j in jids)
    return f"<iq type='set' id='{iq_id}'><block xmlns='urn:xmpp:blocking'>{items}</block></iq>"


def unblock(*jids: str, iq_id: str = "u") -> str:
    items = "".join(f"<item jid='{j}'/>" for j in jids)
    return f"<iq type='set' id='{iq_id}'><unblock xmlns='urn:xmpp:blocking'>{items}</unblock></iq>"


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[Server]:
    server = await start_server(tmp_path, modules=MODULES)
    yield server
    await server.stop()


def expect_error(t: Transcript, session: FakeSession, expected: str) -> None:
    """One error, matched on the children given (the explanatory text is not compared)."""
    got = session.take()
    assert len(got) == 1, [to_xml(g, "") for g in got]
    t.match(got[0], expected, exact_children=False)


async def online(server: Server, jid: str) -> FakeSession:
    session = await login(server, jid)
    await send(server, session, "<iq type='get' id='rg'><query xmlns='jabber:iq:roster'/></iq>")
    await send(server, session, "<presence/>")
    session.take()
    return session


async def mutual(server: Server, a: FakeSession, b: FakeSession) -> None:
    for x, y in ((a, b), (b, a)):
        await send(server, x, f"<presence type='subscribe' to='{y.jid.bare}'/>")
        await send(server, y, f"<presence type='subscribed' to='{x.jid.bare}'/>")
    a.take()
    b.take()


async def test_blocklist_get_block_unblock_and_pushes(server: Server) -> None:
    t = Transcript()
    phone = await online(server, "alice@localhost/phone")
    laptop = await online(server, "alice@localhost/laptop")
    quiet = await online(server, "alice@localhost/quiet")  # never asks for the blocklist
    for session in (phone, laptop):
        session.take()
        await send(server, session, GET)
        expect(
            t,
            session,
            f"<iq type='result' id='bl' from='alice@localhost' to='{session.jid}'>"
            "<blocklist xmlns='urn:xmpp:blocking'/></iq>",
        )
    await send(server, phone, block("Mallory@localhost", "spam.example"))
    items = "<item jid='mallory@localhost'/><item jid='spam.example'/>"
    expect(
        t,
        phone,
        "<iq type='result' id='b' from='alice@localhost' to='alice@localhost/phone'/>",
        f"<iq type='set' id='*' to='alice@localhost/phone'><block xmlns='urn:xmpp:blocking'>{items}"
        "</block></iq>",
    )
    expect(
        t,
        laptop,
        "<iq type='set' id='*' to='alice@localhost/laptop'>"
        f"<block xmlns='urn:xmpp:blocking'>{items}"
        "</block></iq>",
    )
    expect(t, quiet)
    await send(server, laptop, GET)
    expect(
        t,
        laptop,
        "<iq type='result' id='bl' from='alice@localhost' to='alice@localhost/laptop'>"
        f"<blocklist xmlns='urn:xmpp:blocking'>{items}</blocklist></iq>",
    )
    await send(server, laptop, unblock("spam.example"))
    expect(
        t,
        laptop,
        "<iq type='result' id='u' from='alice@localhost' to='alice@localhost/laptop'/>",
        "<iq type='set' id='*' to='alice@localhost/laptop'><unblock xmlns='urn:xmpp:blocking'>"
        "<item jid='spam.example'/></unblock></iq>",
    )
    expect(
        t,
        phone,
        "<iq type='set' id='*' to='alice@localhost/phone'><unblock xmlns='urn:xmpp:blocking'>"
        "<item jid='spam.example'/></unblock></iq>",
    )
    # An empty unblock clears the list (XEP-0191 3.4).
    await send(server, phone, unblock())
    expect(
        t,
        phone,
        "<iq type='result' id='u' from='alice@localhost' to='alice@localhost/phone'/>",
        "<iq type='set' id='*' to='alice@localhost/phone'>"
        "<unblock xmlns='urn:xmpp:blocking'/></iq>",
    )
    api: BlockingAPI = server.hosts["localhost"].modules["blocking"].api
    assert await api.blocklist("alice") == frozenset()


@pytest.mark.parametrize(
    ("command", "condition"),
    [
        (block(), "bad-request"),
        (block("bad@@jid"), "jid-malformed"),
        (unblock("bad@@jid"), "jid-malformed"),
    ],
)
async def test_command_errors(server: Server, command: str, condition: str) -> None:
    t = Transcript()
    alice = await online(server, "alice@localhost/phone")
    await send(server, alice, command)
    expect_error(
        t,
        alice,
        f"<iq type='error' id='*' from='alice@localhost' to='alice@localhost/phone'>"
        f"<error type='modify'><{condition} xmlns='{STANZAS}'/></error></iq>",
    )


async def test_outgoing_to_a_blocked_jid_is_refused(server: Server) -> None:
    """XEP-0191 3.5."""
    t = Transcript()
    alice = await online(server, "alice@localhost/phone")
    bob = await online(server, "bob@localhost/pc")
    await send(server, alice, block("bob@localhost"))
    alice.take()
    blocked = (
        "<error type='modify'><not-acceptable xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/>"
        "<blocked xmlns='urn:xmpp:blocking:errors'/></error>"
    )
    for stanza in (
        "<message to='bob@localhost' type='chat' id='x'><body>hi</body></message>",
        "<iq to='bob@localhost/pc' type='get' id='x'><ping xmlns='urn:xmpp:ping'/></iq>",
        "<presence to='bob@localhost' id='x'/>",
        "<presence to='bob@localhost' type='subscribe' id='x'/>",
    ):
        await send(server, alice, stanza)
        kind = stanza[1 : stanza.index(" ")]
        expect_error(
            t,
            alice,
            f"<{kind} type='error' id='x' from='*' to='alice@localhost/phone'>{blocked}</{kind}>",
        )
    # Errors are dropped, never answered.
    await send(server, alice, "<message to='bob@localhost' type='error' id='e'/>")
    expect(t, alice)
    expect(t, bob)


async def test_incoming_from_a_blocked_jid(server: Server) -> None:
    """XEP-0191 3.6: as if the user did not exist, and presence goes nowhere."""
    t = Transcript()
    alice = await online(server, "alice@localhost/phone")
    mallory = await online(server, "mallory@localhost/x")
    await send(server, alice, block("mallory@localhost"))
    alice.take()
    unavailable = f"<error type='cancel'><service-unavailable xmlns='{STANZAS}'/></error>"
    await send(
        server, mallory, "<message to='alice@localhost' type='chat' id='m'><body>x</body></message>"
    )
    expect_error(
        t,
        mallory,
        "<message type='error' id='m' from='alice@localhost' to='mallory@localhost/x'>"
        f"{unavailable}"
        "</message>",
    )
    await send(
        server, mallory, "<message to='alice@localhost/phone' id='n'><body>x</body></message>"
    )
    expect_error(
        t, mallory, f"<message type='error' id='n' from='*' to='*'>{unavailable}</message>"
    )
    await send(
        server,
        mallory,
        "<iq to='alice@localhost/phone' type='get' id='i'><ping xmlns='urn:xmpp:ping'/></iq>",
    )
    expect_error(t, mallory, f"<iq type='error' id='i' from='*' to='*'>{unavailable}</iq>")
    # IQs the server answers for the user's bare JID are refused as well.
    await send(
        server,
        mallory,
        "<iq to='alice@localhost' type='get' id='d'>"
        "<query xmlns='http://jabber.org/protocol/disco#info'/></iq>",
    )
    expect_error(t, mallory, f"<iq type='error' id='d' from='*' to='*'>{unavailable}</iq>")
    for dropped in (
        "<message to='alice@localhost' type='headline' id='h'><body>x</body></message>",
        "<presence to='alice@localhost/phone'/>",
        "<presence to='alice@localhost' type='subscribe'/>",
        "<presence to='alice@localhost' type='probe'/>",
    ):
        await send(server, mallory, dropped)
    # Mallory hears nothing back, but her own roster push for her request.
    assert [e.tag.rsplit("}", 1)[1] for e in mallory.take()] == ["iq"]
    expect(t, alice)


async def test_offline_messages_from_a_blocked_jid_are_refused(server: Server) -> None:
    t = Transcript()
    alice = await online(server, "alice@localhost/phone")
    await send(server, alice, block("mallory@localhost"))
    await logout(alice)
    mallory = await online(server, "mallory@localhost/x")
    await send(
        server, mallory, "<message to='alice@localhost' type='chat' id='m'><body>x</body></message>"
    )
    expect_error(
        t,
        mallory,
        f"<message type='error' id='m' from='*' to='*'><error type='cancel'>"
        f"<service-unavailable xmlns='{STANZAS}'/></error></message>",
    )
    back = await online(server, "alice@localhost/pc")
    assert not [e for e in back.take() if e.tag.endswith("}message")]


async def test_domain_block_covers_everyone_there(server: Server) -> None:
    t = Transcript()
    alice = await online(server, "alice@localhost/phone")
    erin = await online(server, "erin@example.org/pc")
    await send(server, alice, block("example.org"))
    alice.take()
    await send(
        server, erin, "<message to='alice@localhost' type='chat' id='m'><body>x</body></message>"
    )
    assert erin.take()[0].get("type") == "error"
    expect(t, alice)


async def test_blocking_a_contact_hides_the_users_presence(server: Server) -> None:
    """XEP-0191 3.3: the contact sees the user go unavailable, and no presence after that."""
    t = Transcript()
    alice = await online(server, "alice@localhost/phone")
    laptop = await online(server, "alice@localhost/laptop")
    bob = await online(server, "bob@localhost/pc")
    await mutual(server, alice, bob)
    laptop.take()
    await send(server, alice, block("bob@localhost"))
    expect(
        t,
        bob,
        "<presence type='unavailable' from='alice@localhost/phone' to='bob@localhost'/>",
        "<presence type='unavailable' from='alice@localhost/laptop' to='bob@localhost'/>",
    )
    alice.take()
    await send(server, alice, "<presence><show>away</show></presence>")
    expect(t, bob)
    laptop.take()
    # Bob's presence does not reach Alice either.
    alice.take()
    await send(server, bob, "<presence><show>dnd</show></presence>")
    expect(t, alice)
    bob.take()
    # Unblocking: Bob gets Alice's current presence, Alice probes Bob's.
    await send(server, alice, unblock("bob@localhost"))
    expect(
        t,
        alice,
        "<iq type='result' id='u' from='alice@localhost' to='alice@localhost/phone'/>",
        "<presence from='bob@localhost/pc' to='alice@localhost/phone'><show>dnd</show></presence>",
    )
    expect(
        t,
        laptop,
        "<presence from='bob@localhost/pc' to='alice@localhost/laptop'><show>dnd</show></presence>",
    )
    expect(
        t,
        bob,
        "<presence from='alice@localhost/phone' to='bob@localhost'><show>away</show></presence>",
        "<presence from='alice@localhost/laptop' to='bob@localhost'/>",
    )


async def test_blocking_ends_directed_presence(server: Server) -> None:
    t = Transcript()
    alice = await online(server, "alice@localhost/phone")
    dave = await online(server, "dave@localhost/pc")
    await send(server, alice, "<presence to='dave@localhost/pc'/>")
    dave.take()
    await send(server, alice, block("dave@localhost"))
    expect(
        t,
        dave,
        "<presence type='unavailable' from='alice@localhost/phone' to='dave@localhost/pc'/>",
    )
    await logout(alice)
    expect(t, dave)


async def test_blocking_refuses_a_pending_request(server: Server) -> None:
    alice = await online(server, "alice@localhost/phone")
    mallory = await online(server, "mallory@localhost/x")
    await send(server, mallory, "<presence type='subscribe' to='alice@localhost'/>")
    await send(server, alice, block("mallory@localhost"))
    await send(server, alice, unblock("mallory@localhost"))
    await logout(alice)
    back = await online(server, "alice@localhost/pc")
    await send(server, back, "<presence/>")
    assert not [e for e in back.take() if e.get("type") == "subscribe"]


async def test_blocklist_survives_a_module_restart(server: Server) -> None:
    t = Transcript()
    alice = await online(server, "alice@localhost/phone")
    await send(server, alice, block("bob@localhost"))
    alice.take()
    host = server.hosts["localhost"]
    unload_module(host, "blocking")
    await load_module(host, "blocking", server.core_option_names)
    await send(server, alice, GET)
    expect(
        t,
        alice,
        "<iq type='result' id='bl' from='alice@localhost' to='alice@localhost/phone'>"
        "<blocklist xmlns='urn:xmpp:blocking'><item jid='bob@localhost'/></blocklist></iq>",
    )
    api: BlockingAPI = host.modules["blocking"].api
    assert await api.is_blocked("alice", parse_jid("bob@localhost/any"))


async def test_user_on_another_host_blocking(server: Server) -> None:
    t = Transcript()
    alice = await online(server, "alice@localhost/phone")
    erin = await online(server, "erin@example.org/pc")
    await send(server, erin, block("alice@localhost"))
    erin.take()
    await send(
        server,
        alice,
        "<iq to='erin@example.org' type='get' id='d'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>",
    )
    assert alice.take()[0].get("type") == "error"
    expect(t, erin)


async def test_features(server: Server) -> None:
    assert "urn:xmpp:blocking" in server.hosts["localhost"].features
    assert "urn:xmpp:blocking" in server.hosts["localhost"].account_features


async def test_user_deleted_removes_the_blocklist(server: Server) -> None:
    alice = await online(server, "alice@localhost/phone")
    await send(server, alice, block("bob@localhost"))
    await server.accounts.delete("alice@localhost")
    assert await server.storage.keyval.get("localhost", "alice", "blocklist") is None
    await server.accounts.create("alice@localhost", "pw")
    api: BlockingAPI = server.hosts["localhost"].modules["blocking"].api
    assert await api.blocklist("alice") == frozenset()
