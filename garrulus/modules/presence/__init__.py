"""RFC 6121 sections 3 and 4: presence subscriptions and presence broadcast.

Wiring only. The subscription state machine is the pure table in :mod:`.subscription`, applied
by :mod:`.subscribing`; availability (initial presence, probes, directed and unavailable
presence) is in :mod:`.availability`; presence the server sends for a user in :mod:`.notify`.
Pre-approval (RFC 6121 3.4) is supported and advertised.
"""

from __future__ import annotations

from typing import Any

from garrulus.core.event_types import FeaturesEvent, StanzaEvent
from garrulus.core.module_api import ModuleContext
from garrulus.core.options import Option
from garrulus.core.routes import RESOURCE_UNBOUND, STREAM_FEATURES, Target, stanza_route
from garrulus.modules.presence.availability import (
    INITIAL_PRESENCE,
    Availability,
    SessionPresence,
    session_presence,
)
from garrulus.modules.presence.notify import send_current, send_unavailable
from garrulus.modules.presence.subscribing import SUB_TYPES, Subscribing
from garrulus.modules.roster import RosterAPI
from garrulus.xmpp import ns
from garrulus.xmpp.errors import StanzaError
from garrulus.xmpp.xml import el, qname

__all__ = [
    "DEPENDS",
    "INITIAL_PRESENCE",
    "OPTIONS",
    "SessionPresence",
    "send_current",
    "send_unavailable",
    "session_presence",
    "setup",
]

OPTIONS: tuple[Option[Any], ...] = ()
DEPENDS = ("roster",)

_AVAILABILITY = frozenset(("available", "unavailable"))


def setup(module: ModuleContext) -> None:
    roster: RosterAPI = module.depends("roster")
    availability = Availability(module, roster)
    subscribing = Subscribing(module, roster)

    def features(event: FeaturesEvent) -> None:
        event.features.append(el(qname(ns.PRE_APPROVAL, "sub")))

    async def outgoing(event: StanzaEvent) -> bool | None:
        """``pre-presence/*``: what a local client sends."""
        stype = event.stanza_type
        if event.stanza.get("to") is None:
            # Broadcast presence; anything else without an addressee means nothing.
            if stype in _AVAILABILITY and event.origin is not None:
                await availability.broadcast(event.origin, event.stanza)
            return True
        kind = SUB_TYPES.get(stype)
        if kind is not None:
            return await subscribing.outbound(event, kind)
        if stype in _AVAILABILITY:
            availability.directed(event)
        elif stype not in ("probe", "error"):
            raise StanzaError("bad-request", f"unknown presence type {stype!r}")
        return None  # the router delivers it

    async def incoming(event: StanzaEvent) -> bool:
        """``presence/bare`` and ``presence/full``: presence arriving for a local user."""
        stype = event.stanza_type
        kind = SUB_TYPES.get(stype)
        if kind is not None:
            await subscribing.inbound(event, kind)
        elif stype == "probe":
            await availability.probe(event)
        elif event.to_jid.resource is not None:
            if stype in _AVAILABILITY or stype == "error":
                availability.deliver_full(event)
        elif stype in _AVAILABILITY:
            availability.deliver_bare(event)
        return True  # errors to a bare JID and unknown types are dropped

    module.hook(STREAM_FEATURES, features)
    targets: tuple[Target, ...] = ("bare", "full", "host")
    for target in targets:
        module.hook(stanza_route("presence", target, outgoing=True), outgoing)
    module.hook(stanza_route("presence", "bare"), incoming)
    module.hook(stanza_route("presence", "full"), incoming)
    module.hook(RESOURCE_UNBOUND, availability.unbound)
