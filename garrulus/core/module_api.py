"""The module API (after Prosody's moduleapi): everything a module may do, through one context.

Whatever a module registers through its :class:`ModuleContext` is undone when it unloads, so
modules carry no cleanup code of their own.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Coroutine
from typing import TYPE_CHECKING, Any
from xml.etree.ElementTree import Element

from garrulus.core.event_types import StanzaEvent
from garrulus.core.events import Handler
from garrulus.core.host import Identity

if TYPE_CHECKING:
    from garrulus.core.host import Host
    from garrulus.core.server import Server
    from garrulus.storage.api import AccountStore, ArchiveStore, KeyValueStore

TimerFn = Callable[[], Awaitable[None] | None]


class ModuleError(Exception):
    """A module could not load: a missing dependency, a clashing handler, a bad option."""


class ModuleContext:
    def __init__(self, name: str, host: Host, options: frozenset[str]) -> None:
        self.name = name
        self.host = host
        self.server: Server = host.server
        self.log = logging.getLogger(f"garrulus.mod.{name}.{host.name}")
        self._options = options
        self._undo: list[Callable[[], None]] = []
        self._tasks: set[asyncio.Task[None]] = set()

    # -- events ---------------------------------------------------------------------------

    def hook(self, event: str, handler: Handler, priority: int = 0) -> None:
        """Handle ``event`` on this host; the first handler returning non-None ends the chain."""
        self._undo.append(self.host.events.hook(event, handler, priority))

    def hook_exclusive(self, event: str, handler: Handler, priority: int = 0) -> None:
        """Like :meth:`hook`, for events only one module may answer (IQ payload routes)."""
        if self.host.events.has(event):
            raise ModuleError(f"module {self.name!r}: another module already handles {event!r}")
        self.hook(event, handler, priority)

    async def fire(self, event: str, payload: Any) -> Any:
        return await self.host.events.fire(event, payload)

    # -- disco ----------------------------------------------------------------------------

    def add_feature(self, var: str) -> None:
        """A feature of the host's disco#info."""
        self._refcount(self.host.features, var)

    def add_account_feature(self, var: str) -> None:
        """A feature of every local user's bare-JID disco#info."""
        self._refcount(self.host.account_features, var)

    def add_identity(self, category: str, type_: str, name: str | None = None) -> None:
        self._refcount(self.host.identities, Identity(category, type_, name))

    def _refcount(self, table: dict[Any, int], key: Any) -> None:
        table[key] = table.get(key, 0) + 1

        def undo() -> None:
            table[key] -= 1
            if table[key] <= 0:
                del table[key]

        self._undo.append(undo)

    # -- configuration and storage ---------------------------------------------------------

    def option(self, name: str) -> Any:
        """A typed option value for this host; must be declared by the module or the core."""
        if name not in self._options:
            raise ModuleError(f"module {self.name!r} reads option {name!r} it did not declare")
        return self.server.config.get(name, self.host.name)

    @property
    def accounts(self) -> AccountStore:
        return self.server.storage.accounts

    @property
    def keyval(self) -> KeyValueStore:
        return self.server.storage.keyval

    @property
    def archive(self) -> ArchiveStore:
        return self.server.storage.archive

    def depends(self, other: str) -> Any:
        """Load ``other`` on this host if needed and return its API (its setup's return value)."""
        loaded = self.host.modules.get(other)
        if loaded is None:
            raise ModuleError(
                f"module {self.name!r} needs module {other!r}; add it to modules_enabled"
            )
        return loaded.api

    # -- routing ----------------------------------------------------------------------------

    async def reply(self, event: StanzaEvent, payload: Element | None = None) -> bool:
        """Answer an IQ get/set with a result carrying ``payload``; returns True (handled)."""
        stanza = event.stanza
        result = Element(
            stanza.tag, {"type": "result", "to": str(event.from_jid), "from": str(event.to_jid)}
        )
        if stanza.get("id") is not None:
            result.set("id", stanza.get("id") or "")
        if payload is not None:
            result.append(payload)
        await self.server.router.reply(event, result)
        return True

    async def send(self, stanza: Element) -> None:
        """Route a stanza from the server (its ``from`` must be set)."""
        await self.server.router.route_from_server(stanza, self.host)

    # -- time -----------------------------------------------------------------------------

    def every(self, seconds: float, fn: TimerFn, *, first_after: float | None = None) -> None:
        """Run ``fn`` every ``seconds``; a failing run is logged and the timer goes on."""

        async def loop() -> None:
            await asyncio.sleep(seconds if first_after is None else first_after)
            while True:
                try:
                    result = fn()
                    if result is not None:
                        await result
                except asyncio.CancelledError:
                    raise
                except Exception:
                    self.log.exception("timer of module %s failed", self.name)
                await asyncio.sleep(seconds)

        self.spawn(loop())

    def daily(self, fn: TimerFn, *, first_after: float = 60.0) -> None:
        self.every(86400.0, fn, first_after=first_after)

    def spawn(self, coro: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        """Run a background task owned by this module (cancelled on unload)."""
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    def on_unload(self, fn: Callable[[], None]) -> None:
        self._undo.append(fn)

    def unload(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        while self._undo:
            undo = self._undo.pop()
            try:
                undo()
            except Exception:
                self.log.exception("undo step of module %s failed", self.name)
