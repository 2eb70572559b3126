"""XEP-0313 transcripts through the in-process server: archiving both ways, stanza-ids, queries."""

from __future__ import annotations

from pathlib import Path

from garrulus.core.server import Server
from tests.harness import FakeSession, Transcript, login, send, start_server

MODULES = ["disco", "mam"]


async def chat(server: Server, sender: FakeSession, to: str, body: str, msg_id: str) -> None:
    await send(
        server,
        sender,
        f"<message to='{to}' type='chat' id='{msg_id}'><body>{body}</body></message>",
    )


async def test_sid_01_02_delivered_copy_has_one_stanza_id_by_recipient(tmp_path: Path) -> None:
    server = await start_server(tmp_path, MODULES)
    alice = await login(server, "alice@localhost/a")
    bob = await login(server, "bob@localhost/b")
    await chat(server, alice, "bob@localhost/b", "hi", "m1")
    (got,) = bob.take()
    t = Transcript()
    t.match(
        got,
        """<message to='bob@localhost/b' from='alice@localhost/a' type='chat' id='m1'>
        <body>hi</body><stanza-id xmlns='urn:xmpp:sid:0' by='bob@localhost' id='{sid}'/></message>""",
    )
    await server.stop()


async def test_mam_01_query_returns_both_directions_in_order(tmp_path: Path) -> None:
    server = await start_server(tmp_path, MODULES)
    alice = await login(server, "alice@localhost/a")
    bob = await login(server, "bob@localhost/b")
    await chat(server, alice, "bob@localhost", "one", "m1")
    await chat(server, bob, "alice@localhost/a", "two", "m2")
    alice.take()
    await send(
        server, alice, "<iq type='set' id='q1'><query xmlns='urn:xmpp:mam:2' queryid='f:1'/></iq>"
    )
    results = alice.take()
    assert len(results) == 3
    t = Transcript()
    t.match(
        results[0],
        """<message to='alice@localhost/a' from='alice@localhost'>
      <result xmlns='urn:xmpp:mam:2' queryid='f:1' id='{id1}'>
        <forwarded xmlns='urn:xmpp:forward:0'><delay xmlns='urn:xmpp:delay' stamp='*'/>
          <message xmlns='jabber:client' to='bob@localhost' from='alice@localhost/a' type='chat' id='m1'>
            <body>one</body><stanza-id xmlns='urn:xmpp:sid:0' by='alice@localhost' id='{id1}'/>
          </message></forwarded></result></message>""",
    )
    t.match(
        results[1],
        """<message to='alice@localhost/a' from='alice@localhost'>
      <result xmlns='urn:xmpp:mam:2' queryid='f:1' id='{id2}'>
        <forwarded xmlns='urn:xmpp:forward:0'><delay xmlns='urn:xmpp:delay' stamp='*'/>
          <message xmlns='jabber:client' to='alice@localhost/a' from='bob@localhost/b' type='chat' id='m2'>
            <body>two</body><stanza-id xmlns='urn:xmpp:sid:0' by='alice@localhost' id='{id2}'/>
          </message></forwarded></result></message>""",
    )
    t.match(
        results[2],
        """<iq type='result' id='q1' to='alice@localhost/a' from='alice@localhost'>
      <fin xmlns='urn:xmpp:mam:2' complete='true'><set xmlns='http://jabber.org/protocol/rsm'>
        <first index='0'>{id1}</first><last>{id2}</last><count>2</count></set></fin></iq>""",
    )
    await server.stop()


async def test_acl_01_other_users_archive_is_forbidden(tmp_path: Path) -> None:
    server = await start_server(tmp_path, MODULES)
    alice = await login(server, "alice@localhost/a")
    await login(server, "bob@localhost/b")
    await send(
        server,
        alice,
        "<iq type='set' id='q1' to='bob@localhost'><query xmlns='urn:xmpp:mam:2'/></iq>",
    )
    (err,) = alice.take()
    Transcript().match(
        err,
        """<iq type='error' id='q1' to='alice@localhost/a' from='bob@localhost'>
      <error type='auth'><forbidden xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/>
      <text xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'>only the owner may use this archive</text></error></iq>""",
    )
    await server.stop()
