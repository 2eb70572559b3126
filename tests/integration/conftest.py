"""The real server on free loopback ports, in the test's event loop, and slixmpp clients for it."""

from __future__ import annotations

import asyncio
import socket
import ssl
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import slixmpp

from garrulus.core.config import load_config
from garrulus.core.core_options import CORE_OPTIONS
from garrulus.core.modules import known_option_sets
from garrulus.core.server import Server


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class RunningServer:
    server: Server
    port: int
    tls_port: int
    host: str = "localhost"
    clients: list[slixmpp.ClientXMPP] = field(default_factory=list)

    async def adduser(self, jid: str, password: str = "secret") -> None:
        await self.server.accounts.create(jid, password)

    async def client(
        self,
        jid: str,
        password: str = "secret",
        *,
        direct_tls: bool = False,
        plugins: tuple[str, ...] = ("xep_0030", "xep_0199"),
        timeout: float = 10.0,
        presence: bool = True,
    ) -> slixmpp.ClientXMPP:
        """A logged-in slixmpp client (session started, initial presence sent if asked)."""
        xmpp = slixmpp.ClientXMPP(jid, password)
        xmpp.ssl_context.check_hostname = False
        xmpp.ssl_context.verify_mode = ssl.CERT_NONE
        xmpp.use_aiodns = False
        xmpp.use_ipv6 = False
        xmpp.enable_direct_tls = direct_tls
        xmpp.enable_starttls = not direct_tls
        for plugin in plugins:
            xmpp.register_plugin(plugin)
        started: asyncio.Future[None] = asyncio.get_running_loop().create_future()

        def on_start(_event: Any) -> None:
            if presence:
                xmpp.send_presence()
            if not started.done():
                started.set_result(None)

        def on_fail(event: Any) -> None:
            if not started.done():
                started.set_exception(AssertionError(f"login of {jid} failed: {event}"))

        xmpp.add_event_handler("session_start", on_start)
        xmpp.add_event_handler("failed_auth", on_fail)
        xmpp.add_event_handler("connection_failed", on_fail)
        xmpp.connect("127.0.0.1", self.tls_port if direct_tls else self.port)
        await asyncio.wait_for(started, timeout)
        self.clients.append(xmpp)
        return xmpp


def write_integration_config(tmp_path: Path, port: int, tls_port: int, extra: str = "") -> Path:
    path = tmp_path / "garrulus.toml"
    path.write_text(
        f'data_path = "{tmp_path / "data"}"\n'
        f"c2s_ports = [{port}]\n"
        f"c2s_direct_tls_ports = [{tls_port}]\n"
        f"{extra}\n"
    )
    return path


async def start_tcp_server(tmp_path: Path, extra: str = "") -> RunningServer:
    port, tls_port = free_port(), free_port()
    path = write_integration_config(tmp_path, port, tls_port, extra)
    config = load_config(path, {"core": CORE_OPTIONS, **known_option_sets()})
    server = Server(config)
    await server.start()
    return RunningServer(server, port, tls_port)


@pytest.fixture
async def xmpp_server(
    tmp_path: Path, request: pytest.FixtureRequest
) -> AsyncIterator[RunningServer]:
    # Every server_config marker (module-level and the test's own) adds its lines.
    extra = "\n".join(m.args[0] for m in reversed(list(request.node.iter_markers("server_config"))))
    running = await start_tcp_server(tmp_path, extra)
    try:
        yield running
    finally:
        for xmpp in running.clients:
            xmpp.disconnect(wait=False) if hasattr(xmpp, "disconnect") else None
        await asyncio.sleep(0.05)
        await running.server.stop()
