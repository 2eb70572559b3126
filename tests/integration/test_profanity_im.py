"""exploration draft"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
import slixmpp

from tests.integration.conftest import RunningServer
from tests.integration.profanity import Profanity

pytestmark = pytest.mark.integration


async def test_profanity_im(xmpp_server: RunningServer, tmp_path: Path) -> None:
    await xmpp_server.adduser("alice@localhost", "alicepw")
    await xmpp_server.adduser("bob@localhost", "bobpw")
    bob = await xmpp_server.client("bob@localhost/slix", "bobpw")
    prof = Profanity(tmp_path / "home")
    prof.start()
    try:
        await prof.connect("alice@localhost", "alicepw", xmpp_server.port)
        bob.send_presence(pto="alice@localhost", ptype="subscribe")
        await asyncio.sleep(2)
        print(prof.screen())
        prof.type("/sub allow bob@localhost")
        await asyncio.sleep(1)
        prof.type("/sub request bob@localhost")
        await asyncio.sleep(2)
        prof.type("/who")
        await asyncio.sleep(1)
        prof.type("/roster")
        await asyncio.sleep(1)
        print(prof.screen())
    finally:
        Path("/tmp/garrulus-profhelper/im.log").write_text(prof.log())
        prof.stop()
