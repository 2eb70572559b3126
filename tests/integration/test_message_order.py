"""RFC 6120 10.1 with pipelined messages (core/pipeline.py): a burst that mixes archived
messages, unarchived chat states and messages that bounce reaches the contact, the sender's
other client (carbons), the sender (errors) and the archive in the order it was sent, and the
stream-management count covers all of it. Default modules, SQLite store: real group commits."""

from __future__ import annotations

import re
from typing import Any

import pytest

from garrulus.core.routes import stanza_route
from tests.integration.conftest import RunningServer
from tests.integration.rawclient import RawClient

pytestmark = pytest.mark.integration

_MESSAGE_TAG = re.compile(r"<message\b[^>]*>")
_ID = re.compile(r"\bid='(m\d+)'")


def message_ids(text: str) -> list[str]:
    """The ids of the message start tags in ``text``, in stream order."""
    found = []
    for tag in _MESSAGE_TAG.findall(text):
        match = _ID.search(tag)
        if match:
            found.append(match.group(1))
    return found


def burst(count: int) -> tuple[str, list[str], list[str], list[str]]:
    """(XML, ids for bob, ids that bounce, ids archived), cycling through four kinds."""
    parts, to_bob, bounced, archived = [], [], [], []
    for n in range(count):
        mid = f"m{n}"
        kind = n % 4
        if kind == 0:
            parts.append(
                f"<message to='bob@localhost' type='chat' id='{mid}'><body>b{n}</body></message>"
            )
            to_bob.append(mid)
            archived.append(f"b{n}")
        elif kind == 1:  # a chat state alone: delivered, not archived (no commit to wait for)
            parts.append(
                f"<message to='bob@localhost' type='chat' id='{mid}'>"
                "<composing xmlns='http://jabber.org/protocol/chatstates'/></message>"
            )
            to_bob.append(mid)
        elif kind == 2:  # no such account: an error for the sender, nothing archived
            parts.append(
                f"<message to='nobody@localhost' type='chat' id='{mid}'><body>x</body></message>"
            )
            bounced.append(mid)
        else:
            parts.append(f"<message to='bob@localhost' id='{mid}'><body>b{n}</body></message>")
            to_bob.append(mid)
            archived.append(f"b{n}")
    return "".join(parts), to_bob, bounced, archived


async def test_a_mixed_burst_arrives_everywhere_in_the_order_sent(
    xmpp_server: RunningServer,
) -> None:
    await xmpp_server.adduser("alice@localhost", "pw")
    await xmpp_server.adduser("bob@localhost", "pw")
    clients = []
    for user, resource in (("bob", "phone"), ("alice", "laptop"), ("alice", "desk")):
        client = await RawClient.connect(xmpp_server.tls_port, tls=True)
        await client.open_stream()
        await client.login(user, "pw", resource=resource)
        await client.send("<presence/>")
        clients.append(client)
    bob, alice, alice_other = clients
    await alice_other.send("<iq type='set' id='c1'><enable xmlns='urn:xmpp:carbons:2'/></iq>")
    await alice_other.read_tag("iq", "c1")
    await alice.send("<enable xmlns='urn:xmpp:sm:3'/>")
    await alice.read_until("<enabled")
    for client in clients:
        client.clear()

    count = 40
    xml, to_bob, bounced, archived = burst(count)
    await alice.send(xml + "<r xmlns='urn:xmpp:sm:3'/>")

    await bob.read_tag("message", to_bob[-1])
    assert message_ids(bob.buffer.decode()) == to_bob
    # The errors come back in order, and the ack counts every message, after all of them.
    text = await alice.read_until(f"h='{count}'")
    assert message_ids(text) == bounced
    assert text.index(f"id='{bounced[-1]}'") < text.index(f"h='{count}'")
    # Carbons of what went to bob, in order (inside <sent><forwarded>).
    await alice_other.read_tag("message", to_bob[-1])
    carbons = [mid for mid in message_ids(alice_other.buffer.decode()) if mid in to_bob]
    assert carbons == [mid for mid in to_bob if mid in carbons] and to_bob[0] in carbons

    alice.clear()
    await alice.send(
        "<iq type='set' id='q1'><query xmlns='urn:xmpp:mam:2' queryid='q'>"
        "<set xmlns='http://jabber.org/protocol/rsm'><max>50</max></set></query></iq>"
    )
    text = await alice.read_until("</fin>")
    assert re.findall(r"<body>(b\d+)</body>", text) == archived
    for client in clients:
        await client.close()


async def logged_in(server: RunningServer, *who: tuple[str, str]) -> list[RawClient]:
    clients = []
    for user, resource in who:
        client = await RawClient.connect(server.tls_port, tls=True)
        await client.open_stream()
        await client.login(user, "pw", resource=resource)
        await client.send("<presence/>")
        clients.append(client)
    return clients


async def test_a_carbon_of_a_message_to_the_server_keeps_its_place(
    xmpp_server: RunningServer,
) -> None:
    # The archive does not handle messages to a domain; the core's turn hook still holds the
    # second carbon back until the first (archived, waiting for its commit) went out.
    for user in ("alice", "bob"):
        await xmpp_server.adduser(f"{user}@localhost", "pw")
    bob, alice, alice_other = await logged_in(
        xmpp_server, ("bob", "phone"), ("alice", "laptop"), ("alice", "desk")
    )
    await alice_other.send("<iq type='set' id='c1'><enable xmlns='urn:xmpp:carbons:2'/></iq>")
    await alice_other.read_tag("iq", "c1")
    alice_other.clear()
    await alice.send(
        "<message to='bob@localhost' type='chat' id='m1'><body>one</body></message>"
        "<message to='localhost' type='chat' id='m2'><body>two</body></message>"
        "<message to='bob@localhost' type='chat' id='m3'><body>three</body></message>"
    )
    await alice_other.read_tag("message", "m3")
    assert message_ids(alice_other.buffer.decode()) == ["m1", "m2", "m3"]
    await bob.read_tag("message", "m3")
    assert message_ids(bob.buffer.decode()) == ["m1", "m3"]


async def test_a_failing_message_closes_the_stream_after_the_earlier_ones(
    xmpp_server: RunningServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    from garrulus.modules.blocking import enforce

    blocks = enforce.Enforcer._blocks

    async def failing(self: enforce.Enforcer, user: Any, other: Any) -> bool:
        if other.local == "boom":
            raise RuntimeError("the blocklist store went away")
        return await blocks(self, user, other)

    monkeypatch.setattr(enforce.Enforcer, "_blocks", failing)
    await xmpp_server.adduser("alice@localhost", "pw")
    (alice,) = await logged_in(xmpp_server, ("alice", "laptop"))
    alice.clear()
    # m1 (to herself) is archived and waits for its commit while m2 starts and fails.
    await alice.send(
        "<message to='alice@localhost' type='chat' id='m1'><body>one</body></message>"
        "<message to='boom@localhost' type='chat' id='m2'><body>two</body></message>"
    )
    text = await alice.read_all()
    assert "id='m1'" in text
    assert text.index("id='m1'") < text.index("<internal-server-error")


async def test_messages_behind_one_that_closed_the_stream_are_not_delivered(
    xmpp_server: RunningServer,
) -> None:
    def failing(event: Any) -> None:
        if event.stanza.get("id") == "m1":
            raise RuntimeError("a bug in a delivery handler")

    # First on the recipient's side (the router is compiled, so it is not patched but hooked).
    xmpp_server.server.hosts["localhost"].events.hook(
        stanza_route("message", "bare"), failing, 10**6
    )
    for user in ("alice", "bob", "carol"):
        await xmpp_server.adduser(f"{user}@localhost", "pw")
    bob, alice, carol = await logged_in(
        xmpp_server, ("bob", "phone"), ("alice", "laptop"), ("carol", "pc")
    )
    bob.clear()
    await alice.send(
        "".join(
            f"<message to='bob@localhost' type='chat' id='m{n}'><body>{n}</body></message>"
            for n in range(1, 6)
        )
    )
    assert "<internal-server-error" in await alice.read_all()
    # Handled one at a time, m2..m5 would never have started once m1 closed the stream.
    await carol.send("<message to='bob@localhost' type='chat' id='m9'><body>after</body></message>")
    await bob.read_tag("message", "m9")
    assert message_ids(bob.buffer.decode()) == ["m9"]
