"""XEP-0280 message carbons: a user's other clients see the conversations of each one.

A resource enables carbons with ``<enable xmlns='urn:xmpp:carbons:2'/>``. Messages one resource
sends are copied (``<sent/>``) to the user's other enabled resources; messages arriving for the
user are copied (``<received/>``) to the enabled resources that do not get the message itself.
Which messages are copied follows XEP-0280 section 6 and Prosody's mod_carbons; ``<private/>``
and ``<no-copy xmlns='urn:xmpp:hints'/>`` opt out.

Ordering: sent copies are made on ``pre-message/*`` at :data:`SENT_PRIORITY` (after blocking
refused what it refuses, and after the archive stamped its id); received copies on
``message/bare`` and ``message/full`` at :data:`RECEIVED_PRIORITY`, just before the message
module delivers, asking the same routing rules which resources that delivery reaches, so each
resource sees the message exactly once.
"""

from __future__ import annotations

import copy
from typing import Any
from xml.etree.ElementTree import Element

from garrulus.core.event_types import StanzaEvent
from garrulus.core.module_api import ModuleContext
from garrulus.core.options import Option
from garrulus.core.routes import Target, iq_route, stanza_route
from garrulus.core.session import Session
from garrulus.modules.message import DELIVERY_PRIORITY, bare_recipients, full_recipients
from garrulus.xmpp import ns
from garrulus.xmpp.jid import JID
from garrulus.xmpp.stanza import BODY, MESSAGE
from garrulus.xmpp.xml import el, qname, split_tag

OPTIONS: tuple[Option[Any], ...] = ()
DEPENDS = ("message",)

SENT_PRIORITY = -10
RECEIVED_PRIORITY = DELIVERY_PRIORITY + 10
RULES = "urn:xmpp:carbons:rules:0"  # "this server follows XEP-0280 1.0's rules"

PRIVATE = qname(ns.CARBONS, "private")
NO_COPY = qname(ns.HINTS, "no-copy")
MUC_USER = "{http://jabber.org/protocol/muc#user}x"
STANZA_ID = qname(ns.SID, "stanza-id")
# Payloads of one-to-one chats that matter to every client even in 'normal' messages
# (XEP-0280 6: chat states, receipts, markers; and Jingle Message Initiation calls).
_IM_PAYLOADS = frozenset(
    (
        ns.CHATSTATES,
        ns.RECEIPTS,
        ns.MARKERS,
        "urn:xmpp:jingle-message:0",
        "urn:xmpp:jingle-message:1",
    )
)


def eligible(stanza: Element, stanza_type: str, *, outgoing: bool, user: JID, sender: JID) -> bool:
    """Is this message copied to the user's other resources (XEP-0280 6, 7)?"""
    tags = [node.tag for node in stanza]
    if PRIVATE in tags or NO_COPY in tags:
        return False
    if stanza_type == "groupchat":
        return False
    if not outgoing and MUC_USER in tags and stanza.get("to") != str(user):
        return False  # an incoming private message from a room: the room sends it to each
    if stanza_type == "chat":
        return True
    if stanza_type == "normal" and BODY in tags:
        return True
    if stanza_type == "error":
        # A bounce of a message the user sent to a bare JID: the other clients saw the message
        # as a carbon, so they must see that it failed.
        return not outgoing and sender.is_bare
    if any(split_tag(tag)[0] in _IM_PAYLOADS for tag in tags):
        return True
    # What the user's archive kept is conversation, and clients sync it: copy it as well.
    return any(node.tag == STANZA_ID and node.get("by") == str(user) for node in stanza)


def wrap(direction: str, stanza: Element, user: JID, to: JID, stanza_type: str) -> Element:
    """The carbon copy sent to one resource (XEP-0280 7, 8; XEP-0297 forwarding)."""
    forwarded = el(qname(ns.FORWARD, "forwarded"), None, stanza)
    return el(
        MESSAGE,
        {"from": str(user), "to": str(to), "type": stanza_type},
        el(qname(ns.CARBONS, direction), None, forwarded),
    )


def setup(module: ModuleContext) -> None:
    host = module.host
    name = module.name
    module.add_feature(ns.CARBONS)
    module.add_feature(RULES)
    module.add_account_feature(ns.CARBONS)

    def enabled(session: Session) -> bool:
        return session.state.get(name) is True

    async def toggle(event: StanzaEvent) -> bool:
        if event.origin is not None:
            event.origin.state[name] = event.stanza[0].tag.endswith("}enable")
        return await module.reply(event)

    def copy_to(sessions: list[Session], direction: str, event: StanzaEvent, user: JID) -> None:
        # A deep copy once for all of them: later handlers (the recipient's archive) change
        # the original, and stream management may send a copy again much later.
        original = copy.deepcopy(event.stanza)
        for session in sessions:
            session.send(wrap(direction, original, user, session.jid, event.stanza_type))

    def sent(event: StanzaEvent) -> None:
        """``pre-message/*``: copy what one resource sends to the user's other resources."""
        origin = event.origin
        if origin is None:
            return
        user = origin.jid.bare
        if event.to_jid.bare == user:
            return  # to the user's own account: the received copies cover it
        targets = [s for s in host.user_sessions(user).values() if s is not origin and enabled(s)]
        if targets and eligible(
            event.stanza, event.stanza_type, outgoing=True, user=user, sender=origin.jid
        ):
            copy_to(targets, "sent", event, user)

    def received(event: StanzaEvent) -> None:
        """``message/bare`` and ``message/full``: copy what arrives to the resources that do
        not get it from normal delivery."""
        stanza = event.stanza
        private = stanza.find(PRIVATE)
        if private is not None:
            stanza.remove(private)  # XEP-0280 7: the recipient's clients need not see it
            return
        user = event.to_jid.bare
        sessions = host.user_sessions(user)
        enabled_sessions = [s for s in sessions.values() if enabled(s)]
        if not enabled_sessions or not eligible(
            stanza, event.stanza_type, outgoing=False, user=user, sender=event.from_jid
        ):
            return
        if event.to_jid.resource is None:
            recipients = bare_recipients(host, event.to_jid, event.stanza_type)
        elif host.session(event.to_jid) is None and event.stanza_type != "chat":
            return  # refused or dropped by the message module: nothing to copy
        else:
            recipients = full_recipients(host, event.to_jid, event.stanza_type)
        targets = [s for s in enabled_sessions if s not in recipients and s is not event.origin]
        if targets:
            copy_to(targets, "received", event, user)

    module.hook(iq_route("set", "self", ns.CARBONS, "enable"), toggle)
    module.hook(iq_route("set", "self", ns.CARBONS, "disable"), toggle)
    sent_routes: tuple[Target, ...] = ("bare", "full", "host")
    for target in sent_routes:
        module.hook(stanza_route("message", target, outgoing=True), sent, SENT_PRIORITY)
    module.hook(stanza_route("message", "bare"), received, RECEIVED_PRIORITY)
    module.hook(stanza_route("message", "full"), received, RECEIVED_PRIORITY)
