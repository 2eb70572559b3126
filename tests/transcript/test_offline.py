"""XEP-0160 offline messages: kept, delivered in order with XEP-0203 delay at the next initial
presence, deleted; what is kept; the per-user limit; the offline-broadcast veto."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from garrulus.core.clock import FakeClock
from garrulus.core.event_types import SessionEvent
from garrulus.core.modules import load_module, unload_module
from garrulus.core.server import Server
from garrulus.modules.offline import OFFLINE_BROADCAST, Keep, keep_offline
from garrulus.xmpp.xml import to_xml
from tests.harness import (
    FakeSession,
    Transcript,
    expect,
    login,
    logout,
    parse_stanza,
    send,
    start_server,
)

MODULES = ["disco", "roster", "presence", "message", "offline"]
START = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(START)


@pytest.fixture
async def server(tmp_path: Path, clock: FakeClock) -> AsyncIterator[Server]:
    server = await start_server(tmp_path, modules=MODULES, clock=clock)
    await server.accounts.create("bob@localhost", "pw")
    yield server
    await server.stop()


async def comes_online(server: Server, jid: str, presence: str = "<presence/>") -> FakeSession:
    session = await login(server, jid)
    await send(server, session, presence)
    return session


def messages(session: FakeSession) -> list[str]:
    return [to_xml(e, "") for e in session.take() if e.tag.endswith("}message")]


async def test_kept_in_order_and_delivered_with_delay(server: Server, clock: FakeClock) -> None:
    t = Transcript()
    alice = await login(server, "alice@localhost/phone")
    for i in range(3):
        await send(
            server,
            alice,
            f"<message to='bob@localhost' type='chat' id='m{i}'><body>n{i}</body></message>",
        )
        clock.advance(timedelta(seconds=1) if i == 0 else timedelta(0))  # equal times keep order
    expect(t, alice)  # kept: no error
    bob = await comes_online(server, "bob@localhost/pc")
    expect(
        t,
        bob,
        "<presence from='bob@localhost/pc' to='bob@localhost/pc'/>",
        *(
            f"<message to='bob@localhost' type='chat' id='m{i}' from='alice@localhost/phone'>"
            f"<body>n{i}</body><delay xmlns='urn:xmpp:delay' from='localhost' stamp='{stamp}'/>"
            "</message>"
            for i, stamp in enumerate(
                ["2026-03-01T12:00:00Z", "2026-03-01T12:00:01Z", "2026-03-01T12:00:01Z"]
            )
        ),
    )
    # Delivered once: deleted afterwards.
    again = await comes_online(server, "bob@localhost/tablet")
    assert messages(again) == []
    assert not await server.storage.keyval.items("localhost", "bob")


async def test_normal_with_body_and_other_content_are_kept(server: Server) -> None:
    alice = await login(server, "alice@localhost/phone")
    await send(server, alice, "<message to='bob@localhost' id='n'><body>normal</body></message>")
    await send(
        server,
        alice,
        "<message to='bob@localhost' type='chat' id='r'>"
        "<received xmlns='urn:xmpp:receipts' id='x'/></message>",
    )
    bob = await comes_online(server, "bob@localhost/pc")
    assert [m.split(" id='")[1][0] for m in messages(bob)] == ["n", "r"]


async def test_chat_states_alone_are_dropped_silently(server: Server) -> None:
    alice = await login(server, "alice@localhost/phone")
    await send(
        server,
        alice,
        "<message to='bob@localhost' type='chat' id='c'>"
        "<composing xmlns='http://jabber.org/protocol/chatstates'/></message>",
    )
    assert alice.take() == []
    bob = await comes_online(server, "bob@localhost/pc")
    assert messages(bob) == []


async def test_no_store_hint_is_refused(server: Server) -> None:
    t = Transcript()
    alice = await login(server, "alice@localhost/phone")
    await send(
        server,
        alice,
        "<message to='bob@localhost' type='chat' id='h'><body>x</body>"
        "<no-store xmlns='urn:xmpp:hints'/></message>",
    )
    got = alice.take()
    assert len(got) == 1
    t.match(
        got[0],
        "<message type='error' id='h' from='bob@localhost' to='alice@localhost/phone'>"
        "<error type='cancel'><service-unavailable xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/>"
        "</error></message>",
        exact_children=False,
    )


async def test_limit(tmp_path: Path) -> None:
    server = await start_server(tmp_path, modules=MODULES, extra="offline_max_messages = 2")
    try:
        await server.accounts.create("bob@localhost", "pw")
        alice = await login(server, "alice@localhost/phone")
        for i in range(3):
            await send(
                server,
                alice,
                f"<message to='bob@localhost' type='chat' id='m{i}'><body>{i}</body></message>",
            )
        errors = alice.take()
        assert [(e.get("id"), e.get("type")) for e in errors] == [("m2", "error")]
        assert (
            errors[0].find(".//{urn:ietf:params:xml:ns:xmpp-stanzas}service-unavailable")
            is not None
        )
        bob = await comes_online(server, "bob@localhost/pc")
        assert len(messages(bob)) == 2
        # Room again once delivered.
        await logout(bob)
        for i in range(3, 5):
            await send(
                server,
                alice,
                f"<message to='bob@localhost' type='chat' id='m{i}'><body>{i}</body></message>",
            )
        assert alice.take() == []
    finally:
        await server.stop()


async def test_negative_priority_waits_for_a_better_resource(server: Server) -> None:
    alice = await login(server, "alice@localhost/phone")
    await send(
        server, alice, "<message to='bob@localhost' type='chat' id='m'><body>x</body></message>"
    )
    bot = await comes_online(
        server, "bob@localhost/bot", "<presence><priority>-1</priority></presence>"
    )
    assert messages(bot) == []
    pc = await comes_online(server, "bob@localhost/pc")
    assert len(messages(pc)) == 1


async def test_offline_broadcast_veto_keeps_them_for_another_session(server: Server) -> None:
    """A handler of offline-broadcast (the archive, for a session that queried it) says no."""
    host = server.hosts["localhost"]
    vetoed: list[str] = []

    def veto(event: SessionEvent) -> bool:
        vetoed.append(str(event.session.jid))
        return True

    unhook = host.events.hook(OFFLINE_BROADCAST, veto, 10)
    alice = await login(server, "alice@localhost/phone")
    await send(
        server, alice, "<message to='bob@localhost' type='chat' id='m'><body>x</body></message>"
    )
    bob = await comes_online(server, "bob@localhost/pc")
    assert messages(bob) == []
    assert vetoed == ["bob@localhost/pc"]
    unhook()
    other = await comes_online(server, "bob@localhost/tablet")
    assert len(messages(other)) == 1  # kept for a session that did not catch up otherwise


async def test_nothing_stored_means_no_broadcast_event(server: Server) -> None:
    host = server.hosts["localhost"]
    fired: list[object] = []
    unhook = host.events.hook(OFFLINE_BROADCAST, fired.append, 10)
    await comes_online(server, "bob@localhost/pc")
    unhook()
    assert fired == []


async def test_msgoffline_feature(server: Server) -> None:
    alice = await login(server, "alice@localhost/phone")
    await send(
        server,
        alice,
        "<iq type='get' id='d' to='localhost'>"
        "<query xmlns='http://jabber.org/protocol/disco#info'/></iq>",
    )
    (result,) = alice.take()
    assert result.get("type") == "result"
    features = {f.get("var") for f in result.iter("{http://jabber.org/protocol/disco#info}feature")}
    assert "msgoffline" in features


async def test_user_deleted_removes_stored_messages(server: Server) -> None:
    alice = await login(server, "alice@localhost/phone")
    await send(
        server, alice, "<message to='bob@localhost' type='chat' id='m'><body>x</body></message>"
    )
    await server.accounts.delete("bob@localhost")
    assert not await server.storage.keyval.items("localhost", "bob")
    await server.accounts.create("bob@localhost", "pw")
    bob = await comes_online(server, "bob@localhost/pc")
    assert messages(bob) == []


async def test_store_survives_a_module_restart(server: Server) -> None:
    alice = await login(server, "alice@localhost/phone")
    await send(
        server, alice, "<message to='bob@localhost' type='chat' id='m1'><body>1</body></message>"
    )
    host = server.hosts["localhost"]
    unload_module(host, "offline")
    await load_module(host, "offline", server.core_option_names)
    await send(
        server, alice, "<message to='bob@localhost' type='chat' id='m2'><body>2</body></message>"
    )
    bob = await comes_online(server, "bob@localhost/pc")
    got = messages(bob)
    assert [m.split(" id='")[1][:2] for m in got] == ["m1", "m2"]


KEEP = [
    ("<message type='chat'><body>x</body></message>", Keep.STORE),
    ("<message><body>x</body></message>", Keep.STORE),
    ("<message type='chat'><x xmlns='jabber:x:oob'><url>u</url></x></message>", Keep.STORE),
    ("<message type='chat'><store xmlns='urn:xmpp:hints'/></message>", Keep.STORE),
    (
        "<message type='chat'><body>x</body><no-permanent-store xmlns='urn:xmpp:hints'/></message>",
        Keep.STORE,
    ),
    (
        "<message type='chat'><active xmlns='http://jabber.org/protocol/chatstates'/></message>",
        Keep.DROP,
    ),
    ("<message type='chat'><thread>t</thread></message>", Keep.DROP),
    ("<message type='chat'/>", Keep.DROP),
    (
        "<message type='chat'><body>x</body><no-store xmlns='urn:xmpp:hints'/></message>",
        Keep.REFUSE,
    ),
    ("<message type='headline'><body>x</body></message>", Keep.REFUSE),
    ("<message type='groupchat'><body>x</body></message>", Keep.REFUSE),
    ("<message type='error'><body>x</body></message>", Keep.REFUSE),
]


@pytest.mark.parametrize(("xml", "keep"), KEEP)
def test_what_is_kept(xml: str, keep: Keep) -> None:
    assert keep_offline(parse_stanza(xml)) is keep
