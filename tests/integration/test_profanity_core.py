"""Issue 2 done-when: the profanity console client logs in over TLS with SCRAM and exchanges a
message with a slixmpp client."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
import slixmpp

from tests.integration.conftest import RunningServer
from tests.integration.profanity import Profanity

pytestmark = [
    pytest.mark.integration,
    pytest.mark.server_config('modules_enabled = ["disco", "ping", "version", "time", "register"]'),
]


async def test_profanity_and_slixmpp_exchange_messages(
    xmpp_server: RunningServer, tmp_path: Path
) -> None:
    await xmpp_server.adduser("alice@localhost", "alicepw")
    await xmpp_server.adduser("bob@localhost", "bobpw")
    bob = await xmpp_server.client("bob@localhost/slix", "bobpw")
    got: asyncio.Future[slixmpp.Message] = asyncio.get_running_loop().create_future()
    bob.add_event_handler("message", lambda m: got.done() or (m["body"] and got.set_result(m)))
    prof = Profanity(tmp_path / "home")
    prof.start()
    try:
        await prof.connect("alice@localhost", "alicepw", xmpp_server.port)
        session = next(
            iter(xmpp_server.server.hosts["localhost"].user_sessions("alice@localhost").values())
        )
        assert session.secure  # type: ignore[attr-defined]
        assert session.sasl_mech.startswith("SCRAM")  # type: ignore[attr-defined]
        prof.type("/msg bob@localhost/slix hello from profanity")
        msg = await asyncio.wait_for(got, 15)
        assert msg["body"] == "hello from profanity"
        assert str(msg["from"].bare) == "alice@localhost"
        bob.send_message(mto=msg["from"], mbody="hello back from slixmpp", mtype="chat")
        await prof.wait_in_any_window("hello back from slixmpp")
    finally:
        prof.stop()
