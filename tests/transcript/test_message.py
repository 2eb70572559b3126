"""RFC 6121 section 8.5: message delivery to local users, every case as one row of a table.

Bob's situation (no account, offline, connected without presence, resources with priorities),
the address (bare JID, a connected full JID, a full JID that is not connected) and the message
type decide what happens: which of Bob's resources get it, whether it is kept offline, whether
Alice gets ``service-unavailable``, or whether it is dropped.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from garrulus.core.server import Server
from garrulus.xmpp.xml import to_xml
from tests.harness import FakeSession, Transcript, expect, login, send, start_server

MODULES = ["disco", "roster", "presence", "message", "offline"]
TYPES = ("chat", "normal", "headline", "groupchat", "error")

# Bob's resources and their priorities; None = connected without initial presence.
SETUPS: dict[str, dict[str, int | None] | None] = {
    "no-account": None,
    "offline": {},
    "connected": {"r1": None},
    "one": {"r1": 0},
    "tied": {"r1": 1, "r2": 1},
    "ranked": {"r1": 5, "r2": 1},
    "negative": {"r1": -1},
    "mixed": {"r1": 1, "r2": -1},
}

ERROR, OFFLINE, DROP = "error", "offline", "drop"

# RFC 6121 8.5.1 (no account), 8.5.2.1.1 (bare, available resources), 8.5.2.2.1 (bare, none).
TO_BARE: dict[str, dict[str, str]] = {
    "no-account": {"chat": ERROR, "normal": ERROR, "headline": DROP, "groupchat": ERROR},
    "offline": {"chat": OFFLINE, "normal": OFFLINE, "headline": DROP, "groupchat": ERROR},
    "connected": {"chat": OFFLINE, "normal": OFFLINE, "headline": DROP, "groupchat": ERROR},
    "one": {"chat": "r1", "normal": "r1", "headline": "r1", "groupchat": ERROR},
    "tied": {"chat": "r1 r2", "normal": "r1 r2", "headline": "r1 r2", "groupchat": ERROR},
    "ranked": {"chat": "r1", "normal": "r1", "headline": "r1 r2", "groupchat": ERROR},
    "negative": {"chat": OFFLINE, "normal": OFFLINE, "headline": DROP, "groupchat": ERROR},
    "mixed": {"chat": "r1", "normal": "r1", "headline": "r1", "groupchat": ERROR},
}

# RFC 6121 8.5.3.2.1: a full JID with no such resource. 'chat' is handled as if sent to the
# bare JID; 'normal' and 'groupchat' are refused, 'headline' dropped (the RFC allows either).
TO_GONE: dict[str, dict[str, str]] = {
    setup: {
        "chat": outcomes["chat"],
        "normal": ERROR,
        "headline": DROP,
        "groupchat": ERROR,
    }
    for setup, outcomes in TO_BARE.items()
}


def outcome(setup: str, to: str, stype: str) -> str:
    if stype == "error":
        # Errors are never answered with errors: delivered where a resource is, else dropped.
        return "r1" if to == "r1" else DROP
    if to == "r1":
        return "r1"  # RFC 6121 8.5.3.1: the resource gets it, whatever its presence
    return (TO_BARE if to == "bare" else TO_GONE)[setup][stype]


CASES = [
    (setup, to, stype, outcome(setup, to, stype))
    for setup, resources in SETUPS.items()
    for to in ("bare", "r1", "gone")
    if to != "r1" or (resources and "r1" in resources)
    for stype in TYPES
]


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[Server]:
    server = await start_server(tmp_path, modules=MODULES)
    yield server
    await server.stop()


def expect_error(t: Transcript, session: FakeSession, sender: str, msg_id: str = "m1") -> None:
    """One service-unavailable bounce (whatever its explanatory text)."""
    got = session.take()
    assert len(got) == 1, [to_xml(g, "") for g in got]
    t.match(
        got[0],
        f"<message type='error' id='{msg_id}' {sender} to='{session.jid}'><error type='cancel'>"
        "<service-unavailable xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></message>",
        exact_children=False,
    )


async def bob_as(server: Server, setup: str) -> dict[str, FakeSession]:
    resources = SETUPS[setup]
    if resources is None:
        return {}
    await server.accounts.create("bob@localhost", "pw")
    sessions: dict[str, FakeSession] = {}
    for name, priority in resources.items():
        session = await login(server, f"bob@localhost/{name}")
        if priority is not None:
            await send(server, session, f"<presence><priority>{priority}</priority></presence>")
        sessions[name] = session
    for session in sessions.values():
        session.take()
    return sessions


@pytest.mark.parametrize(
    ("setup", "to", "stype", "expected"), CASES, ids=[f"{c[1]}-{c[0]}-{c[2]}" for c in CASES]
)
async def test_rfc6121_8_5(server: Server, setup: str, to: str, stype: str, expected: str) -> None:
    t = Transcript()
    alice = await login(server, "alice@localhost/phone")
    bob = await bob_as(server, setup)
    address = "bob@localhost" if to == "bare" else f"bob@localhost/{to}"
    await send(
        server, alice, f"<message to='{address}' type='{stype}' id='m1'><body>hi</body></message>"
    )
    delivered = (
        f"<message to='{address}' type='{stype}' id='m1' from='alice@localhost/phone'>"
        "<body>hi</body></message>"
    )
    receivers = set(expected.split()) if expected not in (ERROR, OFFLINE, DROP) else set()
    for name, session in bob.items():
        if name in receivers:
            expect(t, session, delivered)
        else:
            expect(t, session)
    if expected == ERROR:
        expect_error(t, alice, f"from='{address}'")
    else:
        expect(t, alice)
    if SETUPS[setup] is None:
        return
    # Whatever was kept offline comes with the next initial presence, and only that.
    late = await login(server, "bob@localhost/late")
    await send(server, late, "<presence/>")
    got = [e for e in late.take() if e.tag.endswith("}message")]
    if expected == OFFLINE:
        assert len(got) == 1
        t.match(
            got[0],
            f"<message to='{address}' type='{stype}' id='m1' from='alice@localhost/phone'>"
            "<body>hi</body><delay xmlns='urn:xmpp:delay' from='localhost' stamp='*'/></message>",
        )
    else:
        assert got == []


def test_the_table_covers_every_case() -> None:
    # 8 situations x 2 addresses + 6 situations with a connected r1, times 5 types.
    assert len(CASES) == (8 * 2 + 6) * 5


async def test_without_offline_storage_the_sender_is_told(tmp_path: Path) -> None:
    server = await start_server(tmp_path, modules=["roster", "presence", "message"])
    try:
        t = Transcript()
        alice = await login(server, "alice@localhost/phone")
        await server.accounts.create("bob@localhost", "pw")
        await send(
            server,
            alice,
            "<message to='bob@localhost' type='chat' id='x'><body>hi</body></message>",
        )
        expect_error(t, alice, "from='bob@localhost'", "x")
    finally:
        await server.stop()


async def test_message_without_to_goes_to_the_own_account(server: Server) -> None:
    t = Transcript()
    phone = await login(server, "alice@localhost/phone")
    laptop = await login(server, "alice@localhost/laptop")
    await send(server, laptop, "<presence/>")
    laptop.take()
    await send(server, phone, "<message type='chat' id='n'><body>note</body></message>")
    expect(
        t,
        laptop,
        "<message type='chat' id='n' from='alice@localhost/phone'><body>note</body></message>",
    )


async def test_message_to_another_host(server: Server) -> None:
    t = Transcript()
    alice = await login(server, "alice@localhost/phone")
    erin = await login(server, "erin@example.org/pc")
    await send(server, erin, "<presence/>")
    erin.take()
    await send(
        server, alice, "<message to='erin@example.org' type='chat' id='e'><body>hi</body></message>"
    )
    expect(
        t,
        erin,
        "<message to='erin@example.org' type='chat' id='e' from='alice@localhost/phone'>"
        "<body>hi</body></message>",
    )
