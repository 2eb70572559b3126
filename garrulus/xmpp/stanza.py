"""Builders for replies and errors (RFC 6120 sections 8.2.3 and 8.3)."""

from __future__ import annotations

from xml.etree.ElementTree import Element, SubElement

from garrulus.xmpp import ns
from garrulus.xmpp.errors import StanzaError, StreamError
from garrulus.xmpp.xml import el, qname

MESSAGE = qname(ns.CLIENT, "message")
PRESENCE = qname(ns.CLIENT, "presence")
IQ = qname(ns.CLIENT, "iq")
BODY = qname(ns.CLIENT, "body")
ERROR = qname(ns.CLIENT, "error")


def iq_result(request: Element, payload: Element | None = None) -> Element:
    reply = el(
        IQ,
        {
            "type": "result",
            "id": request.get("id"),
            "to": request.get("from"),
            "from": request.get("to"),
        },
    )
    if payload is not None:
        reply.append(payload)
    return reply


def error_element(error: StanzaError) -> Element:
    node = Element(ERROR, {"type": error.error_type})
    SubElement(node, qname(ns.STANZAS_ERR, error.condition))
    if error.text:
        SubElement(node, qname(ns.STANZAS_ERR, "text")).text = error.text
    if error.app_condition is not None:
        SubElement(node, qname(*error.app_condition))
    return node


def error_reply(stanza: Element, error: StanzaError, *, keep_payload: bool = False) -> Element:
    """The error reply to ``stanza``: same kind and id, addresses swapped, RFC 6120 8.3.1."""
    reply = Element(stanza.tag, {"type": "error"})
    for attr, value in (
        ("id", stanza.get("id")),
        ("to", stanza.get("from")),
        ("from", stanza.get("to")),
    ):
        if value is not None:
            reply.set(attr, value)
    if keep_payload:
        reply.extend(kid for kid in stanza if kid.tag != ERROR)
    reply.append(error_element(error))
    return reply


def can_bounce(stanza: Element) -> bool:
    """Errors are never answered with errors (RFC 6120 8.3.1), nor IQ results."""
    kind = stanza.get("type")
    return kind != "error" and not (stanza.tag == IQ and kind == "result")


def stream_error_element(error: StreamError) -> Element:
    node = Element(qname(ns.STREAM, "error"))
    SubElement(node, qname(ns.STREAMS_ERR, error.condition))
    if error.text:
        SubElement(node, qname(ns.STREAMS_ERR, "text")).text = error.text
    return node


def stanza_kind(stanza: Element) -> str | None:
    """ "message", "presence" or "iq" for a jabber:client stanza, else None."""
    tag = stanza.tag
    if tag == MESSAGE:
        return "message"
    if tag == PRESENCE:
        return "presence"
    if tag == IQ:
        return "iq"
    return None
