"""Availability presence (RFC 6121 section 4): initial presence, broadcasts, probes, directed
presence and unavailable presence, whether sent by the client or caused by a lost connection.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from xml.etree.ElementTree import Element, fromstring

from garrulus.core.event_types import SessionEvent, StanzaEvent
from garrulus.core.module_api import ModuleContext
from garrulus.core.session import Session
from garrulus.modules.presence.notify import (
    addressed,
    available_sessions,
    route,
    unavailable,
)
from garrulus.modules.roster import RosterAPI
from garrulus.xmpp import ns
from garrulus.xmpp.jid import parse_jid
from garrulus.xmpp.stanza import PRESENCE
from garrulus.xmpp.xml import el, qname

PRIORITY = qname(ns.CLIENT, "priority")

# Fired (SessionEvent) after a session's initial presence was broadcast and answered: the offline
# module delivers stored messages on it.
INITIAL_PRESENCE = "initial-presence"


STATE_KEY = "presence"  # where a session keeps its SessionPresence in ``session.state``


@dataclass
class SessionPresence:
    """Per-session presence state kept in ``session.state``."""

    # JIDs the session sent directed available presence to (RFC 6121 4.6); they get unavailable
    # presence when the session goes unavailable.
    directed: set[str] = field(default_factory=set)


def session_presence(session: Session) -> SessionPresence | None:
    state = session.state.get(STATE_KEY)
    return state if isinstance(state, SessionPresence) else None


def parse_priority(stanza: Element) -> int:
    """The ``<priority/>`` of a presence (RFC 6121 4.7.2.3): -128..127, 0 when absent.

    A value that is no integer counts as 0 and one out of range is clamped, rather than refusing
    the whole presence over a detail most clients get right anyway.
    """
    text = stanza.findtext(PRIORITY)
    if text is None:
        return 0
    try:
        value = int(text.strip())
    except ValueError:
        return 0
    return max(-128, min(127, value))


class Availability:
    def __init__(self, module: ModuleContext, roster: RosterAPI) -> None:
        self.module = module
        self.host = module.host
        self.roster = roster

    def _state(self, session: Session) -> SessionPresence:
        state = session_presence(session)
        if state is None:
            state = session.state[STATE_KEY] = SessionPresence()
        return state

    # -- what a client sends ----------------------------------------------------------------

    async def broadcast(self, session: Session, stanza: Element) -> None:
        """Presence without 'to': available (RFC 6121 4.2, 4.4) or unavailable (4.5)."""
        if stanza.get("type") == "unavailable":
            await self.go_unavailable(session, stanza, gone=False)
            return
        owner = session.jid.bare
        initial = not session.available
        session.priority = parse_priority(stanza)
        session.presence = stanza
        session.available = True
        roster = await self.roster.roster(owner.local or "")
        for item in list(roster.items.values()):
            if item.subscription.has_from:
                await route(self.module, addressed(stanza, item.jid))
        # The user's own resources, the sender included (RFC 6121 4.2.2, 4.4.2).
        for other in available_sessions(self.host, owner):
            other.send(addressed(stanza, str(other.jid)))
        if not initial:
            return
        for other in available_sessions(self.host, owner):
            if other is not session and other.presence is not None:
                session.send(addressed(other.presence, str(session.jid)))
        # RFC 6121 4.2.2: probe every contact whose presence the user is subscribed to; the
        # probes come from the full JID, so the answers reach this session only.
        for item in list(roster.items.values()):
            if item.subscription.has_to:
                probe = el(PRESENCE, {"type": "probe", "from": str(session.jid), "to": item.jid})
                await route(self.module, probe)
        # RFC 6121 3.1.3: requests that arrived while the user was away are delivered now.
        for request in list(roster.pending.values()):
            session.send(fromstring(request))
        await self.host.events.fire(INITIAL_PRESENCE, SessionEvent(session))

    async def go_unavailable(self, session: Session, stanza: Element, *, gone: bool) -> None:
        """Unavailable to subscribers, the user's resources and directed-presence targets."""
        state = self._state(session)
        was_available = session.available
        session.available = False
        session.presence = None
        session.priority = 0
        owner = session.jid.bare
        covered: set[str] = set()
        if was_available:
            roster = await self.roster.roster(owner.local or "")
            for item in list(roster.items.values()):
                if item.subscription.has_from:
                    covered.add(item.jid)
                    await route(self.module, addressed(stanza, item.jid))
            for other in self.host.user_sessions(owner).values():
                if other.available or (other is session and not gone):
                    other.send(addressed(stanza, str(other.jid)))
        directed, state.directed = state.directed, set()
        for target in sorted(directed):
            if str(parse_jid(target).bare) not in covered:
                await route(self.module, addressed(stanza, target))

    def directed(self, event: StanzaEvent) -> None:
        """Track directed presence (RFC 6121 4.6); the router delivers it."""
        if event.origin is None or event.to_jid.bare == event.from_jid.bare:
            return
        state = self._state(event.origin)
        if event.stanza_type == "unavailable":
            state.directed.discard(str(event.to_jid))
        else:
            state.directed.add(str(event.to_jid))

    async def unbound(self, event: SessionEvent) -> None:
        """The session is gone, cleanly or not: it goes unavailable (RFC 6121 4.5.2)."""
        session = event.session
        state = session_presence(session)
        if session.available or (state is not None and state.directed):
            await self.go_unavailable(session, unavailable(session.jid), gone=True)

    # -- what arrives for a local user ------------------------------------------------------

    async def probe(self, event: StanzaEvent) -> None:
        """Answer a probe for the user's presence (RFC 6121 4.3.2)."""
        owner = event.to_jid.bare
        prober = event.from_jid
        if prober.bare != owner:
            item = await self.roster.get_item(owner.local or "", str(prober.bare))
            if item is None or not item.subscription.has_from:
                # Not subscribed: reveal nothing, and let an out-of-sync roster catch up.
                reply = el(
                    PRESENCE, {"type": "unsubscribed", "from": str(owner), "to": str(prober.bare)}
                )
                await route(self.module, reply)
                return
        sessions = available_sessions(self.host, owner)
        if not sessions:
            await route(self.module, unavailable(owner, str(prober)))
        for session in sessions:
            if session.presence is not None:
                await route(self.module, addressed(session.presence, str(prober)))

    def deliver_bare(self, event: StanzaEvent) -> None:
        """Available or unavailable presence to a bare JID: every available resource."""
        for session in available_sessions(self.host, event.to_jid):
            session.send(event.stanza)

    def deliver_full(self, event: StanzaEvent) -> None:
        session = self.host.session(event.to_jid)
        if session is not None:
            session.send(event.stanza)
        # RFC 6121 8.5.3.2.2: no such resource -> silently ignored.
