"""Issue done-when: the profanity console client (Debian package, with /mam on) shows a
contact's archived history when the chat is opened.

alice and bob chat while alice is online on another client (slixmpp), so every message is
delivered live and none is kept for her offline; nor has profanity, started later with a
fresh HOME, any history of its own. When alice then opens the chat with bob in profanity
(``/msg bob@localhost``, with ``/mam on``), the conversation can only come from her archive
(XEP-0313): the test waits for it on profanity's screen and checks in profanity's log that
those bodies did arrive as MAM results and in no other way."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
import slixmpp

from tests.integration.conftest import RunningServer
from tests.integration.profanity import Profanity

pytestmark = pytest.mark.integration

ALICE = "alice@localhost"
BOB = "bob@localhost"
MAM = "urn:xmpp:mam:2"

# (sender, body): the conversation, in order.
CONVERSATION = [
    ("bob", "archived one from bob"),
    ("alice", "archived two from alice"),
    ("bob", "archived three from bob"),
    ("bob", "archived four from bob"),
]


def inbox(xmpp: slixmpp.ClientXMPP) -> asyncio.Queue[slixmpp.Message]:
    queue: asyncio.Queue[slixmpp.Message] = asyncio.Queue()
    xmpp.add_event_handler(
        "message",
        lambda msg: msg["type"] in ("chat", "normal") and msg["body"] and queue.put_nowait(msg),
    )
    return queue


def mam_diagnosis(prof: Profanity) -> str:
    """What profanity and the server said about MAM, for a failure message."""
    notes = [
        line
        for line in prof.log().splitlines()
        if ("MAM" in line or MAM in line) and not (": SENT: " in line or ": RECV: " in line)
    ]
    disco = prof.traffic("http://jabber.org/protocol/disco#info")
    mam = prof.traffic(MAM)
    return "\n".join(
        [
            "profanity's log lines about MAM:",
            *(notes or ["(none)"]),
            "disco#info exchanged:",
            *(disco or ["(none)"]),
            f"stanzas with {MAM}:",
            *(mam or ["(none)"]),
        ]
    )


async def test_profanity_shows_archived_history_when_chat_opens(
    xmpp_server: RunningServer, tmp_path: Path
) -> None:
    await xmpp_server.adduser(ALICE, "alicepw")
    await xmpp_server.adduser(BOB, "bobpw")
    alice = await xmpp_server.client(f"{ALICE}/laptop", "alicepw")
    bob = await xmpp_server.client(f"{BOB}/phone", "bobpw")
    inboxes = {"alice": inbox(alice), "bob": inbox(bob)}

    # Each message is awaited at its recipient: delivered live (so not kept offline), and
    # archived, since archiving comes before delivery.
    for sender, body in CONVERSATION:
        client, to, recipient = (bob, ALICE, "alice") if sender == "bob" else (alice, BOB, "bob")
        client.send_message(mto=to, mbody=body, mtype="chat")
        got = await asyncio.wait_for(inboxes[recipient].get(), 5)
        assert got["body"] == body
    gone: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    alice.add_event_handler("disconnected", lambda _: gone.done() or gone.set_result(None))
    alice.disconnect()
    await asyncio.wait_for(gone, 5)

    prof = Profanity(tmp_path / "home")
    prof.start()
    try:
        await prof.wait_for("Type '/help'")
        # A preference, kept across connections. Profanity 0.13 then queries the archive when a
        # chat window opens, if the server's own disco#info (asked of the domain, never of the
        # account's bare JID) lists urn:xmpp:mam:2; otherwise its log says "Server doesn't
        # advertise urn:xmpp:mam:2 feature." and the console "Server doesn't support MAM."
        await prof.command("/mam on", "Message Archive Management enabled")
        await prof.connect(ALICE, "alicepw", xmpp_server.port)
        prof.type(f"/msg {BOB}")  # opens the chat window, which fetches its history
        await prof.wait_for(f"{BOB} [")  # the chat window's title bar
        try:
            for _sender, body in CONVERSATION:
                screen = await prof.wait_for(body, timeout=10)
        except AssertionError as exc:
            raise AssertionError(f"{exc}\n\n{mam_diagnosis(prof)}") from None
        # In the order they were sent (the archive's order).
        shown = [screen.index(body) for _sender, body in CONVERSATION]
        assert shown == sorted(shown), screen

        # Every copy of those messages profanity got came inside a MAM result.
        for _sender, body in CONVERSATION:
            received = [
                line for line in prof.traffic(f"<body>{body}</body>") if line.startswith("RECV")
            ]
            assert received, f"{body!r} on screen but never received?\n{mam_diagnosis(prof)}"
            for line in received:
                assert "<result " in line and f'xmlns="{MAM}"' in line, f"not from MAM: {line}"
    finally:
        prof.stop()
