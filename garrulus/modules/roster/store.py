"""Rosters in memory and in the key-value store (one JSON document per user, key ``roster``).

A roster is small and changes rarely, so it is written whole; every read is served from the
:class:`~garrulus.modules.roster.cache.UserCache`. Saves of one user are serialised so a slow
write can never land after a newer one.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from garrulus.core.module_api import ModuleContext
from garrulus.modules.roster.cache import UserCache
from garrulus.modules.roster.item import RosterItem

KEY = "roster"


@dataclass
class Roster:
    """One user's roster. Mutated only through :class:`RosterStore`, which saves and versions it.

    ``pending`` holds inbound subscription requests (RFC 6121 3.1.3) by the requester's bare JID,
    as the serialised ``<presence type='subscribe'/>`` to deliver again at the next login; a
    requester is not a roster item until the user answers (RFC 6121 3.1.3 says the server SHOULD
    NOT add one).
    """

    items: dict[str, RosterItem] = field(default_factory=dict)
    pending: dict[str, str] = field(default_factory=dict)
    version: int = 0
    # Part of every version string, new for every new roster: a client caching the roster of a
    # deleted account never takes a re-created one's version for its own.
    epoch: str = field(default_factory=lambda: secrets.token_hex(4))

    @property
    def ver(self) -> str:
        """The roster version string (RFC 6121 2.6), changed by every item change."""
        return f"{self.epoch}-{self.version}"

    def to_json(self) -> dict[str, Any]:
        return {
            "epoch": self.epoch,
            "version": self.version,
            "items": [item.to_json() for item in self.items.values()],
            "pending": dict(self.pending),
        }

    @staticmethod
    def from_json(data: dict[str, Any]) -> Roster:
        items = (RosterItem.from_json(raw) for raw in data.get("items", ()))
        return Roster(
            items={item.jid: item for item in items},
            pending={str(k): str(v) for k, v in data.get("pending", {}).items()},
            version=int(data.get("version", 0)),
            epoch=str(data.get("epoch") or secrets.token_hex(4)),
        )


class UserLocks:
    """One asyncio lock per user, kept only while someone holds or waits for it."""

    def __init__(self) -> None:
        self._locks: dict[str, tuple[asyncio.Lock, list[int]]] = {}

    @contextlib.asynccontextmanager
    async def hold(self, username: str) -> AsyncIterator[None]:
        lock, users = self._locks.setdefault(username, (asyncio.Lock(), [0]))
        users[0] += 1
        try:
            async with lock:
                yield
        finally:
            users[0] -= 1
            if users[0] == 0:
                del self._locks[username]


class RosterStore:
    def __init__(self, module: ModuleContext) -> None:
        self._host = module.host.name
        self._keyval = module.keyval
        self.cache: UserCache[Roster] = UserCache(module, self._load)
        self._locks = UserLocks()

    async def _load(self, username: str) -> Roster:
        data = await self._keyval.get(self._host, username, KEY)
        return Roster() if data is None else Roster.from_json(data)

    async def get(self, username: str) -> Roster:
        return await self.cache.get(username)

    def peek(self, username: str) -> Roster | None:
        return self.cache.peek(username)

    async def save(self, username: str, roster: Roster, *, changed_items: bool) -> None:
        """Persist ``roster`` (already changed in memory); a new version if items changed."""
        if changed_items:
            roster.version += 1
        async with self._locks.hold(username):
            # Serialised inside the lock: whoever writes last writes the newest state.
            await self._keyval.set(self._host, username, KEY, roster.to_json())

    async def delete(self, username: str) -> None:
        self.cache.drop(username)
        await self._keyval.delete(self._host, username, KEY)
