"""Issue 2 end to end: slixmpp logs in over STARTTLS and direct TLS with SCRAM, binds, discovers,
pings, and two users exchange a message."""

from __future__ import annotations

import asyncio

import pytest
import slixmpp

from tests.integration.conftest import RunningServer

CORE_MODULES = 'modules_enabled = ["disco", "ping", "version", "time", "register", "smacks"]'
pytestmark = [pytest.mark.integration, pytest.mark.server_config(CORE_MODULES)]


async def test_starttls_scram_login_disco_ping(xmpp_server: RunningServer) -> None:
    await xmpp_server.adduser("alice@localhost", "wonderland")
    alice = await xmpp_server.client("alice@localhost/laptop", "wonderland")
    assert alice.is_connected()
    assert str(alice.boundjid) == "alice@localhost/laptop"
    info = await alice.plugin["xep_0030"].get_info(jid="localhost")
    features = set(info["disco_info"]["features"])
    assert {"http://jabber.org/protocol/disco#info", "urn:xmpp:ping"} <= features
    rtt = await alice.plugin["xep_0199"].ping(jid="localhost", timeout=5)
    assert rtt >= 0


async def test_direct_tls_login(xmpp_server: RunningServer) -> None:
    await xmpp_server.adduser("bob@localhost", "builder")
    bob = await xmpp_server.client("bob@localhost", "builder", direct_tls=True)
    assert bob.boundjid.resource  # the server made one up
    info = await bob.plugin["xep_0030"].get_info(jid="localhost")
    assert "urn:xmpp:ping" in info["disco_info"]["features"]


async def test_wrong_password_fails(xmpp_server: RunningServer) -> None:
    await xmpp_server.adduser("carol@localhost", "right")
    with pytest.raises(AssertionError, match="login of carol@localhost failed"):
        await xmpp_server.client("carol@localhost", "wrong", timeout=8)


async def test_two_users_exchange_a_message(xmpp_server: RunningServer) -> None:
    await xmpp_server.adduser("alice@localhost", "pw1")
    await xmpp_server.adduser("bob@localhost", "pw2")
    alice = await xmpp_server.client("alice@localhost/a", "pw1")
    bob = await xmpp_server.client("bob@localhost/b", "pw2")
    got: asyncio.Future[slixmpp.Message] = asyncio.get_running_loop().create_future()

    def on_message(msg: slixmpp.Message) -> None:
        if msg["type"] in ("chat", "normal") and msg["body"] and not got.done():
            got.set_result(msg)

    bob.add_event_handler("message", on_message)
    alice.send_message(mto="bob@localhost/b", mbody="hello bob", mtype="chat")
    msg = await asyncio.wait_for(got, 5)
    assert msg["body"] == "hello bob"
    assert str(msg["from"]) == "alice@localhost/a"
