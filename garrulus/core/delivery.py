"""The core's last-resort handlers, hooked at the lowest priority on every host.

They make a bare server answer correctly with no modules loaded: IQs nobody handled get
``service-unavailable``, stanzas to a full JID reach that session. The ``message`` and
``presence`` modules hook the same events at normal priority with RFC 6121's full rules.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from garrulus.core.event_types import StanzaEvent
from garrulus.core.routes import stanza_route
from garrulus.xmpp.errors import StanzaError

if TYPE_CHECKING:
    from garrulus.core.host import Host

LAST = -1_000_000


def install(host: Host) -> None:
    router = host.server.router

    async def iq_unhandled(event: StanzaEvent) -> bool:
        if event.stanza_type in ("get", "set"):
            await router.bounce_event(event, StanzaError("service-unavailable"))
        return True

    async def iq_full(event: StanzaEvent) -> bool:
        session = host.session(event.to_jid)
        if session is not None:
            session.send(event.stanza)
        elif event.stanza_type in ("get", "set"):
            await router.bounce_event(event, StanzaError("service-unavailable"))
        return True

    async def message_full(event: StanzaEvent) -> bool:
        session = host.session(event.to_jid)
        if session is not None:
            session.send(event.stanza)
            return True
        # RFC 6121 8.5.3.2.1: no such resource: chat goes to the bare JID, normal and groupchat
        # bounce, headline and error vanish.
        if event.stanza_type == "chat":
            event.to_jid = event.to_jid.bare
            await host.events.fire(stanza_route("message", "bare"), event)
        elif event.stanza_type in ("normal", "groupchat"):
            await router.bounce_event(event, StanzaError("service-unavailable"))
        return True

    async def message_bare(event: StanzaEvent) -> bool:
        # Only resources that sent initial presence with a non-negative priority (RFC 6121 8.5.2);
        # without the presence module nothing tracks presence, so every bound resource counts.
        tracked = "presence" in host.modules
        sessions = [
            s
            for s in host.user_sessions(event.to_jid).values()
            if (s.available or not tracked) and s.priority >= 0
        ]
        if sessions:
            top = max(s.priority for s in sessions)
            for s in sessions:
                if s.priority == top:
                    s.send(event.stanza)
        elif event.stanza_type in ("normal", "chat"):
            await router.bounce_event(event, StanzaError("service-unavailable"))
        return True

    async def message_host(event: StanzaEvent) -> bool:
        if event.stanza_type in ("normal", "chat"):
            await router.bounce_event(event, StanzaError("service-unavailable"))
        return True

    def presence_full(event: StanzaEvent) -> bool:
        session = host.session(event.to_jid)
        if session is not None:
            session.send(event.stanza)
        return True

    def presence_drop(event: StanzaEvent) -> bool:
        return True

    for target in ("bare", "host", "self"):
        host.events.hook(stanza_route("iq", target), iq_unhandled, LAST)  # type: ignore[arg-type]
    host.events.hook(stanza_route("iq", "full"), iq_full, LAST)
    host.events.hook(stanza_route("message", "full"), message_full, LAST)
    host.events.hook(stanza_route("message", "bare"), message_bare, LAST)
    host.events.hook(stanza_route("message", "host"), message_host, LAST)
    host.events.hook(stanza_route("presence", "full"), presence_full, LAST)
    host.events.hook(stanza_route("presence", "bare"), presence_drop, LAST)
    host.events.hook(stanza_route("presence", "host"), presence_drop, LAST)
