"""XEP-0199 XMPP ping: the server answers pings to itself and to a user's own account."""

from __future__ import annotations

from typing import Any

from garrulus.core.event_types import StanzaEvent
from garrulus.core.module_api import ModuleContext
from garrulus.core.options import Option
from garrulus.core.routes import iq_route
from garrulus.xmpp import ns

OPTIONS: tuple[Option[Any], ...] = ()


def setup(module: ModuleContext) -> None:
    module.add_feature(ns.PING)

    async def pong(event: StanzaEvent) -> bool:
        return await module.reply(event)

    module.hook(iq_route("get", "host", ns.PING, "ping"), pong)
    module.hook(iq_route("get", "self", ns.PING, "ping"), pong)
