"""The archive end to end over TCP with slixmpp's own MAM (XEP-0313) and MAM preferences
(XEP-0441) plugins: two clients exchange 30 messages, slixmpp pages through the archive in
both directions, and preferences set through slixmpp take effect for the next message."""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any

import pytest
import slixmpp
from slixmpp import JID

from tests.integration.conftest import RunningServer

pytestmark = [
    pytest.mark.integration,
    pytest.mark.server_config('modules_enabled = ["disco", "ping", "mam"]'),
]

PLUGINS = ("xep_0030", "xep_0199", "xep_0059", "xep_0313", "xep_0441")
N = 30
ALICE = JID("alice@localhost")


class Inbox:
    """Chat messages a client received, awaitable one by one."""

    def __init__(self, xmpp: slixmpp.ClientXMPP) -> None:
        self.queue: asyncio.Queue[slixmpp.Message] = asyncio.Queue()
        xmpp.add_event_handler("message", self._on_message)

    def _on_message(self, msg: slixmpp.Message) -> None:
        if msg["type"] in ("chat", "normal") and msg["body"]:
            self.queue.put_nowait(msg)

    async def next(self) -> slixmpp.Message:
        return await asyncio.wait_for(self.queue.get(), 15)  # generous: only a failure waits


async def two_clients(
    xmpp_server: RunningServer,
) -> tuple[slixmpp.ClientXMPP, slixmpp.ClientXMPP, Inbox, Inbox]:
    await xmpp_server.adduser("alice@localhost", "pw-a")
    await xmpp_server.adduser("bob@localhost", "pw-b")
    alice = await xmpp_server.client("alice@localhost/laptop", "pw-a", plugins=PLUGINS)
    bob = await xmpp_server.client("bob@localhost/phone", "pw-b", plugins=PLUGINS)
    return alice, bob, Inbox(alice), Inbox(bob)


async def converse(
    alice: slixmpp.ClientXMPP, bob: slixmpp.ClientXMPP, alice_in: Inbox, bob_in: Inbox
) -> list[str]:
    """Alternate 30 messages; each is awaited at its recipient, so it is archived (archiving
    comes before delivery) and the archive order is the sending order."""
    bodies = []
    for n in range(N):
        body = f"message {n:02d} {'ab'[n % 2]} \U0001f426"
        if n % 2 == 0:
            alice.send_message(mto=JID("bob@localhost"), mbody=body, mtype="chat")
            got = await bob_in.next()
        else:
            bob.send_message(mto=JID("alice@localhost/laptop"), mbody=body, mtype="chat")
            got = await alice_in.next()
        assert got["body"] == body
        bodies.append(body)
    return bodies


def body_of(result: slixmpp.Message) -> str:
    return str(result["mam_result"]["forwarded"]["stanza"]["body"])


def archive_id(result: slixmpp.Message) -> str:
    return str(result["mam_result"]["id"])


async def walk(alice: slixmpp.ClientXMPP, *, reverse: bool, max_: int) -> list[slixmpp.Message]:
    return [
        result
        async for result in alice.plugin["xep_0313"].iterate(
            jid=ALICE, reverse=reverse, rsm={"max": max_}
        )
    ]


async def test_thirty_messages_paged_both_ways(xmpp_server: RunningServer) -> None:
    assert "sql" in xmpp_server.server.storage.extra  # the archive is in SQLite here
    alice, bob, alice_in, bob_in = await two_clients(xmpp_server)
    bodies = await converse(alice, bob, alice_in, bob_in)

    # retrieve: one query for everything (30 fits the server's cap of 50).
    iq = await alice.plugin["xep_0313"].retrieve(jid=ALICE, rsm={"max": 50}, timeout=10)
    results = iq["mam"]["results"]
    assert [body_of(r) for r in results] == bodies
    assert iq["mam_fin"]["complete"] in (True, "true")
    ids = [archive_id(r) for r in results]
    assert len(set(ids)) == N
    assert iq["mam_fin"]["rsm"]["first"] == ids[0] and iq["mam_fin"]["rsm"]["last"] == ids[-1]
    assert int(iq["mam_fin"]["rsm"]["count"]) == N

    # Forwards, 7 at a time: slixmpp follows <last/> and stops on index + items == count.
    forward = await walk(alice, reverse=False, max_=7)
    assert [body_of(r) for r in forward] == bodies
    assert [archive_id(r) for r in forward] == ids

    # Backwards from the newest page with a page that divides the archive evenly.
    # (slixmpp applies its forward-only stop rule, index + items == count, to backward pages
    # too, so with <count/> on it stops after the newest page; see the test below.)
    backward = await walk(alice, reverse=True, max_=N)
    assert [body_of(r) for r in backward] == list(reversed(bodies))

    # The same archive seen from Bob's side: his own copies, his own ids.
    bob_iq = await bob.plugin["xep_0313"].retrieve(
        jid=JID("bob@localhost"), rsm={"max": 50}, timeout=10
    )
    bob_results = bob_iq["mam"]["results"]
    assert [body_of(r) for r in bob_results] == bodies
    assert not {archive_id(r) for r in bob_results} & set(ids)

    # Filtered with slixmpp's own form: Bob's messages to Alice since the 20th message.
    stamps = [r["mam_result"]["forwarded"]["delay"]["stamp"] for r in results]
    assert all(isinstance(stamp, datetime) for stamp in stamps)  # parsed by slixmpp
    iq = await alice.plugin["xep_0313"].retrieve(
        jid=ALICE, with_jid=JID("bob@localhost"), start=stamps[20], rsm={"max": 50}, timeout=10
    )
    # Archive times have millisecond precision, so a neighbour in the same millisecond as
    # message 20 matches too; start is inclusive.
    since = [b for b, stamp in zip(bodies, stamps, strict=True) if stamp >= stamps[20]]
    assert bodies[20:] == since[-10:]
    assert [body_of(r) for r in iq["mam"]["results"]] == since


@pytest.mark.server_config("mam_include_total = false")
async def test_reverse_iteration_without_totals(xmpp_server: RunningServer) -> None:
    # Without <count/>/<first index/>, slixmpp pages backwards until an empty page (which our
    # server answers with complete='true' and no <first/>/<last/>): all 30, newest first, even
    # with a page size that leaves a short oldest page.
    alice, bob, alice_in, bob_in = await two_clients(xmpp_server)
    bodies = await converse(alice, bob, alice_in, bob_in)
    backward = await walk(alice, reverse=True, max_=7)
    assert [body_of(r) for r in backward] == list(reversed(bodies))
    forward = await walk(alice, reverse=False, max_=7)
    assert [body_of(r) for r in forward] == bodies


async def test_preferences_through_xep_0441(xmpp_server: RunningServer) -> None:
    alice, bob, alice_in, _ = await two_clients(xmpp_server)
    prefs: Any = alice.plugin["xep_0441"]
    default, always, never = await prefs.get_preferences(timeout=10)
    assert (default, list(always), list(never)) == ("always", [], [])

    reply = await prefs.set_preferences(
        default="always", always=[], never=[JID("bob@localhost")], timeout=10
    )
    assert reply["mam_prefs"]["default"] == "always"
    assert [str(j) for j in reply["mam_prefs"]["never"]] == ["bob@localhost"]
    default, always, never = await prefs.get_preferences(timeout=10)
    assert (default, [str(j) for j in never]) == ("always", ["bob@localhost"])

    bob.send_message(mto=JID("alice@localhost"), mbody="not for the archive", mtype="chat")
    assert (await alice_in.next())["body"] == "not for the archive"
    iq = await alice.plugin["xep_0313"].retrieve(jid=ALICE, timeout=10)
    assert iq["mam"]["results"] == []

    await prefs.set_preferences(
        default="never", always=[JID("bob@localhost")], never=[], timeout=10
    )
    bob.send_message(mto=JID("alice@localhost"), mbody="kept", mtype="chat")
    assert (await alice_in.next())["body"] == "kept"
    iq = await alice.plugin["xep_0313"].retrieve(jid=ALICE, timeout=10)
    assert [body_of(r) for r in iq["mam"]["results"]] == ["kept"]
