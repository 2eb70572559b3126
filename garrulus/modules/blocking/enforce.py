"""What blocking does to stanzas (XEP-0191 sections 3.5 and 3.6).

Outbound (the user sends to a JID they blocked): refused with ``not-acceptable`` and
``<blocked xmlns='urn:xmpp:blocking:errors'/>``; errors and IQ results are dropped. Inbound (a
blocked JID sends to the user): messages of type chat/normal and IQ get/set get
``service-unavailable`` (as if the user did not exist), everything else is dropped silently.
Presence the server makes for a user (broadcasts, probe answers) is dropped on the way to a JID
that user blocked, except unavailable presence, which is exactly what a blocked contact is owed.

Checks run at :data:`PRIORITY`, before the archive (100), carbons and delivery: a refused
stanza is neither archived nor copied.
"""

from __future__ import annotations

from garrulus.core.event_types import StanzaEvent
from garrulus.core.module_api import ModuleContext
from garrulus.modules.blocking.store import BlocklistStore, is_blocked
from garrulus.xmpp import ns
from garrulus.xmpp.errors import StanzaError
from garrulus.xmpp.jid import JID
from garrulus.xmpp.stanza import can_bounce

PRIORITY = 1000

BLOCKED = StanzaError(
    "not-acceptable", "you have blocked this JID", app_condition=(ns.BLOCKING_ERRORS, "blocked")
)


class Enforcer:
    def __init__(self, module: ModuleContext, store: BlocklistStore) -> None:
        self.module = module
        self.store = store

    async def _blocks(self, user: JID, other: JID) -> bool:
        """Has the local user ``user`` (of any host here) blocked ``other``?"""
        if user.local is None:
            return False
        if user.domain == self.module.host.name:
            store: BlocklistStore | None = self.store
        else:
            store = _store_of(self.module, user.domain)
        if store is None:
            return False
        entries = store.peek(user.local)
        if entries is None:
            entries = await store.get(user.local)
        return is_blocked(entries, other)

    async def outgoing(self, event: StanzaEvent) -> bool | None:
        """``pre-*``: a local client's stanza."""
        if event.origin is None or event.stanza.get("to") is None:
            return None  # to the user's own account: never blocked
        if await self._blocks(event.from_jid, event.to_jid):
            if not can_bounce(event.stanza):
                return True
            raise BLOCKED
        if event.kind == "iq" and await self._blocks(event.to_jid, event.from_jid):
            # IQs to a bare JID are answered by payload routes that fire before iq/bare, where
            # the inbound check below runs: check the recipient's list here as well.
            return _refuse_inbound(event)
        return None

    async def incoming(self, event: StanzaEvent) -> bool | None:
        """``message/*``, ``presence/*``, ``iq/*``: a stanza arriving for a local user."""
        if await self._blocks(event.to_jid, event.from_jid):
            return _refuse_inbound(event)
        if (
            event.origin is None
            and event.from_jid.local is not None
            and not (event.kind == "presence" and event.stanza_type == "unavailable")
            and await self._blocks(event.from_jid, event.to_jid)
        ):
            return True  # server-made stanza of a user to someone they blocked
        return None


def _refuse_inbound(event: StanzaEvent) -> bool:
    stype = event.stanza_type
    if (event.kind == "message" and stype in ("chat", "normal")) or (
        event.kind == "iq" and stype in ("get", "set")
    ):
        raise StanzaError("service-unavailable")
    return True


def _store_of(module: ModuleContext, domain: str) -> BlocklistStore | None:
    """The blocklists of another host of this server, if it runs the blocking module."""
    host = module.server.hosts.get(domain)
    loaded = host.modules.get(module.name) if host is not None else None
    api = getattr(loaded, "api", None)
    store = getattr(api, "store", None)
    return store if isinstance(store, BlocklistStore) else None
