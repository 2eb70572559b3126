"""Per-user archive preferences (XEP-0441), stored in the key-value store and cached."""

from __future__ import annotations

from collections import OrderedDict
from typing import TYPE_CHECKING

from garrulus.modules.mam.policy import DefaultPolicy
from garrulus.modules.mam.prefs import Prefs, from_json, to_json

if TYPE_CHECKING:
    from garrulus.core.module_api import ModuleContext

PREFS_KEY = "mam_prefs"
_CACHE_SIZE = 20000


class PrefsStore:
    def __init__(self, module: ModuleContext) -> None:
        self.module = module
        self.host = module.host.name
        self.default = Prefs(module.option("default_archive_policy"))
        self.smart_enable = bool(module.option("mam_smart_enable"))
        self._never = Prefs(DefaultPolicy.NEVER)
        self._cache: OrderedDict[str, Prefs | None] = OrderedDict()

    async def stored(self, username: str) -> Prefs | None:
        if username in self._cache:
            self._cache.move_to_end(username)
            return self._cache[username]
        raw = await self.module.keyval.get(self.host, username, PREFS_KEY)
        prefs = from_json(raw) if raw is not None else None
        self._cache[username] = prefs
        if len(self._cache) > _CACHE_SIZE:
            self._cache.popitem(last=False)
        return prefs

    async def get(self, username: str) -> Prefs:
        """The effective prefs: the user's own, else the server default. With mam_smart_enable
        (as in Prosody) a user who never used the archive gets nothing archived."""
        return self._effective(await self.stored(username))

    def cached(self, username: str) -> Prefs | None:
        """The effective prefs if known without asking the store, else None."""
        cache = self._cache
        if username not in cache:
            return None
        cache.move_to_end(username)
        return self._effective(cache[username])

    def _effective(self, prefs: Prefs | None) -> Prefs:
        if prefs is not None:
            return prefs
        if self.smart_enable:
            return self._never
        return self.default

    async def set(self, username: str, prefs: Prefs) -> None:
        await self.module.keyval.set(self.host, username, PREFS_KEY, to_json(prefs))
        self._cache[username] = prefs

    async def touch(self, username: str) -> None:
        """With mam_smart_enable, a user's first use of the archive turns archiving on."""
        if self.smart_enable and await self.stored(username) is None:
            await self.set(username, self.default)

    def forget(self, username: str) -> None:
        self._cache.pop(username, None)
