"""XEP-0198 stream management: acknowledgements and resumption.

The per-connection counters live in :mod:`garrulus.stream.sm` and the connection; this module
offers the feature, answers the protocol elements and keeps the resumption registry. Stanzas
left unacknowledged when a hibernating session times out are not lost: messages go to offline
storage when the user has no other available resource (their other resources already got the
message or its carbon copy otherwise), IQ requests are answered with an error.
"""

from __future__ import annotations

from typing import Any
from xml.etree.ElementTree import Element

from garrulus.core.event_types import NOTE_REDELIVERY, FeaturesEvent, StanzaEvent
from garrulus.core.module_api import ModuleContext
from garrulus.core.options import Option
from garrulus.core.routes import STREAM_FEATURES
from garrulus.net.c2s import C2SConnection
from garrulus.stream.sm import parse_h
from garrulus.xmpp import ns
from garrulus.xmpp.errors import StanzaError, StreamError
from garrulus.xmpp.jid import parse_jid
from garrulus.xmpp.stanza import stanza_kind
from garrulus.xmpp.xml import el, qname

OPTIONS: tuple[Option[Any], ...] = (
    Option(
        "smacks_hibernation_time",
        int,
        600,
        "seconds a dropped session waits for the client to resume it (Prosody's default)",
    ),
    Option("smacks_max_unacked_stanzas", int, 0, "unused; kept for Prosody config compatibility"),
)


def _sm(local: str, attrs: dict[str, str | None] | None = None, *kids: Element) -> Element:
    return el(qname(ns.SM, local), attrs, *kids)


_SESSION_BOUND = frozenset(
    {qname(ns.MAM, "result"), qname(ns.CARBONS, "sent"), qname(ns.CARBONS, "received")}
)


def _session_bound(stanza: Element) -> bool:
    return any(child.tag in _SESSION_BOUND for child in stanza)


def setup(module: ModuleContext) -> None:
    host = module.host
    registry: dict[str, C2SConnection] = {}

    def features(event: FeaturesEvent) -> None:
        event.features.append(_sm("sm"))

    async def handle(payload: tuple[C2SConnection, Element]) -> bool:
        conn, element = payload
        local = element.tag.rsplit("}", 1)[-1]
        if local == "r":
            if conn.sm is None:
                raise StreamError("unsupported-stanza-type", "stream management is not enabled")
            conn.sm_write(_sm("a", {"h": str(conn.sm.handled_in)}))
        elif local == "a":
            conn.sm_ack(parse_h(element.get("h")))
        elif local == "enable":
            if not conn.bound or conn.sm is not None:
                conn.sm_write(_sm("failed", None, el(qname(ns.STANZAS_ERR, "unexpected-request"))))
            else:
                resume = element.get("resume") in ("true", "1")
                sm_id = conn.sm_enable(resume)
                if sm_id is not None:
                    registry[sm_id] = conn
                    max_wait = str(module.option("smacks_hibernation_time"))
                    conn.sm_write(_sm("enabled", {"id": sm_id, "resume": "true", "max": max_wait}))
                else:
                    conn.sm_write(_sm("enabled"))
        elif local == "resume":
            await resume_session(conn, element)
        else:
            raise StreamError(
                "unsupported-stanza-type", f"unknown stream management element {local}"
            )
        return True

    async def resume_session(conn: C2SConnection, element: Element) -> None:
        previd = element.get("previd") or ""
        old = registry.get(previd)
        if conn.bound or old is None or old.username != conn.username or old.sm is None:
            conn.sm_write(_sm("failed", None, el(qname(ns.STANZAS_ERR, "item-not-found"))))
            return
        h = parse_h(element.get("h"))
        # Messages the old connection still has in flight (core/pipeline.py) finish first, so
        # the count sent back covers them and the client does not send them again.
        await old.pipeline.drain()
        if conn.bound or registry.get(previd) is not old or old.sm is None:
            conn.sm_write(_sm("failed", None, el(qname(ns.STANZAS_ERR, "item-not-found"))))
            return
        try:
            again = conn.take_over(old, h)
        except StreamError:
            conn.sm_write(_sm("failed", None, el(qname(ns.STANZAS_ERR, "unexpected-request"))))
            raise
        registry[previd] = conn
        assert conn.sm is not None
        conn.sm_write(_sm("resumed", {"previd": previd, "h": str(conn.sm.handled_in)}))
        conn.resend(again)

    async def unacked(payload: tuple[C2SConnection, list[Element]]) -> None:
        conn, stanzas = payload
        if conn.sm_id is not None:
            registry.pop(conn.sm_id, None)
        others = [s for s in host.user_sessions(conn.jid.bare).values() if s.available]
        for stanza in stanzas:
            kind = stanza_kind(stanza)
            if kind == "message" and stanza.get("type", "normal") in ("chat", "normal"):
                if others or _session_bound(stanza):
                    # Others have it already (or its carbon); archive results and carbon
                    # copies belonged to that session only (checklist MAM-08), as in Prosody.
                    continue
                to = parse_jid(stanza.get("to") or str(conn.jid)).bare
                frm = parse_jid(stanza.get("from") or host.name)
                stanza.set("to", str(to))
                event = StanzaEvent(
                    stanza, None, frm, to, host, "message", stanza.get("type", "normal")
                )
                event.notes[NOTE_REDELIVERY] = True
                await module.server.router.deliver(event)
            elif kind == "iq" and stanza.get("type") in ("get", "set"):
                frm = parse_jid(stanza.get("from") or host.name)
                event = StanzaEvent(stanza, None, frm, conn.jid, host, "iq", stanza.get("type", ""))
                await module.server.router.bounce_event(event, StanzaError("recipient-unavailable"))

    def forget(payload: Any) -> None:
        session = payload.session
        sm_id = getattr(session, "sm_id", None)
        if (
            sm_id is not None
            and registry.get(sm_id) is session
            and not getattr(session, "hibernating", False)
        ):
            registry.pop(sm_id, None)

    module.hook(STREAM_FEATURES, features)
    module.hook("stream-management", handle)
    module.hook("smacks-unacked", unacked)
    module.hook("resource-unbound", forget)
