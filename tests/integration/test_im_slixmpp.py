"""Instant messaging end to end over TCP with slixmpp, on the default module set: two users
subscribe to each other, see each other come and go, chat, get messages kept while offline,
a second resource gets carbons, and blocking works (RFC 6121, XEP-0160, XEP-0280, XEP-0191)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest
import slixmpp
from slixmpp import JID

from tests.integration.conftest import RunningServer

pytestmark = pytest.mark.integration

ALICE = JID("alice@localhost")
BOB = JID("bob@localhost")
HOST = JID("localhost")

PLUGINS = ("xep_0030", "xep_0199", "xep_0203", "xep_0280", "xep_0191")
TIMEOUT = 5.0


class Events:
    """Stanzas a client got for one slixmpp event, awaitable one by one, optionally filtered."""

    def __init__(
        self, xmpp: slixmpp.ClientXMPP, event: str, keep: Callable[[Any], bool] = bool
    ) -> None:
        self.queue: asyncio.Queue[Any] = asyncio.Queue()
        self.keep = keep
        xmpp.add_event_handler(event, self._on)

    def _on(self, stanza: Any) -> None:
        if self.keep(stanza):
            self.queue.put_nowait(stanza)

    async def next(self) -> Any:
        return await asyncio.wait_for(self.queue.get(), TIMEOUT)

    def empty(self) -> bool:
        return self.queue.empty()


def chats(xmpp: slixmpp.ClientXMPP) -> Events:
    return Events(xmpp, "message", lambda m: m["type"] in ("chat", "normal") and bool(m["body"]))


def errors(xmpp: slixmpp.ClientXMPP) -> Events:
    return Events(xmpp, "message_error")


async def until(condition: Callable[[], bool], what: str) -> None:
    for _ in range(int(TIMEOUT / 0.05)):
        if condition():
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


async def connect(
    xmpp_server: RunningServer, jid: str, password: str, *, presence: bool = True
) -> slixmpp.ClientXMPP:
    client = await xmpp_server.client(jid, password, plugins=PLUGINS, presence=False)
    await client.get_roster()  # an interested resource: it gets roster pushes
    if presence:
        client.send_presence()
    return client


def subscription(client: slixmpp.ClientXMPP, contact: str) -> str:
    roster = client.client_roster
    return str(roster[contact]["subscription"]) if contact in roster else "none"


async def friends(xmpp_server: RunningServer) -> tuple[slixmpp.ClientXMPP, slixmpp.ClientXMPP]:
    """Alice and Bob, online, subscribed to each other through slixmpp's own roster logic."""
    await xmpp_server.adduser("alice@localhost", "pw-a")
    await xmpp_server.adduser("bob@localhost", "pw-b")
    alice = await connect(xmpp_server, "alice@localhost/laptop", "pw-a")
    bob = await connect(xmpp_server, "bob@localhost/phone", "pw-b")
    # slixmpp accepts requests and asks back by default (auto_authorize, auto_subscribe).
    alice.send_presence_subscription(pto=BOB)
    await until(
        lambda: (
            subscription(alice, "bob@localhost") == "both"
            and subscription(bob, "alice@localhost") == "both"
        ),
        "a mutual subscription",
    )
    await until(
        lambda: bool(alice.client_roster.presence(BOB)) and bool(bob.client_roster.presence(ALICE)),
        "presence both ways",
    )
    return alice, bob


async def test_subscribe_see_presence_and_chat(xmpp_server: RunningServer) -> None:
    alice, bob = await friends(xmpp_server)
    assert "phone" in alice.client_roster.presence(BOB)
    # Chat both ways.
    alice_in, bob_in = chats(alice), chats(bob)
    alice.send_message(mto=BOB, mbody="hello bob", mtype="chat")
    got = await bob_in.next()
    assert (got["body"], str(got["from"])) == ("hello bob", "alice@localhost/laptop")
    bob.send_message(mto=got["from"], mbody="hello alice", mtype="chat")
    assert (await alice_in.next())["body"] == "hello alice"
    # Presence changes reach the subscriber.
    changes = Events(alice, "changed_status", lambda p: p["from"].bare == "bob@localhost")
    bob.send_presence(pshow="away", pstatus="lunch")
    change = await changes.next()
    assert (change["show"], change["status"]) == ("away", "lunch")
    # And Bob leaving is seen.
    gone = Events(alice, "got_offline", lambda p: p["from"].bare == "bob@localhost")
    await bob.disconnect()
    await gone.next()
    assert not alice.client_roster.presence(BOB)


async def test_offline_messages_arrive_with_delay(xmpp_server: RunningServer) -> None:
    alice, bob = await friends(xmpp_server)
    gone = Events(alice, "got_offline", lambda p: p["from"].bare == "bob@localhost")
    await bob.disconnect()
    await gone.next()
    alice_errors = errors(alice)
    for n in range(3):
        alice.send_message(mto=BOB, mbody=f"while you were away {n}", mtype="chat")
    await alice.plugin["xep_0199"].ping(jid=HOST, timeout=TIMEOUT)  # all were processed
    assert alice_errors.empty()
    bob = await connect(xmpp_server, "bob@localhost/phone", "pw-b", presence=False)
    bob_in = chats(bob)
    bob.send_presence()
    received = [await bob_in.next() for _ in range(3)]
    assert [m["body"] for m in received] == [f"while you were away {n}" for n in range(3)]
    for message in received:
        assert message["delay"]["from"] == "localhost"
        assert message["delay"]["stamp"] is not None


async def test_second_resource_gets_carbons(xmpp_server: RunningServer) -> None:
    alice, bob = await friends(xmpp_server)
    tablet = await connect(xmpp_server, "alice@localhost/tablet", "pw-a")
    await tablet.plugin["xep_0280"].enable()
    received = Events(tablet, "carbon_received")
    sent = Events(tablet, "carbon_sent")
    tablet_in, laptop_in, bob_in = chats(tablet), chats(alice), chats(bob)
    # To the laptop's full JID: the tablet gets a <received/> copy.
    bob.send_message(mto=JID("alice@localhost/laptop"), mbody="for the laptop", mtype="chat")
    assert (await laptop_in.next())["body"] == "for the laptop"
    copy = await received.next()
    assert copy["carbon_received"]["body"] == "for the laptop"
    assert str(copy["carbon_received"]["to"]) == "alice@localhost/laptop"
    # What the laptop sends: the tablet gets a <sent/> copy.
    alice.send_message(mto=BOB, mbody="from the laptop", mtype="chat")
    assert (await bob_in.next())["body"] == "from the laptop"
    copy = await sent.next()
    assert copy["carbon_sent"]["body"] == "from the laptop"
    assert tablet_in.empty()  # copies are not plain messages


async def test_blocking(xmpp_server: RunningServer) -> None:
    alice, bob = await friends(xmpp_server)
    gone = Events(alice, "got_offline", lambda p: p["from"].bare == "bob@localhost")
    await bob.plugin["xep_0191"].block(ALICE)
    # XEP-0191 3.3: Alice, subscribed to Bob, sees him go.
    await gone.next()
    blocked = await bob.plugin["xep_0191"].get_blocked_jids()
    assert {str(j) for j in blocked} == {"alice@localhost"}
    # Alice's messages are refused as if Bob did not exist ...
    alice_errors, bob_errors, bob_in = errors(alice), errors(bob), chats(bob)
    alice.send_message(mto=BOB, mbody="are you there?", mtype="chat")
    error = await alice_errors.next()
    assert error["error"]["condition"] == "service-unavailable"
    assert bob_in.empty()
    # ... and Bob cannot write to her.
    bob.send_message(mto=ALICE, mbody="hi", mtype="chat")
    error = await bob_errors.next()
    assert error["error"]["condition"] == "not-acceptable"
    # Unblocking restores both.
    back = Events(alice, "got_online", lambda p: p["from"].bare == "bob@localhost")
    await bob.plugin["xep_0191"].unblock(ALICE)
    await back.next()
    alice.send_message(mto=BOB, mbody="hello again", mtype="chat")
    assert (await bob_in.next())["body"] == "hello again"
