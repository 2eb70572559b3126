"""Message delivery to local users (RFC 6121 sections 8.5.1 to 8.5.3).

To a bare JID: ``chat``/``normal`` go to the available resources of highest non-negative priority
(all of them when tied), else to offline storage, else back as ``service-unavailable``;
``headline`` goes to every non-negative available resource or nowhere; ``groupchat`` is refused;
``error`` is dropped when it cannot be delivered. To a full JID: that resource if it is
connected; if not, ``chat`` is handled as if sent to the bare JID, ``normal`` and ``groupchat``
are refused with ``service-unavailable``, ``headline`` and ``error`` are dropped (RFC 6121
8.5.3.2.1 leaves refusing or dropping to the server; messages that could matter are refused).

Offline storage is an event, :data:`MESSAGE_OFFLINE`, fired with the message's StanzaEvent when
no resource can take a ``chat``/``normal`` message for an existing account. A handler that
returns True took it (the offline module stores it; the archive may claim it once archived);
when none does, the sender gets ``service-unavailable``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Iterable
from typing import Any

from garrulus.core.event_types import StanzaEvent
from garrulus.core.host import Host
from garrulus.core.module_api import ModuleContext
from garrulus.core.options import Option
from garrulus.core.routes import stanza_route
from garrulus.core.session import Session
from garrulus.xmpp.errors import StanzaError
from garrulus.xmpp.jid import JID

OPTIONS: tuple[Option[Any], ...] = ()

# Fired (StanzaEvent) for a chat/normal message no resource of an existing account can take.
MESSAGE_OFFLINE = "message-offline"

# Delivery runs at this priority on message/bare and message/full; carbons copy just before it
# and the archive should store before the carbons copy (so copies carry the archive id).
DELIVERY_PRIORITY = 0


def top_resources(sessions: Iterable[Session]) -> list[Session]:
    """The available sessions of highest non-negative priority (RFC 6121 8.5.2.1.1)."""
    best: list[Session] = []
    top = -1
    for session in sessions:
        if not session.available or session.priority < 0:
            continue
        if session.priority > top:
            top = session.priority
            best = [session]
        elif session.priority == top:
            best.append(session)
    return best


def non_negative(sessions: Iterable[Session]) -> list[Session]:
    """Every available session of non-negative priority (headlines, RFC 6121 8.5.2.1.1)."""
    return [s for s in sessions if s.available and s.priority >= 0]


def bare_recipients(host: Host, to: JID, stanza_type: str) -> list[Session]:
    """Who gets a message to the bare JID ``to`` right now (for the carbons module too)."""
    sessions = host.user_sessions(to.bare).values()
    if stanza_type in ("chat", "normal"):
        return top_resources(sessions)
    if stanza_type == "headline":
        return non_negative(sessions)
    return []


def full_recipients(host: Host, to: JID, stanza_type: str) -> list[Session]:
    """Who gets a message to the full JID ``to`` right now (for the carbons module too)."""
    session = host.session(to)
    if session is not None:
        return [session]
    if stanza_type == "chat":
        return top_resources(host.user_sessions(to.bare).values())
    return []


def setup(module: ModuleContext) -> None:
    host = module.host

    async def undeliverable(event: StanzaEvent) -> None:
        """A chat/normal message no resource takes: offline storage or an error (8.5.2.2.1)."""
        to = event.to_jid.bare
        exists = bool(host.user_sessions(to)) or await module.server.accounts.exists(
            host.name, to.local or ""
        )
        if not exists:
            raise StanzaError("service-unavailable")  # RFC 6121 8.5.1: no such user
        event.to_jid = to
        if await host.events.fire(MESSAGE_OFFLINE, event):
            return
        raise StanzaError("service-unavailable", "the recipient is offline")

    # Plain functions on the hot path: only a message nobody online can take needs a coroutine
    # (offline storage).
    def to_bare(event: StanzaEvent) -> bool | Awaitable[bool]:
        stype = event.stanza_type
        if stype == "error":
            return True  # nowhere to bounce an error to
        if stype == "groupchat":
            raise StanzaError("service-unavailable", "this is not a groupchat service")
        recipients = bare_recipients(host, event.to_jid, stype)
        for session in recipients:
            session.send(event.stanza)
        if not recipients and stype != "headline":
            return _offline(event)
        return True  # headlines nobody can take are dropped

    async def _offline(event: StanzaEvent) -> bool:
        await undeliverable(event)
        return True

    def to_full(event: StanzaEvent) -> bool | Awaitable[bool]:
        session = host.session(event.to_jid)
        if session is not None:
            session.send(event.stanza)  # RFC 6121 8.5.3.1, whether available or only connected
            return True
        stype = event.stanza_type
        if stype == "chat":
            return to_bare(event)  # RFC 6121 8.5.3.2.1
        if stype in ("normal", "groupchat"):
            raise StanzaError("service-unavailable", "that resource is not online")
        return True  # headline, error: dropped

    module.hook(stanza_route("message", "bare"), to_bare, DELIVERY_PRIORITY)
    module.hook(stanza_route("message", "full"), to_full, DELIVERY_PRIORITY)
