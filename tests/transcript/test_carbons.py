"""XEP-0280 message carbons: enabling, sent and received copies, which messages are copied,
and that every resource sees a message exactly once."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from garrulus.core.server import Server
from garrulus.modules.carbons import eligible
from garrulus.xmpp.jid import JID, parse_jid
from tests.harness import (
    FakeSession,
    Transcript,
    expect,
    login,
    logout,
    parse_stanza,
    send,
    start_server,
)

MODULES = ["disco", "roster", "presence", "message", "offline", "carbons"]
ENABLE = "<iq type='set' id='on'><enable xmlns='urn:xmpp:carbons:2'/></iq>"
DISABLE = "<iq type='set' id='off'><disable xmlns='urn:xmpp:carbons:2'/></iq>"


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[Server]:
    server = await start_server(tmp_path, modules=MODULES)
    yield server
    await server.stop()


async def resource(
    server: Server, jid: str, *, priority: int = 0, carbons: bool = True
) -> FakeSession:
    session = await login(server, jid)
    await send(server, session, f"<presence><priority>{priority}</priority></presence>")
    if carbons:
        await send(server, session, ENABLE)
    return session


def clear(*sessions: FakeSession) -> None:
    for session in sessions:
        session.take()


def carbon(direction: str, to: str, inner: str, user: str = "alice@localhost") -> str:
    return (
        f"<message from='{user}' to='{to}' type='chat'><{direction} xmlns='urn:xmpp:carbons:2'>"
        f"<forwarded xmlns='urn:xmpp:forward:0'>{inner}</forwarded></{direction}></message>"
    )


async def test_enable_and_disable(server: Server) -> None:
    t = Transcript()
    phone = await login(server, "alice@localhost/phone")
    await send(server, phone, ENABLE)
    expect(
        t, phone, "<iq type='result' id='on' from='alice@localhost' to='alice@localhost/phone'/>"
    )
    assert phone.state["carbons"] is True
    await send(server, phone, DISABLE)
    expect(
        t, phone, "<iq type='result' id='off' from='alice@localhost' to='alice@localhost/phone'/>"
    )
    assert phone.state["carbons"] is False


async def test_features(server: Server) -> None:
    host = server.hosts["localhost"]
    assert "urn:xmpp:carbons:2" in host.features
    assert "urn:xmpp:carbons:rules:0" in host.features
    assert "urn:xmpp:carbons:2" in host.account_features


async def test_sent_copies(server: Server) -> None:
    t = Transcript()
    phone = await resource(server, "alice@localhost/phone")
    laptop = await resource(server, "alice@localhost/laptop")
    quiet = await resource(server, "alice@localhost/quiet", carbons=False)
    bob = await resource(server, "bob@localhost/pc", carbons=False)
    clear(phone, laptop, quiet, bob)
    await send(
        server, phone, "<message to='bob@localhost' type='chat' id='m1'><body>hi</body></message>"
    )
    inner = (
        "<message xmlns='jabber:client' to='bob@localhost' type='chat' id='m1'"
        " from='alice@localhost/phone'><body>hi</body></message>"
    )
    expect(t, laptop, carbon("sent", "alice@localhost/laptop", inner))
    expect(t, phone)
    expect(t, quiet)
    expect(
        t,
        bob,
        "<message to='bob@localhost' type='chat' id='m1' from='alice@localhost/phone'>"
        "<body>hi</body></message>",
    )


async def test_received_copies_go_to_resources_that_miss_the_message(server: Server) -> None:
    t = Transcript()
    phone = await resource(server, "alice@localhost/phone", priority=5)
    laptop = await resource(server, "alice@localhost/laptop", priority=1)
    bot = await resource(server, "alice@localhost/bot", priority=-1)
    quiet = await resource(server, "alice@localhost/quiet", priority=1, carbons=False)
    bob = await resource(server, "bob@localhost/pc", carbons=False)
    clear(phone, laptop, bot, quiet, bob)
    await send(
        server, bob, "<message to='alice@localhost' type='chat' id='b1'><body>yo</body></message>"
    )
    original = (
        "<message to='alice@localhost' type='chat' id='b1' from='bob@localhost/pc'>"
        "<body>yo</body></message>"
    )
    inner = original.replace("<message ", "<message xmlns='jabber:client' ", 1)
    expect(t, phone, original)  # the top resource gets the message itself ...
    expect(t, laptop, carbon("received", "alice@localhost/laptop", inner))  # ... others a copy
    expect(t, bot, carbon("received", "alice@localhost/bot", inner))
    expect(t, quiet)


async def test_tied_resources_get_the_message_not_a_copy(server: Server) -> None:
    t = Transcript()
    phone = await resource(server, "alice@localhost/phone")
    laptop = await resource(server, "alice@localhost/laptop")
    bob = await resource(server, "bob@localhost/pc", carbons=False)
    clear(phone, laptop, bob)
    await send(
        server, bob, "<message to='alice@localhost' type='chat' id='b1'><body>yo</body></message>"
    )
    original = (
        "<message to='alice@localhost' type='chat' id='b1' from='bob@localhost/pc'>"
        "<body>yo</body></message>"
    )
    expect(t, phone, original)
    expect(t, laptop, original)


async def test_received_copies_of_a_message_to_a_full_jid(server: Server) -> None:
    t = Transcript()
    phone = await resource(server, "alice@localhost/phone")
    laptop = await resource(server, "alice@localhost/laptop")
    bob = await resource(server, "bob@localhost/pc", carbons=False)
    clear(phone, laptop, bob)
    await send(
        server,
        bob,
        "<message to='alice@localhost/phone' type='chat' id='b2'><body>yo</body></message>",
    )
    expect(
        t,
        phone,
        "<message to='alice@localhost/phone' type='chat' id='b2' from='bob@localhost/pc'>"
        "<body>yo</body></message>",
    )
    expect(
        t,
        laptop,
        carbon(
            "received",
            "alice@localhost/laptop",
            "<message xmlns='jabber:client' to='alice@localhost/phone' type='chat' id='b2'"
            " from='bob@localhost/pc'><body>yo</body></message>",
        ),
    )


async def test_private_and_no_copy_opt_out(server: Server) -> None:
    t = Transcript()
    phone = await resource(server, "alice@localhost/phone")
    laptop = await resource(server, "alice@localhost/laptop")
    bob = await resource(server, "bob@localhost/pc")
    bob2 = await resource(server, "bob@localhost/tablet")
    clear(phone, laptop, bob, bob2)
    await send(
        server,
        phone,
        "<message to='bob@localhost/pc' type='chat' id='p'><body>psst</body>"
        "<private xmlns='urn:xmpp:carbons:2'/></message>",
    )
    expect(t, laptop)
    expect(t, bob2)
    # The recipient's clients need not see the element (XEP-0280 7).
    expect(
        t,
        bob,
        "<message to='bob@localhost/pc' type='chat' id='p' from='alice@localhost/phone'>"
        "<body>psst</body></message>",
    )
    await send(
        server,
        phone,
        "<message to='bob@localhost/pc' type='chat' id='h'><body>psst</body>"
        "<no-copy xmlns='urn:xmpp:hints'/></message>",
    )
    expect(t, laptop)
    expect(t, bob2)
    assert len(bob.take()) == 1


async def test_disabled_resources_get_nothing(server: Server) -> None:
    t = Transcript()
    phone = await resource(server, "alice@localhost/phone")
    laptop = await resource(server, "alice@localhost/laptop")
    await send(server, laptop, DISABLE)
    bob = await resource(server, "bob@localhost/pc", carbons=False)
    clear(phone, laptop, bob)
    await send(
        server, phone, "<message to='bob@localhost' type='chat' id='m'><body>x</body></message>"
    )
    await send(
        server,
        bob,
        "<message to='alice@localhost/phone' type='chat' id='n'><body>x</body></message>",
    )
    expect(t, laptop)


async def test_messages_to_an_offline_contact_are_still_copied(server: Server) -> None:
    t = Transcript()
    phone = await resource(server, "alice@localhost/phone")
    laptop = await resource(server, "alice@localhost/laptop")
    bob = await login(server, "bob@localhost/pc")
    await logout(bob)
    clear(phone, laptop)
    await send(
        server, phone, "<message to='bob@localhost' type='chat' id='m'><body>x</body></message>"
    )
    expect(
        t,
        laptop,
        carbon(
            "sent",
            "alice@localhost/laptop",
            "<message xmlns='jabber:client' to='bob@localhost' type='chat' id='m'"
            " from='alice@localhost/phone'><body>x</body></message>",
        ),
    )


async def test_message_to_a_gone_resource_is_copied_once(server: Server) -> None:
    """A chat to a resource that left is delivered as if to the bare JID: the top resources
    get it, the others a copy, nobody both."""
    t = Transcript()
    phone = await resource(server, "alice@localhost/phone", priority=2)
    laptop = await resource(server, "alice@localhost/laptop", priority=1)
    bob = await resource(server, "bob@localhost/pc", carbons=False)
    clear(phone, laptop, bob)
    await send(
        server,
        bob,
        "<message to='alice@localhost/gone' type='chat' id='g'><body>x</body></message>",
    )
    assert len(phone.take()) == 1
    (copy,) = laptop.take()
    assert copy.find("{urn:xmpp:carbons:2}received") is not None
    # A 'normal' message to it is refused: nothing to copy.
    await send(server, bob, "<message to='alice@localhost/gone' id='n'><body>x</body></message>")
    expect(t, phone)
    expect(t, laptop)


ALICE = parse_jid("alice@localhost")
BOB_FULL = parse_jid("bob@localhost/pc")
BOB_BARE = parse_jid("bob@localhost")
ELIGIBLE = [
    ("chat", "<message type='chat'><body>x</body></message>", True, BOB_FULL, True),
    (
        "chat state only",
        "<message type='chat'><gone xmlns='http://jabber.org/protocol/chatstates'/></message>",
        True,
        BOB_FULL,
        True,
    ),
    ("normal with body", "<message><body>x</body></message>", True, BOB_FULL, True),
    ("normal without body", "<message><x xmlns='jabber:x:oob'/></message>", True, BOB_FULL, False),
    (
        "normal receipt",
        "<message><received xmlns='urn:xmpp:receipts' id='1'/></message>",
        False,
        BOB_FULL,
        True,
    ),
    (
        "normal marker",
        "<message><displayed xmlns='urn:xmpp:chat-markers:0' id='1'/></message>",
        False,
        BOB_FULL,
        True,
    ),
    ("headline", "<message type='headline'><body>x</body></message>", False, BOB_FULL, False),
    ("groupchat", "<message type='groupchat'><body>x</body></message>", False, BOB_FULL, False),
    (
        "private",
        "<message type='chat'><body>x</body><private xmlns='urn:xmpp:carbons:2'/></message>",
        True,
        BOB_FULL,
        False,
    ),
    (
        "no-copy",
        "<message type='chat'><body>x</body><no-copy xmlns='urn:xmpp:hints'/></message>",
        False,
        BOB_FULL,
        False,
    ),
    (
        "incoming muc pm",
        "<message type='chat' to='alice@localhost/phone'><body>x</body><x xmlns='http://jabber.org/protocol/muc#user'/></message>",
        False,
        BOB_FULL,
        False,
    ),
    (
        "outgoing muc pm",
        "<message type='chat'><body>x</body><x xmlns='http://jabber.org/protocol/muc#user'/></message>",
        True,
        BOB_FULL,
        True,
    ),
    (
        "bounce from a bare jid",
        "<message type='error'><body>x</body></message>",
        False,
        BOB_BARE,
        True,
    ),
    (
        "error from a full jid",
        "<message type='error'><body>x</body></message>",
        False,
        BOB_FULL,
        False,
    ),
    ("error sent", "<message type='error'><body>x</body></message>", True, BOB_BARE, False),
    (
        "archived headline",
        "<message type='headline'>"
        "<stanza-id xmlns='urn:xmpp:sid:0' by='alice@localhost' id='1'/></message>",
        False,
        BOB_FULL,
        True,
    ),
    (
        "archived by someone else",
        "<message type='headline'>"
        "<stanza-id xmlns='urn:xmpp:sid:0' by='x@localhost' id='1'/></message>",
        False,
        BOB_FULL,
        False,
    ),
]


@pytest.mark.parametrize(
    ("case", "xml", "outgoing", "sender", "copied"), ELIGIBLE, ids=[e[0] for e in ELIGIBLE]
)
def test_eligible(case: str, xml: str, outgoing: bool, sender: JID, copied: bool) -> None:
    """XEP-0280 section 6 as Prosody applies it."""
    stanza = parse_stanza(xml)
    stype = stanza.get("type", "normal")
    assert eligible(stanza, stype, outgoing=outgoing, user=ALICE, sender=sender) is copied
