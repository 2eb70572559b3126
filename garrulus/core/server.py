"""The server: config, hosts, storage, router, listeners; start and clean shutdown."""

from __future__ import annotations

import asyncio
import errno
import logging
import secrets
from pathlib import Path
from typing import TYPE_CHECKING, Any

from garrulus.core import delivery, pipeline
from garrulus.core.accounts import Accounts
from garrulus.core.clock import Clock, SystemClock
from garrulus.core.core_options import CORE_OPTIONS
from garrulus.core.host import Host
from garrulus.core.modules import load_module, unload_module
from garrulus.core.router import Router
from garrulus.core.routes import SERVER_STOPPING
from garrulus.core.throttle import FailureThrottle
from garrulus.xmpp.errors import StreamError
from garrulus.xmpp.xml import el, qname

if TYPE_CHECKING:
    from garrulus.core.config import Config
    from garrulus.net.c2s import C2SConnection
    from garrulus.net.tls import TlsConfig
    from garrulus.storage.api import StoreSet

log = logging.getLogger("garrulus.server")


class StartupError(Exception):
    """The server cannot start (port busy, certificate unreadable ...); the message says why."""


class Server:
    def __init__(self, config: Config, clock: Clock | None = None) -> None:
        self.config = config
        self.clock: Clock = clock or SystemClock()
        self.hosts: dict[str, Host] = {}
        self.router = Router(self)
        self.accounts = Accounts(self)
        self.storage: StoreSet
        self._storage_handle: Any = None
        self.connections: set[C2SConnection] = set()
        self.listeners: list[asyncio.Server] = []
        self.tls: TlsConfig | None = None
        self.auth_throttle = FailureThrottle(
            config.get("max_auth_failures"), float(config.get("auth_failure_window"))
        )
        self.core_option_names = frozenset(o.name for o in CORE_OPTIONS)
        self.default_host = config.hosts[0]
        self.ports: dict[str, list[int]] = {"c2s": [], "c2s_direct_tls": []}
        self._sweeper: asyncio.Task[None] | None = None
        self.started = False

    # -- start -------------------------------------------------------------------------------

    async def open_storage(self) -> None:
        from garrulus.storage.manager import STORE_KINDS, open_storage

        backend_for = {kind: self.config.storage_backend(kind) for kind in STORE_KINDS}
        sql_url = self.config.sql_url() if "sql" in backend_for.values() else None
        self.storage = await open_storage(backend_for, sql_url, clock=self.clock.now)
        self._storage_handle = self.storage

    async def start(self, *, listen: bool = True) -> None:
        data_path = Path(self.config.data_path)
        data_path.mkdir(parents=True, exist_ok=True)
        await self.open_storage()
        for name in self.config.hosts:
            host = Host(name, self)
            self.hosts[name] = host
            delivery.install(host)
            pipeline.install(host)
        for host in self.hosts.values():
            for name in self.config.modules_for(host.name):
                await load_module(host, name, self.core_option_names)
        if listen:
            self.tls = self._load_tls()
            await self._listen()
            self._sweeper = asyncio.get_running_loop().create_task(self._sweep_idle())
        self.started = True
        log.info("Garrulus serving %s", ", ".join(self.hosts))

    def _load_tls(self) -> TlsConfig | None:
        from garrulus.net.tls import load_tls

        cert, key, generate = self.config.tls_files()
        try:
            return load_tls(Path(cert), Path(key), list(self.hosts), generate)
        except (OSError, ValueError) as exc:
            raise StartupError(
                f"cannot load the TLS certificate {cert} / key {key} "
                f"(options 'ssl' / 'certificates'): {exc}"
            ) from None

    async def _listen(self) -> None:
        from garrulus.net.c2s import C2SConnection

        loop = asyncio.get_running_loop()
        interfaces = self.config.get("c2s_interfaces")
        plans: list[tuple[str, int, bool]] = [
            *(("c2s_ports", p, False) for p in self.config.get("c2s_ports")),
            *(("c2s_direct_tls_ports", p, True) for p in self.config.get("c2s_direct_tls_ports")),
        ]
        for option, port, direct in plans:
            if direct and self.tls is None:
                continue
            ssl_ctx = self.tls.context if (direct and self.tls) else None
            tls = self.tls
            try:
                listener = await loop.create_server(
                    lambda d=direct, t=tls: C2SConnection(self, t, d),  # type: ignore[misc]
                    host=interfaces,
                    port=port,
                    ssl=ssl_ctx,
                    backlog=512,
                    reuse_address=True,
                    ssl_handshake_timeout=30 if ssl_ctx else None,
                )
            except OSError as exc:
                await self.stop_listeners()
                if exc.errno == errno.EADDRINUSE:
                    raise StartupError(
                        f"port {port} (option '{option}') is already in use on "
                        f"{', '.join(interfaces)}: is another server running?"
                    ) from None
                raise StartupError(
                    f"cannot listen on port {port} (option '{option}'): {exc}"
                ) from None
            self.listeners.append(listener)
            bound = sorted({s.getsockname()[1] for s in listener.sockets})
            self.ports["c2s_direct_tls" if direct else "c2s"].extend(bound)
            log.info(
                "listening for clients on %s port %s%s",
                ", ".join(interfaces),
                ",".join(map(str, bound)),
                " (direct TLS)" if direct else "",
            )

    async def _sweep_idle(self) -> None:
        """Ping connections silent for c2s_idle_timeout; close those that stay silent."""
        idle = float(self.config.get("c2s_idle_timeout"))
        grace = min(60.0, idle / 2)
        while True:
            await asyncio.sleep(max(1.0, min(idle, grace) / 2))
            now = asyncio.get_running_loop().time()
            for conn in list(self.connections):
                silent = now - conn.last_read
                if not conn.bound or conn.closing:
                    continue
                if silent > idle + grace:
                    conn.close(StreamError("connection-timeout", "no answer to our ping"))
                elif silent > idle and not conn.state.get("_idle_pinged"):
                    conn.state["_idle_pinged"] = True
                    conn.send(
                        el(
                            qname("jabber:client", "iq"),
                            {
                                "type": "get",
                                "id": "idle-" + secrets.token_hex(4),
                                "from": conn.host.name,
                                "to": str(conn.jid),
                            },
                            el("{urn:xmpp:ping}ping"),
                        )
                    )
                elif silent <= idle:
                    conn.state.pop("_idle_pinged", None)

    # -- stop --------------------------------------------------------------------------------

    async def stop_listeners(self) -> None:
        for listener in self.listeners:
            listener.close()
        for listener in self.listeners:
            await listener.wait_closed() if False else None
        self.listeners.clear()

    async def stop(self) -> None:
        """Clean shutdown: no new connections, sessions told, storage flushed and closed."""
        log.info("shutting down")
        if self._sweeper is not None:
            self._sweeper.cancel()
        await self.stop_listeners()
        for host in self.hosts.values():
            try:
                await host.events.fire(SERVER_STOPPING, host)
            except Exception:
                log.exception("server-stopping handlers failed on %s", host.name)
        conns = list(self.connections)
        for conn in conns:
            conn.close(StreamError("system-shutdown", "the server is shutting down"))
        workers = [c.worker for c in conns if c.worker is not None]
        if workers:
            await asyncio.wait(workers, timeout=5)
        for host in self.hosts.values():
            for name in reversed(list(host.modules)):
                unload_module(host, name)
        if self._storage_handle is not None:
            await self._storage_handle.close()
            self._storage_handle = None
        self.started = False
        log.info("stopped")
