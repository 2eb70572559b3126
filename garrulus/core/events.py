"""The event bus: named events, handlers by priority, the first answer ends the chain.

After Prosody's util.events: a handler returns None to pass the event on, anything else to stop
it. Handlers may be plain functions or coroutines; plain ones avoid a coroutine per event on the
hot path (every message passes through several of these).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

log = logging.getLogger("garrulus.events")

Handler = Callable[[Any], Any]


def _awaitable(value: object) -> bool:
    """``inspect.isawaitable`` for what handlers return (None, plain values, coroutines,
    futures) without its abstract-class instance check: it runs for every handler of every
    message."""
    if value is None or value is True or value is False:
        return False
    return hasattr(type(value), "__await__")


class EventBus:
    def __init__(self) -> None:
        # name -> list of (priority, seq, handler), sorted highest priority first, then oldest.
        self._handlers: dict[str, list[tuple[int, int, Handler]]] = {}
        self._chains: dict[str, tuple[Handler, ...]] = {}
        self._seq = 0

    def hook(self, name: str, handler: Handler, priority: int = 0) -> Callable[[], None]:
        """Add a handler; returns the function that removes it."""
        self._seq += 1
        entry = (priority, self._seq, handler)
        entries = self._handlers.setdefault(name, [])
        entries.append(entry)
        entries.sort(key=lambda e: (-e[0], e[1]))
        self._chains[name] = tuple(e[2] for e in entries)

        def unhook() -> None:
            items = self._handlers.get(name)
            if items and entry in items:
                items.remove(entry)
                if items:
                    self._chains[name] = tuple(e[2] for e in items)
                else:
                    del self._handlers[name]
                    del self._chains[name]

        return unhook

    def has(self, name: str) -> bool:
        return name in self._chains

    def handlers(self, name: str) -> tuple[Handler, ...]:
        return self._chains.get(name, ())

    async def fire(self, name: str, event: Any) -> Any:
        """Run handlers in order; returns the first non-None result (None if all passed)."""
        result = self.ask(name, event)
        if _awaitable(result):
            return await result
        return result

    def ask(self, name: str, event: Any) -> Any:
        """:meth:`fire` without a coroutine while every handler answers synchronously (a hot
        question asked per message): the first non-None result, or, as soon as a handler
        returns an awaitable, an awaitable of that result."""
        chain = self._chains.get(name, ())
        for index, handler in enumerate(chain):
            result = handler(event)
            if _awaitable(result):
                return self._finish(chain, index + 1, result, event)
            if result is not None:
                return result
        return None

    @staticmethod
    async def _finish(
        chain: tuple[Handler, ...], start: int, pending: Awaitable[Any], event: Any
    ) -> Any:
        result = await pending
        if result is not None:
            return result
        for handler in chain[start:]:
            result = handler(event)
            if _awaitable(result):
                result = await result
            if result is not None:
                return result
        return None

    def fire_sync(self, name: str, event: Any) -> Any:
        """For events whose handlers are all plain functions (collect-style events)."""
        for handler in self._chains.get(name, ()):
            result = handler(event)
            if _awaitable(result):
                raise TypeError(f"handler {handler!r} of sync event {name!r} is a coroutine")
            if result is not None:
                return result
        return None
