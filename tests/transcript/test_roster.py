"""RFC 6121 section 2: roster get, set, remove, pushes, versioning, errors, limits, storage."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from garrulus.core.event_types import FeaturesEvent
from garrulus.core.modules import load_module, unload_module
from garrulus.core.routes import STREAM_FEATURES
from garrulus.core.server import Server
from garrulus.modules.roster import RosterAPI, RosterItem, Subscription
from garrulus.xmpp.xml import to_xml
from tests.harness import FakeSession, Transcript, expect, login, send, start_server

MODULES = ["disco", "roster", "presence", "message"]


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[Server]:
    server = await start_server(tmp_path, modules=MODULES)
    yield server
    await server.stop()


async def interested(server: Server, jid: str) -> FakeSession:
    session = await login(server, jid)
    await send(server, session, "<iq type='get' id='get0'><query xmlns='jabber:iq:roster'/></iq>")
    session.take()
    return session


def api(server: Server) -> RosterAPI:
    roster: RosterAPI = server.hosts["localhost"].modules["roster"].api
    return roster


async def test_empty_roster_has_a_version(server: Server) -> None:
    t = Transcript()
    alice = await login(server, "alice@localhost/phone")
    assert not alice.interested
    await send(server, alice, "<iq type='get' id='r1'><query xmlns='jabber:iq:roster'/></iq>")
    expect(
        t,
        alice,
        "<iq type='result' id='r1' from='alice@localhost' to='alice@localhost/phone'>"
        "<query xmlns='jabber:iq:roster' ver='{v0}'/></iq>",
    )
    assert alice.interested  # RFC 6121 2.1.3


async def test_add_pushes_to_interested_resources_then_answers(server: Server) -> None:
    t = Transcript()
    phone = await interested(server, "alice@localhost/phone")
    laptop = await interested(server, "alice@localhost/laptop")
    quiet = await login(server, "alice@localhost/quiet")  # never asked for the roster
    await send(
        server,
        phone,
        "<iq type='set' id='s1'><query xmlns='jabber:iq:roster'>"
        "<item jid='Bob@LocalHost' name='Bob'><group>Friends</group><group>Work</group></item>"
        "</query></iq>",
    )
    push = (
        "<iq type='set' id='*' to='{to}'><query xmlns='jabber:iq:roster' ver='{v1}'>"
        "<item jid='bob@localhost' name='Bob' subscription='none'>"
        "<group>Friends</group><group>Work</group></item></query></iq>"
    )
    expect(
        t,
        phone,
        push.replace("{to}", "alice@localhost/phone"),
        "<iq type='result' id='s1' from='alice@localhost' to='alice@localhost/phone'/>",
    )
    expect(t, laptop, push.replace("{to}", "alice@localhost/laptop"))
    expect(t, quiet)
    await send(server, laptop, "<iq type='get' id='g1'><query xmlns='jabber:iq:roster'/></iq>")
    expect(
        t,
        laptop,
        "<iq type='result' id='g1' from='alice@localhost' to='alice@localhost/laptop'>"
        "<query xmlns='jabber:iq:roster' ver='{v1}'><item jid='bob@localhost' name='Bob'"
        " subscription='none'><group>Friends</group><group>Work</group></item></query></iq>",
    )


async def test_update_keeps_the_subscription(server: Server) -> None:
    t = Transcript()
    alice = await interested(server, "alice@localhost/phone")
    await login(server, "bob@localhost/pc")
    await send(server, alice, "<presence to='bob@localhost' type='subscribe'/>")
    alice.take()
    await send(
        server,
        alice,
        "<iq type='set' id='u1'><query xmlns='jabber:iq:roster'>"
        "<item jid='bob@localhost' name='Bobby' subscription='both' ask='subscribe'/>"
        "</query></iq>",
    )
    # The client may change name and groups only; 'subscription' and 'ask' are the server's.
    expect(
        t,
        alice,
        "<iq type='set' id='*' to='alice@localhost/phone'><query xmlns='jabber:iq:roster' ver='*'>"
        "<item jid='bob@localhost' name='Bobby' subscription='none' ask='subscribe'/></query></iq>",
        "<iq type='result' id='u1' from='alice@localhost' to='alice@localhost/phone'/>",
    )


async def test_remove(server: Server) -> None:
    t = Transcript()
    alice = await interested(server, "alice@localhost/phone")
    await send(
        server,
        alice,
        "<iq type='set' id='a'><query xmlns='jabber:iq:roster'><item jid='bob@localhost'/>"
        "</query></iq>",
    )
    alice.take()
    await send(
        server,
        alice,
        "<iq type='set' id='rm'><query xmlns='jabber:iq:roster'>"
        "<item jid='bob@localhost' subscription='remove'/></query></iq>",
    )
    expect(
        t,
        alice,
        "<iq type='set' id='*' to='alice@localhost/phone'><query xmlns='jabber:iq:roster' ver='*'>"
        "<item jid='bob@localhost' subscription='remove'/></query></iq>",
        "<iq type='result' id='rm' from='alice@localhost' to='alice@localhost/phone'/>",
    )
    await send(
        server,
        alice,
        "<iq type='set' id='rm2'><query xmlns='jabber:iq:roster'>"
        "<item jid='bob@localhost' subscription='remove'/></query></iq>",
    )
    expect(
        t,
        alice,
        "<iq type='error' id='rm2' from='alice@localhost' to='alice@localhost/phone'>"
        "<error type='cancel'><item-not-found xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/>"
        "<text xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'>*</text></error></iq>",
    )


async def test_remove_cancels_both_subscriptions(server: Server) -> None:
    """RFC 6121 2.5.2: unsubscribe and unsubscribed go to the contact, who sees us leave."""
    t = Transcript()
    alice = await interested(server, "alice@localhost/phone")
    bob = await interested(server, "bob@localhost/pc")
    for session in (alice, bob):
        await send(server, session, "<presence/>")
    await send(server, alice, "<presence to='bob@localhost' type='subscribe'/>")
    await send(server, bob, "<presence to='alice@localhost' type='subscribed'/>")
    await send(server, bob, "<presence to='alice@localhost' type='subscribe'/>")
    await send(server, alice, "<presence to='bob@localhost' type='subscribed'/>")
    alice.take()
    bob.take()
    await send(
        server,
        alice,
        "<iq type='set' id='rm'><query xmlns='jabber:iq:roster'>"
        "<item jid='bob@localhost' subscription='remove'/></query></iq>",
    )
    expect(
        t,
        alice,
        "<iq type='set' id='*' to='alice@localhost/phone'><query xmlns='jabber:iq:roster' ver='*'>"
        "<item jid='bob@localhost' subscription='remove'/></query></iq>",
        "<iq type='result' id='rm' from='alice@localhost' to='alice@localhost/phone'/>",
        # Bob's server answers the unsubscribe: Alice sees Bob go away.
        "<presence type='unavailable' from='bob@localhost/pc' to='alice@localhost'/>",
    )
    expect(
        t,
        bob,
        # unsubscribe: Bob stops sending his presence (his subscription 'from' goes) ...
        "<iq type='set' id='*' to='bob@localhost/pc'><query xmlns='jabber:iq:roster' ver='*'>"
        "<item jid='alice@localhost' subscription='to'/></query></iq>",
        "<presence type='unsubscribe' from='alice@localhost' to='bob@localhost'/>",
        # ... unsubscribed: Bob no longer gets Alice's presence, and sees her go.
        "<iq type='set' id='*' to='bob@localhost/pc'><query xmlns='jabber:iq:roster' ver='*'>"
        "<item jid='alice@localhost' subscription='none'/></query></iq>",
        "<presence type='unsubscribed' from='alice@localhost' to='bob@localhost'/>",
        "<presence type='unavailable' from='alice@localhost/phone' to='bob@localhost'/>",
    )
    assert not await api(server).contains("alice", "bob@localhost")
    item = await api(server).get_item("bob", "alice@localhost")
    assert item is not None and item.subscription is Subscription.NONE


ERRORS = [
    (
        "two items",
        "<item jid='bob@localhost'/><item jid='carol@localhost'/>",
        "modify",
        "bad-request",
    ),
    ("no jid", "<item name='x'/>", "modify", "bad-request"),
    ("invalid jid", "<item jid='bob@@localhost'/>", "modify", "jid-malformed"),
    ("full jid", "<item jid='bob@localhost/pc'/>", "modify", "bad-request"),
    ("own jid", "<item jid='alice@localhost'/>", "cancel", "not-allowed"),
    (
        "duplicate group",
        "<item jid='bob@localhost'><group>A</group><group>A</group></item>",
        "modify",
        "bad-request",
    ),
    ("empty group", "<item jid='bob@localhost'><group/></item>", "modify", "not-acceptable"),
    ("long name", f"<item jid='bob@localhost' name='{'n' * 1024}'/>", "modify", "not-acceptable"),
]


@pytest.mark.parametrize(
    ("case", "items", "etype", "condition"), ERRORS, ids=[e[0] for e in ERRORS]
)
async def test_roster_set_errors(
    server: Server, case: str, items: str, etype: str, condition: str
) -> None:
    """RFC 6121 2.3.3."""
    t = Transcript()
    alice = await interested(server, "alice@localhost/phone")
    await send(
        server, alice, f"<iq type='set' id='e'><query xmlns='jabber:iq:roster'>{items}</query></iq>"
    )
    expect(
        t,
        alice,
        f"<iq type='error' id='e' from='alice@localhost' to='alice@localhost/phone'>"
        f"<error type='{etype}'><{condition} xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/>"
        "<text xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'>*</text></error></iq>",
    )
    assert not (await api(server).roster("alice")).items


@pytest.mark.parametrize("iq_type", ["get", "set"])
async def test_another_users_roster_is_forbidden(server: Server, iq_type: str) -> None:
    t = Transcript()
    alice = await interested(server, "alice@localhost/phone")
    await login(server, "bob@localhost/pc")
    await send(
        server,
        alice,
        f"<iq type='{iq_type}' id='x' to='bob@localhost'><query xmlns='jabber:iq:roster'>"
        "<item jid='carol@localhost'/></query></iq>",
    )
    expect(
        t,
        alice,
        "<iq type='error' id='x' from='bob@localhost' to='alice@localhost/phone'>"
        "<error type='auth'><forbidden xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/>"
        "<text xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'>*</text></error></iq>",
    )


async def test_roster_size_limit(tmp_path: Path) -> None:
    server = await start_server(tmp_path, modules=MODULES, extra="max_roster_items = 2")
    try:
        t = Transcript()
        alice = await interested(server, "alice@localhost/phone")
        for i in range(2):
            await send(
                server,
                alice,
                f"<iq type='set' id='a{i}'><query xmlns='jabber:iq:roster'>"
                f"<item jid='c{i}@localhost'/></query></iq>",
            )
        alice.take()
        await send(
            server,
            alice,
            "<iq type='set' id='a2'><query xmlns='jabber:iq:roster'>"
            "<item jid='c2@localhost'/></query></iq>",
        )
        expect(
            t,
            alice,
            "<iq type='error' id='a2' from='alice@localhost' to='alice@localhost/phone'>"
            "<error type='cancel'><not-allowed xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/>"
            "<text xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'>*</text></error></iq>",
        )
        # A subscription request would need a new item as well.
        await send(server, alice, "<presence to='c3@localhost' type='subscribe'/>")
        expect(
            t,
            alice,
            "<presence type='error' from='c3@localhost' to='alice@localhost/phone'>"
            "<error type='cancel'><not-allowed xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/>"
            "<text xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'>*</text></error></presence>",
        )
        # Editing an existing item is still fine.
        await send(
            server,
            alice,
            "<iq type='set' id='e'><query xmlns='jabber:iq:roster'>"
            "<item jid='c1@localhost' name='C'/></query></iq>",
        )
        assert alice.take()[-1].get("type") == "result"
    finally:
        await server.stop()


async def test_versioning(server: Server) -> None:
    """RFC 6121 2.6: a current version gets an empty result; any change makes a new one."""
    t = Transcript()
    alice = await interested(server, "alice@localhost/phone")
    await send(server, alice, "<iq type='get' id='g'><query xmlns='jabber:iq:roster' ver=''/></iq>")
    expect(
        t,
        alice,
        "<iq type='result' id='g' from='alice@localhost' to='alice@localhost/phone'>"
        "<query xmlns='jabber:iq:roster' ver='{v0}'/></iq>",
    )
    await send(
        server,
        alice,
        "<iq type='set' id='s'><query xmlns='jabber:iq:roster'><item jid='bob@localhost'/>"
        "</query></iq>",
    )
    expect(
        t,
        alice,
        "<iq type='set' id='*' to='alice@localhost/phone'><query xmlns='jabber:iq:roster'"
        " ver='{v1}'><item jid='bob@localhost' subscription='none'/></query></iq>",
        "<iq type='result' id='s' from='alice@localhost' to='alice@localhost/phone'/>",
    )
    assert t.vars["v0"] != t.vars["v1"]
    await send(
        server,
        alice,
        f"<iq type='get' id='g2'><query xmlns='jabber:iq:roster' ver='{t.vars['v1']}'/></iq>",
    )
    expect(
        t, alice, "<iq type='result' id='g2' from='alice@localhost' to='alice@localhost/phone'/>"
    )
    await send(
        server,
        alice,
        f"<iq type='get' id='g3'><query xmlns='jabber:iq:roster' ver='{t.vars['v0']}'/></iq>",
    )
    expect(
        t,
        alice,
        "<iq type='result' id='g3' from='alice@localhost' to='alice@localhost/phone'>"
        "<query xmlns='jabber:iq:roster' ver='{v1}'><item jid='bob@localhost'"
        " subscription='none'/></query></iq>",
    )


async def test_stream_feature_rosterver(server: Server) -> None:
    host = server.hosts["localhost"]
    event = FeaturesEvent(host, bound=False)
    host.events.fire_sync(STREAM_FEATURES, event)
    assert "<ver xmlns='urn:xmpp:features:rosterver'/>" in [to_xml(f, "") for f in event.features]


async def test_roster_survives_a_restart_of_the_module(server: Server) -> None:
    t = Transcript()
    alice = await interested(server, "alice@localhost/phone")
    await send(
        server,
        alice,
        "<iq type='set' id='s'><query xmlns='jabber:iq:roster'>"
        "<item jid='bob@localhost' name='Bob'><group>G</group></item></query></iq>",
    )
    alice.take()
    host = server.hosts["localhost"]
    for name in reversed(MODULES[1:]):
        unload_module(host, name)
    for name in MODULES[1:]:
        await load_module(host, name, server.core_option_names)
    await send(server, alice, "<iq type='get' id='g'><query xmlns='jabber:iq:roster'/></iq>")
    expect(
        t,
        alice,
        "<iq type='result' id='g' from='alice@localhost' to='alice@localhost/phone'>"
        "<query xmlns='jabber:iq:roster' ver='*'><item jid='bob@localhost' name='Bob'"
        " subscription='none'><group>G</group></item></query></iq>",
    )


async def test_api_contains_and_get_item(server: Server) -> None:
    alice = await interested(server, "alice@localhost/phone")
    await send(
        server,
        alice,
        "<iq type='set' id='s'><query xmlns='jabber:iq:roster'><item jid='bob@localhost' name='B'/>"
        "</query></iq>",
    )
    roster = api(server)
    assert await roster.contains("alice", "bob@localhost")
    assert not await roster.contains("alice", "carol@localhost")
    assert not await roster.contains("nobody", "bob@localhost")
    assert await roster.get_item("alice", "bob@localhost") == RosterItem("bob@localhost", "B")


async def test_user_deleted_removes_the_roster(server: Server) -> None:
    t = Transcript()
    alice = await interested(server, "alice@localhost/phone")
    bob = await interested(server, "bob@localhost/pc")
    await send(server, alice, "<presence to='bob@localhost' type='subscribe'/>")
    await send(server, bob, "<presence to='alice@localhost' type='subscribed'/>")
    bob.take()
    await server.accounts.delete("alice@localhost")
    assert await server.storage.keyval.get("localhost", "alice", "roster") is None
    # Bob's roster does not keep a subscription from an account that is gone.
    expect(
        t,
        bob,
        "<iq type='set' id='*' to='bob@localhost/pc'><query xmlns='jabber:iq:roster' ver='*'>"
        "<item jid='alice@localhost' subscription='none'/></query></iq>",
        "<presence type='unsubscribe' from='alice@localhost' to='bob@localhost'/>",
    )
    assert not await api(server).contains("alice", "bob@localhost")
