"""Per-user data kept in memory: pinned while the user is online, then in a bounded LRU.

The roster and the blocklist are read for nearly every stanza (archive policy, carbons, blocking),
so after the first load a lookup must be a dict access, never a storage read. Users with a bound
session are never evicted; the LRU holds recently used offline users (the recipients of messages
to offline contacts) so a burst of messages to one of them costs one load.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

from garrulus.core.event_types import SessionEvent
from garrulus.core.module_api import ModuleContext
from garrulus.core.routes import RESOURCE_BOUND, RESOURCE_UNBOUND

T = TypeVar("T")

Loader = Callable[[str], Awaitable[T]]


class UserCache(Generic[T]):
    """Values per username of one host, loaded once by ``loader`` and kept while useful."""

    def __init__(self, module: ModuleContext, loader: Loader[T], lru_size: int = 1024) -> None:
        self._host = module.host
        self._loader = loader
        self._lru_size = lru_size
        self._online: dict[str, T] = {}
        self._lru: OrderedDict[str, T] = OrderedDict()
        self._loading: dict[str, asyncio.Future[T]] = {}
        module.hook(RESOURCE_BOUND, self._bound)
        module.hook(RESOURCE_UNBOUND, self._unbound)

    def _is_online(self, username: str) -> bool:
        return f"{username}@{self._host.name}" in self._host.sessions

    def peek(self, username: str) -> T | None:
        """The cached value, or None when it would need a load."""
        value = self._online.get(username)
        if value is None:
            value = self._lru.get(username)
            if value is not None:
                self._lru.move_to_end(username)
        return value

    async def get(self, username: str) -> T:
        value = self.peek(username)
        if value is not None:
            return value
        pending = self._loading.get(username)
        if pending is not None:
            # Another task is loading this user: share its result instead of a second read.
            return await asyncio.shield(pending)
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self._loading[username] = future
        try:
            value = await self._loader(username)
        except asyncio.CancelledError:
            future.cancel()
            raise
        except Exception as exc:
            future.set_exception(exc)
            future.exception()  # marked as retrieved: nobody else may be waiting
            raise
        finally:
            del self._loading[username]
        self.put(username, value)
        future.set_result(value)
        return value

    def put(self, username: str, value: T) -> None:
        if self._is_online(username):
            self._lru.pop(username, None)
            self._online[username] = value
            return
        self._online.pop(username, None)
        self._lru[username] = value
        self._lru.move_to_end(username)
        while len(self._lru) > self._lru_size:
            self._lru.popitem(last=False)

    def drop(self, username: str) -> None:
        self._online.pop(username, None)
        self._lru.pop(username, None)

    def _bound(self, event: SessionEvent) -> None:
        username = event.session.jid.local
        if username is not None and username in self._lru:
            self._online[username] = self._lru.pop(username)

    def _unbound(self, event: SessionEvent) -> None:
        username = event.session.jid.local
        if username is None or self._is_online(username):
            return
        value = self._online.pop(username, None)
        if value is not None:
            self.put(username, value)
