"""XEP-0030 service discovery for the host and for users' bare JIDs."""

from __future__ import annotations

from typing import Any
from xml.etree.ElementTree import Element, SubElement

from garrulus.core.event_types import DiscoInfoEvent, StanzaEvent
from garrulus.core.host import Identity
from garrulus.core.module_api import ModuleContext
from garrulus.core.options import Option
from garrulus.core.routes import ACCOUNT_DISCO_INFO, HOST_DISCO_INFO, iq_route
from garrulus.xmpp import ns
from garrulus.xmpp.errors import StanzaError
from garrulus.xmpp.xml import qname

OPTIONS: tuple[Option[Any], ...] = (
    Option("disco_items", list[str], [], "JIDs listed in the host's disco#items"),
    Option("server_name", str, "Garrulus", "the name in the host's disco identity"),
)

INFO = qname(ns.DISCO_INFO, "query")
ITEMS = qname(ns.DISCO_ITEMS, "query")


def info_payload(collected: DiscoInfoEvent) -> Element:
    query = Element(INFO)
    if collected.node:
        query.set("node", collected.node)
    for ident in sorted(
        set(collected.identities), key=lambda i: (i.category, i.type, i.name or "")
    ):
        attrs = {"category": ident.category, "type": ident.type}
        if ident.name:
            attrs["name"] = ident.name
        SubElement(query, qname(ns.DISCO_INFO, "identity"), attrs)
    for var in sorted(collected.features):
        SubElement(query, qname(ns.DISCO_INFO, "feature"), {"var": var})
    query.extend(collected.forms)
    return query


def setup(module: ModuleContext) -> None:
    host = module.host
    module.add_feature(ns.DISCO_INFO)
    module.add_feature(ns.DISCO_ITEMS)
    module.add_account_feature(ns.DISCO_INFO)
    module.add_account_feature(ns.DISCO_ITEMS)

    async def host_info(event: StanzaEvent) -> bool:
        node = event.stanza[0].get("node")
        collected = DiscoInfoEvent(host, event.to_jid, event.from_jid, node)
        if node is None:
            collected.identities.extend(host.identities)
            collected.identities.append(Identity("server", "im", module.option("server_name")))
            collected.features.update(host.features)
        await host.events.fire(HOST_DISCO_INFO, collected)
        if node is not None and not collected.features and not collected.identities:
            raise StanzaError("item-not-found", f"no node {node!r} here")
        return await module.reply(event, info_payload(collected))

    async def account_info(event: StanzaEvent) -> bool:
        node = event.stanza[0].get("node")
        owner = event.to_jid.bare
        if event.from_jid.bare != owner:
            # Another user's features (their archive among them) are not theirs to see
            # (checklist DSC-10); RFC 6121 8.5.1 lets the server answer for the user.
            raise StanzaError("service-unavailable")
        collected = DiscoInfoEvent(host, owner, event.from_jid, node)
        if node is None:
            collected.identities.append(Identity("account", "registered"))
            collected.features.update(host.account_features)
        await host.events.fire(ACCOUNT_DISCO_INFO, collected)
        if node is not None and not collected.features and not collected.identities:
            raise StanzaError("item-not-found", f"no node {node!r} here")
        return await module.reply(event, info_payload(collected))

    async def host_items(event: StanzaEvent) -> bool:
        node = event.stanza[0].get("node")
        if node is not None:
            raise StanzaError("item-not-found", f"no node {node!r} here")
        query = Element(ITEMS)
        for jid in module.option("disco_items"):
            SubElement(query, qname(ns.DISCO_ITEMS, "item"), {"jid": jid})
        return await module.reply(event, query)

    async def account_items(event: StanzaEvent) -> bool:
        if event.from_jid.bare != event.to_jid.bare:
            raise StanzaError("service-unavailable")
        return await module.reply(event, Element(ITEMS))

    module.hook(iq_route("get", "host", ns.DISCO_INFO, "query"), host_info)
    module.hook(iq_route("get", "self", ns.DISCO_INFO, "query"), account_info)
    module.hook(iq_route("get", "bare", ns.DISCO_INFO, "query"), account_info)
    module.hook(iq_route("get", "host", ns.DISCO_ITEMS, "query"), host_items)
    module.hook(iq_route("get", "self", ns.DISCO_ITEMS, "query"), account_items)
    module.hook(iq_route("get", "bare", ns.DISCO_ITEMS, "query"), account_items)
