"""Issue 2 point 3 over raw sockets: channel binding, resource conflicts, throttling, timeouts,
in-band registration and a clean shutdown."""

from __future__ import annotations

import asyncio
import base64
import ssl

import pytest
import scramp

from tests.integration.conftest import RunningServer
from tests.integration.rawclient import RawClient

CORE_MODULES = 'modules_enabled = ["disco", "ping", "version", "time", "register"]'
pytestmark = [pytest.mark.integration, pytest.mark.server_config(CORE_MODULES)]


async def test_scram_plus_with_tls_server_end_point(xmpp_server: RunningServer) -> None:
    await xmpp_server.adduser("alice@localhost", "pw")
    client = await RawClient.connect(xmpp_server.tls_port, tls=True)
    features = await client.open_stream()
    assert "<mechanism>SCRAM-SHA-256-PLUS</mechanism>" in features
    assert "<channel-binding type='tls-server-end-point'/>" in features
    ssl_obj = client.writer.get_extra_info("ssl_object")
    assert isinstance(ssl_obj, ssl.SSLObject)
    from garrulus.stream.sasl import tls_server_end_point

    cb = (
        "tls-server-end-point",
        tls_server_end_point(ssl_obj.getpeercert(binary_form=True) or b""),
    )
    scram = scramp.ScramClient(["SCRAM-SHA-256-PLUS"], "alice", "pw", channel_binding=cb)
    first = base64.b64encode(scram.get_client_first().encode()).decode()
    client.clear()
    await client.send(
        f"<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='SCRAM-SHA-256-PLUS'>{first}</auth>"
    )
    text = await client.read_until("</challenge>")
    scram.set_server_first(base64.b64decode(text.split(">", 1)[1].split("<", 1)[0]).decode())
    final = base64.b64encode(scram.get_client_final().encode()).decode()
    client.clear()
    await client.send(f"<response xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>{final}</response>")
    text = await client.read_until("</success>")
    scram.set_server_final(base64.b64decode(text.split(">", 1)[1].split("<", 1)[0]).decode())
    await client.close()


async def test_binding_a_taken_resource_replaces_the_old_session(
    xmpp_server: RunningServer,
) -> None:
    await xmpp_server.adduser("alice@localhost", "pw")
    first = await RawClient.connect(xmpp_server.tls_port, tls=True)
    await first.open_stream()
    bound = await first.login("alice", "pw")
    resource = bound.split("/", 1)[1]
    second = await RawClient.connect(xmpp_server.tls_port, tls=True)
    await second.open_stream()
    assert await second.login("alice", "pw", resource=resource) == f"alice@localhost/{resource}"
    old = await first.read_all()
    assert "<conflict xmlns='urn:ietf:params:xml:ns:xmpp-streams'/>" in old


@pytest.mark.server_config("max_auth_failures = 3")
async def test_failed_logins_are_throttled(xmpp_server: RunningServer) -> None:
    await xmpp_server.adduser("carol@localhost", "right")
    plain = base64.b64encode(b"\x00carol\x00wrong").decode()
    for attempt in range(4):
        client = await RawClient.connect(xmpp_server.tls_port, tls=True)
        await client.open_stream()
        client.clear()
        await client.send(
            f"<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>{plain}</auth>"
        )
        text = await client.read_until("</failure>")
        expected = "temporary-auth-failure" if attempt == 3 else "not-authorized"
        assert f"<{expected}/>" in text, (attempt, text)
        await client.close()
    # Even the right password waits until the window has passed.
    client = await RawClient.connect(xmpp_server.tls_port, tls=True)
    await client.open_stream()
    client.clear()
    good = base64.b64encode(b"\x00carol\x00right").decode()
    await client.send(
        f"<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>{good}</auth>"
    )
    assert "<temporary-auth-failure/>" in await client.read_until("</failure>")


@pytest.mark.server_config("c2s_timeout = 0.5")
async def test_a_handshake_that_never_finishes_times_out(xmpp_server: RunningServer) -> None:
    client = await RawClient.connect(xmpp_server.port)
    await client.open_stream()
    text = await client.read_all(timeout=5)
    assert "<connection-timeout xmlns='urn:ietf:params:xml:ns:xmpp-streams'/>" in text


@pytest.mark.server_config("allow_registration = true")
async def test_in_band_registration_then_login(xmpp_server: RunningServer) -> None:
    client = await RawClient.connect(xmpp_server.tls_port, tls=True)
    features = await client.open_stream()
    assert "<register xmlns='http://jabber.org/features/iq-register'/>" in features
    client.clear()
    await client.send(
        "<iq type='set' id='reg1'><query xmlns='jabber:iq:register'><username>newbie</username><password>pw</password></query></iq>"
    )
    tag = await client.read_tag("iq", "reg1")
    assert "type='result'" in tag
    await client.send(
        "<iq type='set' id='reg2'><query xmlns='jabber:iq:register'><username>newbie</username><password>pw</password></query></iq>"
    )
    text = await client.read_until("</iq>")
    assert "<conflict xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/>" in text
    assert (await client.login("newbie", "pw")).startswith("newbie@localhost/")


async def test_registration_is_closed_by_default(xmpp_server: RunningServer) -> None:
    client = await RawClient.connect(xmpp_server.tls_port, tls=True)
    features = await client.open_stream()
    assert "iq-register" not in features
    client.clear()
    await client.send(
        "<iq type='set' id='reg1'><query xmlns='jabber:iq:register'><username>x</username><password>y</password></query></iq>"
    )
    text = await client.read_until("</iq>")
    assert "<service-unavailable xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/>" in text


async def test_shutdown_tells_sessions(xmpp_server: RunningServer) -> None:
    await xmpp_server.adduser("dave@localhost", "pw")
    client = await RawClient.connect(xmpp_server.tls_port, tls=True)
    await client.open_stream()
    await client.login("dave", "pw")
    client.clear()
    stopping = asyncio.get_running_loop().create_task(xmpp_server.server.stop())
    text = await client.read_all()
    await stopping
    assert "<system-shutdown xmlns='urn:ietf:params:xml:ns:xmpp-streams'/>" in text
