"""XEP-0092 software version of the server."""

from __future__ import annotations

import platform
from typing import Any

from garrulus import __version__
from garrulus.core.event_types import StanzaEvent
from garrulus.core.module_api import ModuleContext
from garrulus.core.options import Option
from garrulus.core.routes import iq_route
from garrulus.xmpp import ns
from garrulus.xmpp.xml import el, qname

OPTIONS: tuple[Option[Any], ...] = (
    Option("hide_os_type", bool, False, "leave the operating system out of version answers"),
)


def setup(module: ModuleContext) -> None:
    module.add_feature(ns.VERSION)

    async def version(event: StanzaEvent) -> bool:
        query = el(
            qname(ns.VERSION, "query"),
            None,
            el(qname(ns.VERSION, "name"), text="Garrulus"),
            el(qname(ns.VERSION, "version"), text=__version__),
        )
        if not module.option("hide_os_type"):
            query.append(el(qname(ns.VERSION, "os"), text=platform.system()))
        return await module.reply(event, query)

    module.hook(iq_route("get", "host", ns.VERSION, "query"), version)
