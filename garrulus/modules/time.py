"""XEP-0202 entity time of the server (always UTC)."""

from __future__ import annotations

from typing import Any

from garrulus.core.event_types import StanzaEvent
from garrulus.core.module_api import ModuleContext
from garrulus.core.options import Option
from garrulus.core.routes import iq_route
from garrulus.xmpp import ns
from garrulus.xmpp.xml import el, qname

OPTIONS: tuple[Option[Any], ...] = ()


def setup(module: ModuleContext) -> None:
    module.add_feature(ns.TIME)

    async def entity_time(event: StanzaEvent) -> bool:
        now = module.server.clock.now()
        stamp = now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}Z"
        payload = el(
            qname(ns.TIME, "time"),
            None,
            el(qname(ns.TIME, "tzo"), text="+00:00"),
            el(qname(ns.TIME, "utc"), text=stamp),
        )
        return await module.reply(event, payload)

    module.hook(iq_route("get", "host", ns.TIME, "time"), entity_time)
