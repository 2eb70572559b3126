"""The router only classifies a stanza and fires the matching events; modules decide the rest.

Outgoing (sent by a local client): stamp ``from``, fire ``pre-<kind>/<target>`` on the sender's
host; unless a handler stops it, deliver. Delivery: fire ``iq-<type>/<target>/<ns>:<name>`` (IQ
get/set), then ``<kind>/<target>`` on the recipient's host. The core's own lowest-priority
handlers (:mod:`garrulus.core.delivery`) answer whatever no module did.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING
from xml.etree.ElementTree import Element

from garrulus.core.event_types import StanzaEvent
from garrulus.core.pipeline import turn
from garrulus.core.routes import Target, iq_route_for, stanza_route
from garrulus.xmpp.errors import StanzaError
from garrulus.xmpp.jid import JID, InvalidJID, parse_jid
from garrulus.xmpp.stanza import can_bounce, error_reply, stanza_kind

if TYPE_CHECKING:
    from garrulus.core.host import Host
    from garrulus.core.server import Server
    from garrulus.core.session import Session

log = logging.getLogger("garrulus.router")

_IQ_TYPES = frozenset(("get", "set", "result", "error"))
_DEFAULT_TYPE = {"message": "normal", "presence": "available", "iq": ""}


def target_of(to: JID, sender: JID | None, kind: str) -> Target:
    if to.local is None:
        return "host" if to.resource is None else "full"
    if to.resource is not None:
        return "full"
    if (
        kind == "iq"
        and sender is not None
        and sender.local == to.local
        and sender.domain == to.domain
    ):
        return "self"
    return "bare"


class Router:
    def __init__(self, server: Server) -> None:
        self.server = server

    def _check(self, stanza: Element, kind: str) -> str:
        """Validate what every stanza needs (RFC 6120 8.1-8.2); returns the effective type."""
        stype = stanza.get("type") or _DEFAULT_TYPE[kind]
        if kind == "iq":
            if stype not in _IQ_TYPES:
                raise StanzaError("bad-request", "an IQ needs a type of get, set, result or error")
            if not stanza.get("id"):
                raise StanzaError("bad-request", "an IQ needs an id")
            if stype in ("get", "set") and len(stanza) != 1:
                raise StanzaError("bad-request", "an IQ get or set carries exactly one payload")
        return stype

    async def route_from_client(self, session: Session, stanza: Element) -> None:
        kind = stanza_kind(stanza)
        if kind is None:
            return  # the negotiation table lets only message/presence/iq through
        stanza.set("from", str(session.jid))
        try:
            stype = self._check(stanza, kind)
            to_attr = stanza.get("to")
            to = parse_jid(to_attr) if to_attr else session.jid.bare
        except InvalidJID as bad_jid:
            # core/pipeline.py: after what the client sent before, unless the stream closed.
            if await turn():
                self.bounce(session, stanza, bad_jid.as_stanza_error())
            return
        except StanzaError as refused:
            if await turn():
                self.bounce(session, stanza, refused)
            return
        host = session.host
        event = StanzaEvent(stanza, session, session.jid, to, host, kind, stype)
        try:
            route = stanza_route(kind, target_of(to, session.jid, kind), outgoing=True)  # type: ignore[arg-type]
            if await host.events.fire(route, event):
                return
            if await turn():
                await self.deliver(event)
        except StanzaError as exc:
            if await turn():
                self.bounce(session, stanza, exc)

    async def route_from_server(self, stanza: Element, host: Host) -> None:
        """A stanza the server (a module) originates; ``from`` defaults to the host."""
        kind = stanza_kind(stanza)
        if kind is None:
            raise ValueError(f"not a stanza: {stanza.tag}")
        from_jid = parse_jid(stanza.get("from") or host.name)
        to = parse_jid(stanza.get("to") or host.name)
        stype = stanza.get("type") or _DEFAULT_TYPE[kind]
        event = StanzaEvent(stanza, None, from_jid, to, host, kind, stype)
        await self.deliver(event)

    async def deliver(self, event: StanzaEvent) -> None:
        """Fire the arrival events on the recipient's host."""
        to = event.to_jid
        dest = self.server.hosts.get(to.domain)
        if dest is None:
            # No server-to-server: every other domain is unreachable from here.
            await self.bounce_event(
                event, StanzaError("remote-server-not-found", f"{to.domain} is not served here")
            )
            return
        event.host = dest
        target = target_of(to, event.from_jid, event.kind)
        events = dest.events
        try:
            if event.kind == "iq" and event.stanza_type in ("get", "set"):
                route = iq_route_for(event.stanza_type, target, event.stanza[0].tag)
                if await events.fire(route, event) is not None:
                    return
            await events.fire(stanza_route(event.kind, target), event)  # type: ignore[arg-type]
        except StanzaError as exc:
            # A handler refused the stanza: the sender gets the error, wherever it is.
            await self.bounce_event(event, exc)

    async def reply(self, event: StanzaEvent, reply: Element) -> None:
        """Send ``reply`` (already addressed) back to the sender of ``event``."""
        origin = event.origin
        if origin is not None and not origin.closing:
            origin.send(reply)
            return
        sender_host = self.server.hosts.get(event.from_jid.domain)
        if sender_host is not None and event.from_jid.resource is not None:
            session = sender_host.session(event.from_jid)
            if session is not None:
                session.send(reply)

    def bounce(self, session: Session | None, stanza: Element, error: StanzaError) -> None:
        """Answer a stanza a local client sent with an error, if it may be answered."""
        if session is None or not can_bounce(stanza):
            return
        reply = error_reply(stanza, error)
        reply.set("to", str(session.jid))
        reply.attrib.pop("from", None)
        if stanza.get("to"):
            reply.set("from", stanza.get("to") or "")
        session.send(reply)

    async def bounce_event(self, event: StanzaEvent, error: StanzaError) -> None:
        """Answer the sender of an event's stanza with an error, wherever the sender is."""
        stanza = event.stanza
        if not can_bounce(stanza):
            return
        reply = error_reply(stanza, error)
        reply.set("from", str(event.to_jid))
        reply.set("to", str(event.from_jid))
        await self.reply(event, reply)
