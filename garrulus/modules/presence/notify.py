"""Presence the server sends on a user's behalf: current presence, unavailable, probes.

Everything goes through the router, so the recipient's modules (blocking among them) see it as
they see any other presence.
"""

from __future__ import annotations

import copy
from xml.etree.ElementTree import Element

from garrulus.core.host import Host
from garrulus.core.module_api import ModuleContext
from garrulus.core.session import Session
from garrulus.xmpp.errors import StanzaError
from garrulus.xmpp.jid import JID
from garrulus.xmpp.stanza import PRESENCE
from garrulus.xmpp.xml import el


def available_sessions(host: Host, bare: JID | str) -> list[Session]:
    """The user's available resources (RFC 6121 1.4: sent initial presence, not unavailable)."""
    return [s for s in host.user_sessions(bare).values() if s.available]


def addressed(stanza: Element, to: str) -> Element:
    """A shallow copy of ``stanza`` sent to ``to``: children are shared, never changed."""
    out = copy.copy(stanza)
    out.set("to", to)
    return out


async def route(module: ModuleContext, stanza: Element) -> None:
    """Route server-made presence; a contact on an unreachable domain is skipped, not an error."""
    try:
        await module.send(stanza)
    except StanzaError as exc:
        module.log.debug("presence to %s not routed: %s", stanza.get("to"), exc)


async def send_current(module: ModuleContext, owner: JID, to: str) -> None:
    """The last presence of each of the owner's available resources, to ``to``."""
    for session in available_sessions(module.host, owner):
        if session.presence is not None:
            await route(module, addressed(session.presence, to))


async def send_unavailable(module: ModuleContext, owner: JID, to: str) -> None:
    """Unavailable from each of the owner's available resources, to ``to``."""
    for session in available_sessions(module.host, owner):
        await route(module, unavailable(session.jid, to))


def unavailable(from_jid: JID, to: str | None = None) -> Element:
    return el(PRESENCE, {"type": "unavailable", "from": str(from_jid), "to": to})
