"""RFC 6121 section 2: rosters, with versioning (2.6), pushes and a size limit.

Wiring only: items and their XML in :mod:`.item`, storage and caching in :mod:`.store` and
:mod:`.cache`, the IQ protocol in :mod:`.iq`, the API other modules use in :mod:`.api`.
Subscription state changes are the presence module's business; it stores them through
:meth:`RosterAPI.update_subscription`.
"""

from __future__ import annotations

from typing import Any

from garrulus.core.event_types import FeaturesEvent, StanzaEvent, UserEvent
from garrulus.core.module_api import ModuleContext
from garrulus.core.options import Option
from garrulus.core.routes import STREAM_FEATURES, USER_DELETED, iq_route
from garrulus.modules.roster.api import RosterAPI
from garrulus.modules.roster.iq import RosterIq, cancel_subscriptions
from garrulus.modules.roster.item import RosterItem, Subscription
from garrulus.modules.roster.store import Roster, RosterStore
from garrulus.xmpp import ns
from garrulus.xmpp.errors import StanzaError
from garrulus.xmpp.jid import JID
from garrulus.xmpp.xml import el, qname

__all__ = ["OPTIONS", "Roster", "RosterAPI", "RosterItem", "Subscription", "setup"]

OPTIONS: tuple[Option[Any], ...] = (
    Option(
        "max_roster_items",
        int,
        500,
        "most items one roster may hold; a roster set or subscription beyond gets not-allowed",
    ),
)


def setup(module: ModuleContext) -> RosterAPI:
    host = module.host
    store = RosterStore(module)
    api = RosterAPI(module, store, int(module.option("max_roster_items")))
    iq = RosterIq(module, store, api)

    def features(event: FeaturesEvent) -> None:
        event.features.append(el(qname(ns.ROSTER_VER, "ver")))

    def others_roster(event: StanzaEvent) -> bool:
        # RFC 6121 2.1.5 / 2.3.3: nobody may read or change another user's roster.
        raise StanzaError("forbidden", "that is not your roster")

    async def user_deleted(event: UserEvent) -> None:
        roster = await store.get(event.username)
        owner = JID(event.username, host.name)
        # Contacts are told, so their rosters do not keep a subscription to nobody.
        for item in list(roster.items.values()):
            await cancel_subscriptions(module, owner, item, item.jid in roster.pending)
        await store.delete(event.username)

    module.hook(iq_route("get", "self", ns.ROSTER, "query"), iq.get)
    module.hook(iq_route("set", "self", ns.ROSTER, "query"), iq.set)
    module.hook(iq_route("get", "bare", ns.ROSTER, "query"), others_roster)
    module.hook(iq_route("set", "bare", ns.ROSTER, "query"), others_roster)
    module.hook(STREAM_FEATURES, features)
    module.hook(USER_DELETED, user_deleted)
    return api
