"""Blocklists in memory and in the key-value store (key ``blocklist``: a sorted list of JIDs).

Every stanza to or from a user is checked against a blocklist, so reads come from the cache.
"""

from __future__ import annotations

from garrulus.core.module_api import ModuleContext
from garrulus.modules.roster.cache import UserCache
from garrulus.modules.roster.store import UserLocks
from garrulus.xmpp.jid import JID

KEY = "blocklist"


def is_blocked(entries: frozenset[str], jid: JID) -> bool:
    """Does a blocklist cover ``jid`` (XEP-0191 3.2, matching as XEP-0016 2.1 and Prosody)?

    An entry matches itself; a bare JID entry matches all its resources; a domain entry matches
    the domain and every JID at it. Entries are stored prepared, so text equality is JID equality.
    """
    if not entries:
        return False
    if jid.resource is not None and str(jid) in entries:
        return True
    if jid.local is not None and f"{jid.local}@{jid.domain}" in entries:
        return True
    return jid.domain in entries


class BlocklistStore:
    def __init__(self, module: ModuleContext) -> None:
        self._host = module.host.name
        self._keyval = module.keyval
        self.cache: UserCache[frozenset[str]] = UserCache(module, self._load)
        self.locks = UserLocks()

    async def _load(self, username: str) -> frozenset[str]:
        data = await self._keyval.get(self._host, username, KEY)
        return frozenset(data or ())

    def peek(self, username: str) -> frozenset[str] | None:
        return self.cache.peek(username)

    async def get(self, username: str) -> frozenset[str]:
        cached = self.cache.peek(username)
        return cached if cached is not None else await self.cache.get(username)

    async def set(self, username: str, entries: frozenset[str]) -> None:
        if entries:
            await self._keyval.set(self._host, username, KEY, sorted(entries))
        else:
            await self._keyval.delete(self._host, username, KEY)
        self.cache.put(username, entries)

    async def delete(self, username: str) -> None:
        self.cache.drop(username)
        await self._keyval.delete(self._host, username, KEY)
