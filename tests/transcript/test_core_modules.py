"""Issue 2 points 5-6 through the in-process server: disco, ping, version, time, registration,
IQ errors, and module unloading that leaves nothing behind."""

from __future__ import annotations

from pathlib import Path

from garrulus.core.modules import load_module, unload_module
from tests.harness import Transcript, login, send, start_server

CORE = ["disco", "ping", "version", "time", "register"]


async def test_disco_info_of_the_host_lists_module_features(tmp_path: Path) -> None:
    server = await start_server(tmp_path, CORE)
    alice = await login(server, "alice@localhost/a")
    await send(
        server,
        alice,
        "<iq type='get' id='d1' to='localhost'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>",
    )
    (reply,) = alice.take()
    Transcript().match(
        reply,
        """<iq type='result' to='alice@localhost/a' from='localhost' id='d1'>
      <query xmlns='http://jabber.org/protocol/disco#info'>
        <identity category='server' type='im' name='Garrulus'/>
        <feature var='http://jabber.org/protocol/disco#info'/>
        <feature var='http://jabber.org/protocol/disco#items'/>
        <feature var='jabber:iq:version'/>
        <feature var='urn:xmpp:ping'/>
        <feature var='urn:xmpp:time'/>
      </query></iq>""",
    )
    await server.stop()


async def test_disco_info_of_own_account_and_unknown_node(tmp_path: Path) -> None:
    server = await start_server(tmp_path, CORE)
    alice = await login(server, "alice@localhost/a")
    await send(
        server,
        alice,
        "<iq type='get' id='d2'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>",
    )
    (reply,) = alice.take()
    Transcript().match(
        reply,
        """<iq type='result' to='alice@localhost/a' from='alice@localhost' id='d2'>
      <query xmlns='http://jabber.org/protocol/disco#info'>
        <identity category='account' type='registered'/>
        <feature var='http://jabber.org/protocol/disco#info'/>
        <feature var='http://jabber.org/protocol/disco#items'/>
        <feature var='jabber:iq:register'/>
      </query></iq>""",
    )
    await send(
        server,
        alice,
        "<iq type='get' id='d3' to='localhost'><query xmlns='http://jabber.org/protocol/disco#info' node='nope'/></iq>",
    )
    (reply,) = alice.take()
    Transcript().match(
        reply,
        """<iq type='error' id='d3' to='alice@localhost/a' from='localhost'>
      <error type='cancel'><item-not-found xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/>
      <text xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'>no node 'nope' here</text></error></iq>""",
    )
    await send(
        server,
        alice,
        "<iq type='get' id='d4' to='localhost'><query xmlns='http://jabber.org/protocol/disco#items'/></iq>",
    )
    (reply,) = alice.take()
    Transcript().match(
        reply,
        """<iq type='result' to='alice@localhost/a' from='localhost' id='d4'>
      <query xmlns='http://jabber.org/protocol/disco#items'/></iq>""",
    )
    await server.stop()


async def test_ping_version_time(tmp_path: Path) -> None:
    server = await start_server(tmp_path, CORE)
    alice = await login(server, "alice@localhost/a")
    t = Transcript()
    await send(
        server, alice, "<iq type='get' id='p' to='localhost'><ping xmlns='urn:xmpp:ping'/></iq>"
    )
    t.match(alice.take()[0], "<iq type='result' to='alice@localhost/a' from='localhost' id='p'/>")
    await send(
        server,
        alice,
        "<iq type='get' id='v' to='localhost'><query xmlns='jabber:iq:version'/></iq>",
    )
    t.match(
        alice.take()[0],
        """<iq type='result' to='alice@localhost/a' from='localhost' id='v'>
      <query xmlns='jabber:iq:version'><name>Garrulus</name><version>*</version><os>*</os></query></iq>""",
    )
    await send(
        server, alice, "<iq type='get' id='t' to='localhost'><time xmlns='urn:xmpp:time'/></iq>"
    )
    t.match(
        alice.take()[0],
        """<iq type='result' to='alice@localhost/a' from='localhost' id='t'>
      <time xmlns='urn:xmpp:time'><tzo>+00:00</tzo><utc>*</utc></time></iq>""",
    )
    await server.stop()


async def test_unknown_payload_and_malformed_iqs(tmp_path: Path) -> None:
    server = await start_server(tmp_path, CORE)
    alice = await login(server, "alice@localhost/a")
    t = Transcript()
    await send(
        server, alice, "<iq type='get' id='u' to='localhost'><query xmlns='urn:example:none'/></iq>"
    )
    t.match(
        alice.take()[0],
        """<iq type='error' id='u' to='alice@localhost/a' from='localhost'>
      <error type='cancel'><service-unavailable xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq>""",
    )
    await send(
        server, alice, "<iq type='fetch' id='x' to='localhost'><ping xmlns='urn:xmpp:ping'/></iq>"
    )
    t.match(
        alice.take()[0],
        """<iq type='error' id='x' to='alice@localhost/a' from='localhost'>
      <error type='modify'><bad-request xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/>
      <text xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'>an IQ needs a type of get, set, result or error</text></error></iq>""",
    )
    await send(server, alice, "<iq type='get' id='j' to='a@@b'><ping xmlns='urn:xmpp:ping'/></iq>")
    (reply,) = alice.take()
    assert reply.get("type") == "error"
    assert reply.find(".//{urn:ietf:params:xml:ns:xmpp-stanzas}jid-malformed") is not None
    await send(
        server,
        alice,
        "<message to='someone@elsewhere.example' type='chat'><body>x</body></message>",
    )
    (reply,) = alice.take()
    assert reply.find(".//{urn:ietf:params:xml:ns:xmpp-stanzas}remote-server-not-found") is not None
    await server.stop()


async def test_password_change_and_account_removal(tmp_path: Path) -> None:
    server = await start_server(tmp_path, CORE)
    alice = await login(server, "alice@localhost/a", "old-password")
    t = Transcript()
    await send(
        server,
        alice,
        "<iq type='set' id='r1'><query xmlns='jabber:iq:register'><username>alice</username><password>new-password</password></query></iq>",
    )
    t.match(
        alice.take()[0], "<iq type='result' to='alice@localhost/a' from='alice@localhost' id='r1'/>"
    )
    assert await server.accounts.check_password("localhost", "alice", "new-password")
    assert not await server.accounts.check_password("localhost", "alice", "old-password")
    await send(
        server,
        alice,
        "<iq type='set' id='r2'><query xmlns='jabber:iq:register'><username>bob</username><password>x</password></query></iq>",
    )
    t.match(
        alice.take()[0],
        """<iq type='error' id='r2' to='alice@localhost/a' from='alice@localhost'>
      <error type='cancel'><not-allowed xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/>
      <text xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'>you can only change your own password</text></error></iq>""",
    )
    await send(
        server,
        alice,
        "<iq type='set' id='r3'><query xmlns='jabber:iq:register'><remove/></query></iq>",
    )
    t.match(
        alice.take()[0], "<iq type='result' to='alice@localhost/a' from='alice@localhost' id='r3'/>"
    )
    assert alice.was_closed
    assert not await server.accounts.exists("localhost", "alice")
    await server.stop()


async def test_unloading_a_module_undoes_everything_it_registered(tmp_path: Path) -> None:
    server = await start_server(tmp_path, CORE)
    host = server.hosts["localhost"]
    hooks_before = {name: len(host.events.handlers(name)) for name in list(host.events._chains)}
    features_before = dict(host.features)
    unload_module(host, "ping")
    assert "urn:xmpp:ping" not in host.features
    assert not any("urn:xmpp:ping" in name for name in host.events._chains)
    alice = await login(server, "alice@localhost/a")
    await send(
        server, alice, "<iq type='get' id='p' to='localhost'><ping xmlns='urn:xmpp:ping'/></iq>"
    )
    assert alice.take()[0].get("type") == "error"
    await load_module(host, "ping", server.core_option_names)
    assert dict(host.features) == features_before
    assert {name: len(host.events.handlers(name)) for name in host.events._chains} == hooks_before
    await server.stop()
