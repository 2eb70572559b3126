"""Issue 2 point 4: each bad input gets its exact stream or stanza error, closes only its own
connection, and a well-behaved session on the same server goes on undisturbed."""

from __future__ import annotations

import pytest

from tests.integration.conftest import RunningServer
from tests.integration.rawclient import RawClient

CORE_MODULES = 'modules_enabled = ["disco", "ping", "version", "time", "register", "smacks"]'
pytestmark = [pytest.mark.integration, pytest.mark.server_config(CORE_MODULES)]

HEADER = (
    "<?xml version='1.0'?><stream:stream to='localhost' version='1.0' xmlns='jabber:client' "
    "xmlns:stream='http://etherx.jabber.org/streams'>"
)


async def good_session(server: RunningServer) -> RawClient:
    await server.adduser("good@localhost", "pw")
    client = await RawClient.connect(server.tls_port, tls=True)
    await client.open_stream()
    jid = await client.login("good", "pw")
    assert jid.startswith("good@localhost/")
    return client


async def still_fine(client: RawClient) -> None:
    client.clear()
    await client.send("<iq type='get' id='p1' to='localhost'><ping xmlns='urn:xmpp:ping'/></iq>")
    tag = await client.read_tag("iq", "p1")
    assert "type='result'" in tag, tag


async def expect_stream_error(
    port: int, payload: str, condition: str, *, header: str = HEADER
) -> str:
    bad = await RawClient.connect(port)
    await bad.send(header)
    await bad.send(payload)
    text = await bad.read_all(timeout=5)
    assert f"<{condition} xmlns='urn:ietf:params:xml:ns:xmpp-streams'/>" in text, text
    assert "<stream:error>" in text and text.rstrip().endswith("</stream:stream>"), text
    await bad.close()
    return text


@pytest.mark.parametrize(
    ("payload", "condition"),
    [
        ("<message><body>&xxe;</body></message>", "restricted-xml"),
        ("<?evil instruction?>", "restricted-xml"),
        ("<!-- a comment -->", "restricted-xml"),
        ("<message><body>unclosed</message>", "not-well-formed"),
        ("<message to='bob@localhost'><body>hi</body></message>", "not-authorized"),
        ("<foo xmlns='urn:example:unknown'/>", "unsupported-stanza-type"),
    ],
    ids=[
        "entity-ref",
        "pi",
        "comment",
        "malformed",
        "stanza-before-auth",
        "unknown-top-level",
    ],
)
async def test_bad_input_gets_its_stream_error(
    xmpp_server: RunningServer, payload: str, condition: str
) -> None:
    good = await good_session(xmpp_server)
    await expect_stream_error(xmpp_server.port, payload, condition)
    await still_fine(good)


async def test_dtd_before_the_stream_is_restricted_xml(xmpp_server: RunningServer) -> None:
    good = await good_session(xmpp_server)
    header = HEADER.replace(
        "<?xml version='1.0'?>", "<?xml version='1.0'?><!DOCTYPE x [<!ENTITY a 'b'>]>"
    )
    await expect_stream_error(xmpp_server.port, "", "restricted-xml", header=header)
    await still_fine(good)


async def test_unknown_host(xmpp_server: RunningServer) -> None:
    good = await good_session(xmpp_server)
    header = HEADER.replace("to='localhost'", "to='nowhere.example'")
    await expect_stream_error(xmpp_server.port, "", "host-unknown", header=header)
    await still_fine(good)


async def test_wrong_stream_namespace(xmpp_server: RunningServer) -> None:
    good = await good_session(xmpp_server)
    header = HEADER.replace("http://etherx.jabber.org/streams", "urn:example:not-streams")
    await expect_stream_error(xmpp_server.port, "", "invalid-namespace", header=header)
    await still_fine(good)


async def test_wrong_default_namespace(xmpp_server: RunningServer) -> None:
    header = HEADER.replace("xmlns='jabber:client'", "xmlns='jabber:server'")
    await expect_stream_error(xmpp_server.port, "", "invalid-namespace", header=header)


@pytest.mark.server_config("c2s_stanza_size_limit = 10000")
async def test_oversized_stanza_is_policy_violation(xmpp_server: RunningServer) -> None:
    good = await good_session(xmpp_server)
    bad = await RawClient.connect(xmpp_server.tls_port, tls=True)
    await xmpp_server.adduser("big@localhost", "pw")
    await bad.open_stream()
    await bad.login("big", "pw")
    await bad.send("<message to='good@localhost'><body>" + "x" * 20000 + "</body></message>")
    text = await bad.read_all()
    assert "<policy-violation xmlns='urn:ietf:params:xml:ns:xmpp-streams'/>" in text
    await still_fine(good)
    assert "xxxxxxxxxx" not in good.buffer.decode()


async def test_unknown_iq_payload_is_service_unavailable(xmpp_server: RunningServer) -> None:
    good = await good_session(xmpp_server)
    good.clear()
    await good.send(
        "<iq type='get' id='u1' to='localhost'><query xmlns='urn:example:nothing'/></iq>"
    )
    text = await good.read_until("</iq>")
    assert "id='u1'" in text and "type='error'" in text
    assert "<service-unavailable xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/>" in text
    await still_fine(good)


async def test_iq_with_two_payloads_is_bad_request(xmpp_server: RunningServer) -> None:
    good = await good_session(xmpp_server)
    good.clear()
    await good.send(
        "<iq type='get' id='u2' to='localhost'><ping xmlns='urn:xmpp:ping'/>"
        "<ping xmlns='urn:xmpp:ping'/></iq>"
    )
    text = await good.read_until("</iq>")
    assert "<bad-request xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/>" in text
    await still_fine(good)


async def test_plain_auth_refused_before_tls(xmpp_server: RunningServer) -> None:
    bad = await RawClient.connect(xmpp_server.port)
    features = await bad.open_stream()
    assert "<required/>" in features and "mechanism" not in features
    await bad.send(
        "<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>AGEAYg==</auth>"
    )
    text = await bad.read_until("</failure>")
    assert "<encryption-required/>" in text
