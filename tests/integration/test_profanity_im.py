"""Issue done-when: the profanity console client logs in, sees a contact and sends a message
that a slixmpp client receives.

alice uses profanity (driven through tmux), bob slixmpp. bob asks for alice's presence,
alice allows it and asks back in profanity (``/sub allow``, ``/sub request``), bob's client
approves automatically; then profanity's ``/roster`` shows bob with subscription "both" and
``/who`` shows him online, and a ``/msg`` from profanity reaches bob's client."""

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


def traffic_with_bob(prof: Profanity) -> str:
    return "\n".join(prof.traffic(BOB)) or "(nothing: is profanity's log at DEBUG?)"


async def test_profanity_sees_contact_online_and_messages_slixmpp(
    xmpp_server: RunningServer, tmp_path: Path
) -> None:
    await xmpp_server.adduser(ALICE, "alicepw")
    await xmpp_server.adduser(BOB, "bobpw")
    bob = await xmpp_server.client(f"{BOB}/slix", "bobpw")
    await bob.get_roster()  # an interested resource: the server pushes roster changes to it
    bob.auto_authorize = True  # approve alice's subscription request ...
    bob.auto_subscribe = True  # ... (and ask back, which is already done here)
    inbox: asyncio.Queue[slixmpp.Message] = asyncio.Queue()
    bob.add_event_handler(
        "message",
        lambda msg: msg["type"] in ("chat", "normal") and msg["body"] and inbox.put_nowait(msg),
    )

    prof = Profanity(tmp_path / "home")
    prof.start()
    try:
        await prof.connect(ALICE, "alicepw", xmpp_server.port)
        try:
            # bob asks for alice's presence; alice allows it and asks for his.
            bob.send_presence(pto=ALICE, ptype="subscribe")
            await prof.wait_for(f"Received authorization request from {BOB}")
            await prof.command(f"/sub allow {BOB}", f"Accepted subscription for {BOB}")
            await prof.command(f"/sub request {BOB}", f"Sent subscription request to {BOB}")
            await prof.wait_for(f"Subscription received from {BOB}")

            # The roster, as the server pushed it to profanity: bob, both ways.
            roster = await prof.command("/roster", "Roster: jid (nick) - subscription - groups")
            assert f"  {BOB} - both" in roster, roster
            # Presence: bob's available resource reached alice, so /who lists him online
            # (asked again until it does: his presence may still be on its way).
            loop = asyncio.get_running_loop()
            deadline = loop.time() + 10
            while f"{BOB} is online" not in (who := await prof.command("/who", "All contacts:")):
                assert loop.time() < deadline, f"profanity never listed {BOB} online:\n{who}"
                await asyncio.sleep(0.5)
            # And bob's side, as the server pushed it to bob's client.
            while (sub := str(bob.client_roster[ALICE]["subscription"])) != "both":
                assert loop.time() < deadline, f"bob's roster has alice with {sub!r}"
                await asyncio.sleep(0.1)
        except AssertionError as exc:
            raise AssertionError(
                f"{exc}\n\nprofanity's stanzas about bob:\n{traffic_with_bob(prof)}"
            ) from None

        prof.type(f"/msg {BOB} hello bob")
        msg = await asyncio.wait_for(inbox.get(), 10)
        assert msg["body"] == "hello bob"
        assert msg["type"] == "chat"
        assert str(msg["from"].bare) == ALICE
        assert str(msg["to"].bare) == BOB
        await prof.wait_for("me: hello bob")
    finally:
        prof.stop()
