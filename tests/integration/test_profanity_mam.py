"""exploration draft"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
import slixmpp

from tests.integration.conftest import RunningServer
from tests.integration.profanity import Profanity

pytestmark = pytest.mark.integration


async def test_profanity_mam(xmpp_server: RunningServer, tmp_path: Path) -> None:
    await xmpp_server.adduser("alice@localhost", "alicepw")
    await xmpp_server.adduser("bob@localhost", "bobpw")
    alice = await xmpp_server.client("alice@localhost/slix", "alicepw")
    bob = await xmpp_server.client("bob@localhost/slix", "bobpw")
    q: asyncio.Queue = asyncio.Queue()
    alice.add_event_handler("message", lambda m: m["body"] and q.put_nowait(m))
    for i in range(3):
        bob.send_message(mto="alice@localhost", mbody=f"archived note {i}", mtype="chat")
        m = await asyncio.wait_for(q.get(), 5)
        print(m)
    alice.disconnect()
    await asyncio.sleep(0.5)
    prof = Profanity(tmp_path / "home")
    prof.start()
    try:
        await prof.wait_for("Type '/help'")
        prof.type("/mam on")
        await asyncio.sleep(0.5)
        print(prof.screen()[-2000:])
        await prof.connect("alice@localhost", "alicepw", xmpp_server.port)
        await asyncio.sleep(1)
        prof.type("/msg bob@localhost")
        await asyncio.sleep(4)
        print(prof.screen())
    finally:
        Path("/tmp/garrulus-profhelper/mam.log").write_text(prof.log())
        prof.stop()
