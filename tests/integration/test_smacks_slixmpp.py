"""Issue 3 point 7: a slixmpp client with stream management loses its TCP connection in the middle
of a conversation, resumes, and receives exactly the messages sent while it was away."""

from __future__ import annotations

import asyncio
import ssl

import pytest
import slixmpp

from garrulus.xmpp.jid import parse_jid
from tests.integration.conftest import RunningServer

pytestmark = pytest.mark.integration


async def _event(xmpp: slixmpp.ClientXMPP, name: str, timeout: float = 10.0) -> None:
    fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    xmpp.add_event_handler(name, lambda _e: fut.done() or fut.set_result(None), disposable=True)
    await asyncio.wait_for(fut, timeout)


async def test_resume_delivers_exactly_what_was_missed(xmpp_server: RunningServer) -> None:
    await xmpp_server.adduser("alice@localhost", "pw")
    await xmpp_server.adduser("bob@localhost", "pw")
    alice = await xmpp_server.client("alice@localhost/a", "pw")

    bob = slixmpp.ClientXMPP("bob@localhost/phone", "pw")
    bob.ssl_context.check_hostname = False
    bob.ssl_context.verify_mode = ssl.CERT_NONE
    bob.use_aiodns = False
    bob.use_ipv6 = False
    bob.enable_direct_tls = False
    bob.register_plugin("xep_0198")
    bob.add_event_handler("session_start", lambda _e: bob.send_presence())
    bodies: list[str] = []
    bob.add_event_handler("message", lambda m: m["body"] and bodies.append(m["body"]))
    enabled = _event(bob, "sm_enabled")
    bob.connect("127.0.0.1", xmpp_server.port)
    await enabled

    async def say(body: str) -> None:
        alice.send_message(mto="bob@localhost/phone", mbody=body, mtype="chat")

    await say("one")
    await say("two")
    for _ in range(100):
        if len(bodies) == 2:
            break
        await asyncio.sleep(0.05)
    assert bodies == ["one", "two"]
    await asyncio.sleep(0.3)  # let bob's acks reach the server

    # The TCP connection dies without a closing stream: the server must keep the session.
    session = xmpp_server.server.hosts["localhost"].session(parse_jid("bob@localhost/phone"))
    assert session is not None
    bob.transport.abort()
    for _ in range(100):
        if getattr(session, "hibernating", False):
            break
        await asyncio.sleep(0.05)
    assert session.hibernating  # type: ignore[attr-defined]

    await say("three")
    await say("four")
    await asyncio.sleep(0.3)
    assert bodies == ["one", "two"]

    resumed = _event(bob, "session_resumed")
    bob.connect("127.0.0.1", xmpp_server.port)
    await resumed
    for _ in range(100):
        if len(bodies) >= 4:
            break
        await asyncio.sleep(0.05)
    await asyncio.sleep(0.3)
    assert bodies == ["one", "two", "three", "four"]  # nothing lost, nothing twice

    # The resumed session is the live one: new messages flow.
    await say("five")
    for _ in range(100):
        if len(bodies) == 5:
            break
        await asyncio.sleep(0.05)
    assert bodies[-1] == "five"
    bob.disconnect()


@pytest.mark.server_config("smacks_hibernation_time = 1")
async def test_unacked_messages_go_offline_after_hibernation(xmpp_server: RunningServer) -> None:
    await xmpp_server.adduser("alice@localhost", "pw")
    await xmpp_server.adduser("bob@localhost", "pw")
    alice = await xmpp_server.client("alice@localhost/a", "pw")
    bob = slixmpp.ClientXMPP("bob@localhost/phone", "pw")
    bob.ssl_context.check_hostname = False
    bob.ssl_context.verify_mode = ssl.CERT_NONE
    bob.use_aiodns = False
    bob.use_ipv6 = False
    bob.register_plugin("xep_0198")
    bob.add_event_handler("session_start", lambda _e: bob.send_presence())
    enabled = _event(bob, "sm_enabled")
    bob.connect("127.0.0.1", xmpp_server.port)
    await enabled
    await asyncio.sleep(0.2)
    bob.transport.abort()
    await asyncio.sleep(0.2)
    alice.send_message(mto="bob@localhost/phone", mbody="while you were away", mtype="chat")
    await asyncio.sleep(2.0)  # past smacks_hibernation_time: the session ends
    host = xmpp_server.server.hosts["localhost"]
    assert not host.user_sessions("bob@localhost")
    # A new login (no resumption) gets the message from offline storage.
    bob2 = await xmpp_server.client("bob@localhost/laptop", "pw", presence=False)
    got: asyncio.Future[str] = asyncio.get_running_loop().create_future()
    bob2.add_event_handler(
        "message", lambda m: got.done() or (m["body"] and got.set_result(m["body"]))
    )
    bob2.send_presence()
    assert await asyncio.wait_for(got, 10) == "while you were away"
