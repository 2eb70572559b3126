"""RFC 6121 sections 3 and 4: subscriptions, initial presence, probes, broadcasts, directed and
unavailable presence, priorities, pre-approval."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from garrulus.core.event_types import FeaturesEvent
from garrulus.core.routes import STREAM_FEATURES
from garrulus.core.server import Server
from garrulus.modules.roster import RosterAPI, Subscription
from garrulus.xmpp.xml import to_xml
from tests.harness import FakeSession, Transcript, expect, login, logout, send, start_server

MODULES = ["disco", "roster", "presence", "message"]
ROSTER_GET = "<iq type='get' id='rg'><query xmlns='jabber:iq:roster'/></iq>"


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[Server]:
    server = await start_server(tmp_path, modules=MODULES)
    yield server
    await server.stop()


def push(to: str, item: str) -> str:
    return (
        f"<iq type='set' id='*' to='{to}'><query xmlns='jabber:iq:roster' ver='*'>{item}</query>"
        "</iq>"
    )


async def online(server: Server, jid: str, presence: str = "<presence/>") -> FakeSession:
    """A resource that fetched the roster and sent initial presence; its inbox emptied."""
    session = await login(server, jid)
    await send(server, session, ROSTER_GET)
    await send(server, session, presence)
    session.take()
    return session


async def subscribe(server: Server, a: FakeSession, b: FakeSession) -> None:
    """``a`` subscribes to ``b``'s presence and ``b`` approves; inboxes emptied."""
    await send(server, a, f"<presence type='subscribe' to='{b.jid.bare}'/>")
    await send(server, b, f"<presence type='subscribed' to='{a.jid.bare}'/>")
    a.take()
    b.take()


async def item(server: Server, owner: str, contact: str) -> tuple[Subscription, bool] | None:
    roster: RosterAPI = server.hosts["localhost"].modules["roster"].api
    found = await roster.get_item(owner, contact)
    return None if found is None else (found.subscription, found.ask)


async def test_initial_presence_is_echoed_and_makes_the_session_available(server: Server) -> None:
    t = Transcript()
    phone = await login(server, "alice@localhost/phone")
    assert not phone.available
    await send(server, phone, "<presence><priority>3</priority><show>chat</show></presence>")
    expect(
        t,
        phone,
        "<presence from='alice@localhost/phone' to='alice@localhost/phone'>"
        "<priority>3</priority><show>chat</show></presence>",
    )
    assert phone.available and phone.priority == 3
    laptop = await login(server, "alice@localhost/laptop")
    await send(server, laptop, "<presence/>")
    # RFC 6121 4.2.2 and 4.4.2: every available resource hears; the new one hears the others.
    expect(
        t,
        laptop,
        "<presence from='alice@localhost/laptop' to='alice@localhost/laptop'/>",
        "<presence from='alice@localhost/phone' to='alice@localhost/laptop'>"
        "<priority>3</priority><show>chat</show></presence>",
    )
    expect(t, phone, "<presence from='alice@localhost/laptop' to='alice@localhost/phone'/>")
    await send(server, phone, "<presence type='unavailable'/>")
    assert not phone.available
    expect(t, phone, "<presence type='unavailable' from='alice@localhost/phone' to='*'/>")
    expect(t, laptop, "<presence type='unavailable' from='alice@localhost/phone' to='*'/>")


async def test_subscription_handshake(server: Server) -> None:
    """RFC 6121 3.1: request, approval, roster pushes on both sides, presence follows."""
    t = Transcript()
    alice = await online(server, "alice@localhost/phone")
    bob = await online(server, "bob@localhost/pc", "<presence><status>here</status></presence>")
    await send(server, alice, "<presence type='subscribe' to='Bob@localhost/elsewhere' id='s1'/>")
    expect(
        t,
        alice,
        push(
            "alice@localhost/phone",
            "<item jid='bob@localhost' subscription='none' ask='subscribe'/>",
        ),
    )
    # Stamped with bare JIDs; no roster item for Bob until he answers (RFC 6121 3.1.3).
    expect(t, bob, "<presence type='subscribe' id='s1' from='alice@localhost' to='bob@localhost'/>")
    assert await item(server, "bob", "alice@localhost") is None
    await send(server, bob, "<presence type='subscribed' to='alice@localhost'/>")
    expect(
        t,
        bob,
        push("bob@localhost/pc", "<item jid='alice@localhost' subscription='from'/>"),
    )
    expect(
        t,
        alice,
        push("alice@localhost/phone", "<item jid='bob@localhost' subscription='to'/>"),
        "<presence type='subscribed' from='bob@localhost' to='alice@localhost'/>",
        # RFC 6121 3.1.5: Bob's server sends his current presence at once.
        "<presence from='bob@localhost/pc' to='alice@localhost'><status>here</status></presence>",
    )
    assert await item(server, "alice", "bob@localhost") == (Subscription.TO, False)
    # And the other way round makes it 'both'.
    await subscribe(server, bob, alice)
    assert await item(server, "alice", "bob@localhost") == (Subscription.BOTH, False)
    assert await item(server, "bob", "alice@localhost") == (Subscription.BOTH, False)
    # Broadcasts now reach the subscriber.
    await send(server, alice, "<presence><show>away</show></presence>")
    expect(
        t,
        bob,
        "<presence from='alice@localhost/phone' to='bob@localhost'><show>away</show></presence>",
    )


async def test_request_to_an_offline_user_waits_for_their_login(server: Server) -> None:
    t = Transcript()
    alice = await online(server, "alice@localhost/phone")
    await login(server, "bob@localhost/old")  # an account exists, Bob is not available
    await send(
        server,
        alice,
        "<presence type='subscribe' to='bob@localhost'><status>hi</status></presence>",
    )
    bob = await login(server, "bob@localhost/pc")
    await send(server, bob, "<presence/>")
    expect(
        t,
        bob,
        "<presence from='bob@localhost/pc' to='bob@localhost/pc'/>",
        "<presence type='subscribe' from='alice@localhost' to='bob@localhost'><status>hi</status>"
        "</presence>",
    )
    # Still pending: delivered again at the next login until answered.
    await send(server, bob, "<presence type='unsubscribed' to='alice@localhost'/>")
    other = await login(server, "bob@localhost/tablet")
    await send(server, other, "<presence/>")
    got = [e.get("type") for e in other.take()]
    assert "subscribe" not in got


async def test_probes_at_initial_presence(server: Server) -> None:
    """RFC 6121 4.2.2, 4.3.2: the new resource learns its contacts' presence."""
    t = Transcript()
    alice = await online(server, "alice@localhost/phone")
    bob = await online(server, "bob@localhost/pc", "<presence><show>dnd</show></presence>")
    carol = await online(server, "carol@localhost/pc")
    await subscribe(server, alice, bob)
    await subscribe(server, alice, carol)
    await logout(carol)
    alice.take()
    laptop = await login(server, "alice@localhost/laptop")
    await send(server, laptop, "<presence/>")
    expect(
        t,
        laptop,
        "<presence from='alice@localhost/laptop' to='alice@localhost/laptop'/>",
        "<presence from='alice@localhost/phone' to='alice@localhost/laptop'/>",
        "<presence from='bob@localhost/pc' to='alice@localhost/laptop'><show>dnd</show></presence>",
        # A contact with no available resource answers with unavailable from the bare JID.
        "<presence type='unavailable' from='carol@localhost' to='alice@localhost/laptop'/>",
    )
    # The probes' answers went to the probing resource only.
    expect(t, alice, "<presence from='alice@localhost/laptop' to='alice@localhost/phone'/>")


async def test_probe_from_a_non_subscriber_reveals_nothing(server: Server) -> None:
    t = Transcript()
    mallory = await online(server, "mallory@localhost/x")
    await online(server, "bob@localhost/pc")
    await send(server, mallory, "<presence type='probe' to='bob@localhost'/>")
    # Bob's server answers 'unsubscribed', which Mallory's side ignores in state None.
    expect(t, mallory)


async def test_probe_answer_repairs_an_out_of_sync_roster(server: Server) -> None:
    """RFC 6121 4.3.2: Bob's roster lost Alice's subscription; her login probe learns it."""
    t = Transcript()
    alice = await online(server, "alice@localhost/phone")
    bob = await online(server, "bob@localhost/pc")
    await subscribe(server, alice, bob)
    roster: RosterAPI = server.hosts["localhost"].modules["roster"].api
    await roster.update_subscription(
        "bob",
        "alice@localhost",
        subscription=Subscription.NONE,
        ask=False,
        approved=False,
        pending_in=False,
    )
    bob.take()
    laptop = await login(server, "alice@localhost/laptop")
    await send(server, laptop, ROSTER_GET)
    laptop.take()
    await send(server, laptop, "<presence/>")
    expect(
        t,
        laptop,
        "<presence from='alice@localhost/laptop' to='alice@localhost/laptop'/>",
        "<presence from='alice@localhost/phone' to='alice@localhost/laptop'/>",
        push("alice@localhost/laptop", "<item jid='bob@localhost' subscription='none'/>"),
        "<presence type='unsubscribed' from='bob@localhost' to='alice@localhost'/>",
    )
    assert await item(server, "alice", "bob@localhost") == (Subscription.NONE, False)


async def test_unavailable_when_the_connection_drops(server: Server) -> None:
    t = Transcript()
    alice = await online(server, "alice@localhost/phone")
    laptop = await online(server, "alice@localhost/laptop")
    bob = await online(server, "bob@localhost/pc")
    await subscribe(server, bob, alice)
    laptop.take()
    await logout(alice)
    expect(t, bob, "<presence type='unavailable' from='alice@localhost/phone' to='bob@localhost'/>")
    expect(
        t,
        laptop,
        "<presence type='unavailable' from='alice@localhost/phone' to='alice@localhost/laptop'/>",
    )


async def test_negative_priority_still_gets_presence(server: Server) -> None:
    t = Transcript()
    alice = await online(
        server, "alice@localhost/bot", "<presence><priority>-5</priority></presence>"
    )
    bob = await online(server, "bob@localhost/pc")
    await subscribe(server, alice, bob)
    await send(server, bob, "<presence><show>xa</show></presence>")
    expect(
        t,
        alice,
        "<presence from='bob@localhost/pc' to='alice@localhost'><show>xa</show></presence>",
    )
    assert alice.priority == -5


async def test_directed_presence_and_its_unavailable(server: Server) -> None:
    """RFC 6121 4.6: directed presence reaches a non-contact, who learns when we leave."""
    t = Transcript()
    alice = await online(server, "alice@localhost/phone")
    room = await online(server, "dave@localhost/pc")
    await send(server, alice, "<presence to='dave@localhost/pc'><status>hello</status></presence>")
    expect(
        t,
        room,
        "<presence from='alice@localhost/phone' to='dave@localhost/pc'>"
        "<status>hello</status></presence>",
    )
    # Later broadcasts are for subscribers only.
    await send(server, alice, "<presence><show>away</show></presence>")
    expect(t, room)
    await logout(alice)
    expect(
        t,
        room,
        "<presence type='unavailable' from='alice@localhost/phone' to='dave@localhost/pc'/>",
    )


async def test_directed_unavailable_ends_tracking(server: Server) -> None:
    t = Transcript()
    alice = await online(server, "alice@localhost/phone")
    dave = await online(server, "dave@localhost/pc")
    await send(server, alice, "<presence to='dave@localhost'/>")
    await send(server, alice, "<presence type='unavailable' to='dave@localhost'/>")
    expect(
        t,
        dave,
        "<presence from='alice@localhost/phone' to='dave@localhost'/>",
        "<presence type='unavailable' from='alice@localhost/phone' to='dave@localhost'/>",
    )
    await logout(alice)
    expect(t, dave)


async def test_unsubscribe_and_unsubscribed(server: Server) -> None:
    """RFC 6121 3.2, 3.3: presence stops flowing and the other side sees the user leave."""
    t = Transcript()
    alice = await online(server, "alice@localhost/phone")
    bob = await online(server, "bob@localhost/pc")
    await subscribe(server, alice, bob)
    await subscribe(server, bob, alice)
    # Alice no longer wants Bob's presence.
    await send(server, alice, "<presence type='unsubscribe' to='bob@localhost'/>")
    expect(
        t,
        alice,
        push("alice@localhost/phone", "<item jid='bob@localhost' subscription='from'/>"),
        "<presence type='unavailable' from='bob@localhost/pc' to='alice@localhost'/>",
    )
    expect(
        t,
        bob,
        push("bob@localhost/pc", "<item jid='alice@localhost' subscription='to'/>"),
        "<presence type='unsubscribe' from='alice@localhost' to='bob@localhost'/>",
    )
    # Alice withdraws Bob's subscription to her presence.
    await send(server, alice, "<presence type='unsubscribed' to='bob@localhost'/>")
    expect(
        t, alice, push("alice@localhost/phone", "<item jid='bob@localhost' subscription='none'/>")
    )
    expect(
        t,
        bob,
        push("bob@localhost/pc", "<item jid='alice@localhost' subscription='none'/>"),
        "<presence type='unsubscribed' from='alice@localhost' to='bob@localhost'/>",
        "<presence type='unavailable' from='alice@localhost/phone' to='bob@localhost'/>",
    )
    # Nothing is routed once there is nothing to cancel (RFC 6121 A.2.4).
    await send(server, alice, "<presence type='unsubscribed' to='bob@localhost'/>")
    expect(t, bob)


async def test_refusing_a_request(server: Server) -> None:
    t = Transcript()
    alice = await online(server, "alice@localhost/phone")
    bob = await online(server, "bob@localhost/pc")
    await send(server, alice, "<presence type='subscribe' to='bob@localhost'/>")
    bob.take()
    alice.take()
    await send(server, bob, "<presence type='unsubscribed' to='alice@localhost'/>")
    expect(t, bob)  # no item was ever created on Bob's side
    expect(
        t,
        alice,
        push("alice@localhost/phone", "<item jid='bob@localhost' subscription='none'/>"),
        "<presence type='unsubscribed' from='bob@localhost' to='alice@localhost'/>",
    )


async def test_request_from_a_subscriber_is_answered_by_the_server(server: Server) -> None:
    """RFC 6121 3.1.3: the requester's server lost track; ours confirms and sends presence."""
    t = Transcript()
    alice = await online(server, "alice@localhost/phone")
    bob = await online(server, "bob@localhost/pc")
    await subscribe(server, alice, bob)
    await send(server, alice, "<presence type='subscribe' to='bob@localhost'/>")
    expect(t, bob)
    # The automatic 'subscribed' changes nothing on Alice's side (state To, RFC 6121 A.3.3),
    # so only Bob's presence, sent again, reaches her.
    expect(t, alice, "<presence from='bob@localhost/pc' to='alice@localhost'/>")


async def test_request_to_a_missing_account_is_refused(server: Server) -> None:
    t = Transcript()
    alice = await online(server, "alice@localhost/phone")
    await send(server, alice, "<presence type='subscribe' to='ghost@localhost'/>")
    expect(
        t,
        alice,
        push(
            "alice@localhost/phone",
            "<item jid='ghost@localhost' subscription='none' ask='subscribe'/>",
        ),
        push("alice@localhost/phone", "<item jid='ghost@localhost' subscription='none'/>"),
        "<presence type='unsubscribed' from='ghost@localhost' to='alice@localhost'/>",
    )


async def test_presence_to_a_missing_account_is_dropped(server: Server) -> None:
    """RFC 6121 8.5.1: no error for presence."""
    t = Transcript()
    alice = await online(server, "alice@localhost/phone")
    await send(server, alice, "<presence to='ghost@localhost/x'/>")
    await send(server, alice, "<presence to='ghost@localhost'/>")
    expect(t, alice)


async def test_pre_approval(server: Server) -> None:
    """RFC 6121 3.4: Alice approves Bob before he asks; his request is accepted at once."""
    t = Transcript()
    alice = await online(server, "alice@localhost/phone")
    bob = await online(server, "bob@localhost/pc")
    await send(server, alice, "<presence type='subscribed' to='bob@localhost'/>")
    expect(
        t,
        alice,
        push(
            "alice@localhost/phone",
            "<item jid='bob@localhost' subscription='none' approved='true'/>",
        ),
    )
    expect(t, bob)  # not routed
    await send(server, bob, "<presence type='subscribe' to='alice@localhost'/>")
    expect(
        t,
        alice,
        push("alice@localhost/phone", "<item jid='bob@localhost' subscription='from'/>"),
    )
    expect(
        t,
        bob,
        push(
            "bob@localhost/pc", "<item jid='alice@localhost' subscription='none' ask='subscribe'/>"
        ),
        push("bob@localhost/pc", "<item jid='alice@localhost' subscription='to'/>"),
        "<presence type='subscribed' from='alice@localhost' to='bob@localhost'/>",
        "<presence from='alice@localhost/phone' to='bob@localhost'/>",
    )


async def test_stream_feature_pre_approval(server: Server) -> None:
    host = server.hosts["localhost"]
    event = FeaturesEvent(host, bound=False)
    host.events.fire_sync(STREAM_FEATURES, event)
    assert "<sub xmlns='urn:xmpp:features:pre-approval'/>" in [
        to_xml(f, "") for f in event.features
    ]


async def test_contacts_on_another_host(server: Server) -> None:
    t = Transcript()
    alice = await online(server, "alice@localhost/phone")
    erin = await online(server, "erin@example.org/pc")
    await send(server, alice, "<presence type='subscribe' to='erin@example.org'/>")
    expect(t, erin, "<presence type='subscribe' from='alice@localhost' to='erin@example.org'/>")
    await send(server, erin, "<presence type='subscribed' to='alice@localhost'/>")
    alice.take()
    await send(server, erin, "<presence><show>chat</show></presence>")
    expect(
        t,
        alice,
        "<presence from='erin@example.org/pc' to='alice@localhost'><show>chat</show></presence>",
    )


async def test_unknown_presence_type_is_refused(server: Server) -> None:
    t = Transcript()
    alice = await online(server, "alice@localhost/phone")
    await send(server, alice, "<presence type='bogus' to='bob@localhost'/>")
    expect(
        t,
        alice,
        "<presence type='error' from='bob@localhost' to='alice@localhost/phone'>"
        "<error type='modify'><bad-request xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/>"
        "<text xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'>*</text></error></presence>",
    )
