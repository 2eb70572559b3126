"""XEP-0191 blocking command.

Wiring only: blocklists and their matching in :mod:`.store`, the IQ protocol and the presence
it implies in :mod:`.commands`, what blocking does to stanzas in :mod:`.enforce`.
"""

from __future__ import annotations

from typing import Any

from garrulus.core.event_types import UserEvent
from garrulus.core.module_api import ModuleContext
from garrulus.core.options import Option
from garrulus.core.routes import USER_DELETED, Kind, Target, iq_route, stanza_route
from garrulus.modules.blocking.commands import Commands
from garrulus.modules.blocking.enforce import PRIORITY, Enforcer
from garrulus.modules.blocking.store import BlocklistStore, is_blocked
from garrulus.modules.roster import RosterAPI
from garrulus.xmpp import ns
from garrulus.xmpp.jid import JID

OPTIONS: tuple[Option[Any], ...] = ()
DEPENDS = ("roster", "presence")

_KINDS: tuple[Kind, ...] = ("message", "presence", "iq")
_OUT_TARGETS: tuple[Target, ...] = ("bare", "full", "host")
_IN_TARGETS: tuple[Target, ...] = ("bare", "full")


class BlockingAPI:
    """What other modules get from ``module.depends("blocking")``."""

    def __init__(self, store: BlocklistStore) -> None:
        self.store = store

    async def blocklist(self, username: str) -> frozenset[str]:
        return await self.store.get(username)

    async def is_blocked(self, username: str, jid: JID) -> bool:
        """Has the user blocked ``jid`` (directly, by bare JID or by domain)?"""
        return is_blocked(await self.store.get(username), jid)


def setup(module: ModuleContext) -> BlockingAPI:
    roster: RosterAPI = module.depends("roster")
    store = BlocklistStore(module)
    commands = Commands(module, store, roster)
    enforcer = Enforcer(module, store)
    # XEP-0191 2 has clients ask their server; clients also look on their own account.
    module.add_feature(ns.BLOCKING)
    module.add_account_feature(ns.BLOCKING)

    async def user_deleted(event: UserEvent) -> None:
        await store.delete(event.username)

    module.hook(iq_route("get", "self", ns.BLOCKING, "blocklist"), commands.get)
    module.hook(iq_route("set", "self", ns.BLOCKING, "block"), commands.block)
    module.hook(iq_route("set", "self", ns.BLOCKING, "unblock"), commands.unblock)
    for kind in _KINDS:
        for target in _OUT_TARGETS:
            module.hook(stanza_route(kind, target, outgoing=True), enforcer.outgoing, PRIORITY)
        for target in _IN_TARGETS:
            module.hook(stanza_route(kind, target), enforcer.incoming, PRIORITY)
    module.hook(USER_DELETED, user_deleted)
    return BlockingAPI(store)
