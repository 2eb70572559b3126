"""Subscription stanzas (RFC 6121 section 3) in both directions, driven by the pure table of
:mod:`garrulus.modules.presence.subscription` and stored in the roster.
"""

from __future__ import annotations

import copy

from garrulus.core.event_types import StanzaEvent
from garrulus.core.module_api import ModuleContext
from garrulus.modules.presence.notify import (
    available_sessions,
    route,
    send_current,
    send_unavailable,
)
from garrulus.modules.presence.subscription import (
    Direction,
    Outcome,
    SubState,
    SubType,
    transition,
)
from garrulus.modules.roster import RosterAPI
from garrulus.xmpp.jid import JID
from garrulus.xmpp.stanza import PRESENCE
from garrulus.xmpp.xml import el, to_xml

SUB_TYPES = {t.value: t for t in SubType}


class Subscribing:
    def __init__(self, module: ModuleContext, roster: RosterAPI) -> None:
        self.module = module
        self.host = module.host
        self.roster = roster

    async def _state(self, username: str, contact: str) -> SubState:
        roster = await self.roster.roster(username)
        return SubState.of(roster.items.get(contact), contact in roster.pending)

    async def _store(
        self, username: str, contact: str, old: SubState, new: SubState, request: str | None
    ) -> None:
        if new != old or request is not None:
            await self.roster.update_subscription(
                username,
                contact,
                subscription=new.subscription,
                ask=new.pending_out,
                approved=new.approved,
                pending_in=new.pending_in,
                request=request,
            )

    async def outbound(self, event: StanzaEvent, kind: SubType) -> bool:
        """A subscription stanza the user sent (RFC 6121 3.1.2, 3.2.2, 3.3.2, A.2)."""
        owner = event.from_jid.bare
        contact = event.to_jid.bare
        if contact == owner:
            return True  # one's own presence needs no subscription: nothing to do
        username = owner.local or ""
        old = await self._state(username, str(contact))
        outcome = transition(old, kind, Direction.OUTBOUND)
        await self._store(username, str(contact), old, outcome.state, None)
        if outcome.forward:
            # Subscriptions are between bare JIDs: the server stamps both (RFC 6121 3.1.2).
            event.stanza.set("from", str(owner))
            event.stanza.set("to", str(contact))
            event.from_jid, event.to_jid = owner, contact
            await self.module.server.router.deliver(event)
        await self._presence_effects(owner, str(contact), old, outcome)
        return True

    async def inbound(self, event: StanzaEvent, kind: SubType) -> None:
        """A subscription stanza arriving for a local user (RFC 6121 3.1.3, 3.1.6, 3.2.3, 3.3.3,
        A.3); to a full JID it counts as sent to the bare JID (RFC 6121 8.5.3.2.2)."""
        owner = event.to_jid.bare
        contact = event.from_jid.bare
        if contact == owner:
            return
        username = owner.local or ""
        if not self.host.user_sessions(owner) and not await self.module.server.accounts.exists(
            self.host.name, username
        ):
            if kind is SubType.SUBSCRIBE:
                # RFC 6121 8.5.1: a request to nobody is refused on nobody's behalf.
                await self._reply(owner, str(contact), SubType.UNSUBSCRIBED)
            return
        old = await self._state(username, str(contact))
        outcome = transition(old, kind, Direction.INBOUND)
        stanza = copy.copy(event.stanza)
        stanza.set("from", str(contact))
        stanza.set("to", str(owner))
        request = None
        if kind is SubType.SUBSCRIBE and outcome.forward:
            request = to_xml(stanza, "")  # kept until answered, delivered again at login
        await self._store(username, str(contact), old, outcome.state, request)
        if outcome.auto_reply is not None:
            await self._reply(owner, str(contact), outcome.auto_reply)
        if outcome.forward:
            if kind is SubType.SUBSCRIBE:
                # RFC 6121 3.1.3: the request is for a person: their available resources.
                targets = available_sessions(self.host, owner)
            else:
                # The answers change the roster: the resources that keep one (RFC 6121 3.1.6).
                targets = [s for s in self.host.user_sessions(owner).values() if s.interested]
            for session in targets:
                session.send(stanza)
        await self._presence_effects(owner, str(contact), old, outcome)

    async def _presence_effects(
        self, owner: JID, contact: str, old: SubState, outcome: Outcome
    ) -> None:
        """Presence follows the 'from' half of the subscription, and a re-sent request from a
        contact already subscribed gets presence again with its automatic answer."""
        had_from = old.subscription.has_from
        has_from = outcome.state.subscription.has_from
        if has_from and (not had_from or outcome.auto_reply is SubType.SUBSCRIBED):
            await send_current(self.module, owner, contact)  # RFC 6121 3.1.5
        elif had_from and not has_from:
            await send_unavailable(self.module, owner, contact)  # RFC 6121 3.2.2, 3.3.3

    async def _reply(self, owner: JID, contact: str, kind: SubType) -> None:
        await route(
            self.module, el(PRESENCE, {"type": kind.value, "from": str(owner), "to": contact})
        )
