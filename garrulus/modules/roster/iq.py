"""Roster get, set and remove (RFC 6121 sections 2.2 to 2.5)."""

from __future__ import annotations

from dataclasses import dataclass
from xml.etree.ElementTree import Element

from garrulus.core.event_types import StanzaEvent
from garrulus.core.module_api import ModuleContext
from garrulus.modules.roster.api import RosterAPI
from garrulus.modules.roster.item import GROUP, ITEM, QUERY, RosterItem, removed_element
from garrulus.modules.roster.store import RosterStore
from garrulus.xmpp.errors import StanzaError
from garrulus.xmpp.jid import JID, InvalidJID, parse_jid
from garrulus.xmpp.stanza import PRESENCE
from garrulus.xmpp.xml import el

# Longest item name and group name accepted (RFC 6121 2.3.3 lets the server choose).
MAX_TEXT = 1023


@dataclass(frozen=True, slots=True)
class RosterSet:
    """The one item of a roster set (RFC 6121 2.3.1), checked."""

    jid: str  # prepared bare JID
    name: str | None
    groups: frozenset[str]
    remove: bool


def parse_roster_set(query: Element, owner: JID) -> RosterSet:
    """Check a roster set's ``<query/>`` and return its item; errors per RFC 6121 2.3.3."""
    items = query.findall(ITEM)
    if len(items) != 1:
        raise StanzaError("bad-request", "a roster set carries exactly one item")
    item = items[0]
    raw = item.get("jid")
    if not raw:
        raise StanzaError("bad-request", "the item has no 'jid'")
    try:
        jid = parse_jid(raw)
    except InvalidJID as exc:
        raise StanzaError("jid-malformed", str(exc)) from None
    if jid.resource is not None:
        raise StanzaError("bad-request", "roster items are bare JIDs")
    if jid == owner:
        raise StanzaError("not-allowed", "you cannot add yourself to your roster")
    # The client may set only name and groups; 'subscription' other than "remove", 'ask' and
    # 'approved' are the server's (RFC 6121 2.1.2) and are ignored.
    if item.get("subscription") == "remove":
        return RosterSet(str(jid), None, frozenset(), remove=True)
    name = item.get("name") or None
    if name is not None and len(name) > MAX_TEXT:
        raise StanzaError("not-acceptable", f"the name is longer than {MAX_TEXT} characters")
    groups: list[str] = [g.text or "" for g in item.findall(GROUP)]
    for group in groups:
        if not group:
            raise StanzaError("not-acceptable", "a group name is empty")
        if len(group) > MAX_TEXT:
            raise StanzaError("not-acceptable", f"a group name is longer than {MAX_TEXT}")
    if len(set(groups)) != len(groups):
        raise StanzaError("bad-request", "the item names a group twice")
    return RosterSet(str(jid), name, frozenset(groups), remove=False)


class RosterIq:
    def __init__(self, module: ModuleContext, store: RosterStore, api: RosterAPI) -> None:
        self.module = module
        self.store = store
        self.api = api

    async def get(self, event: StanzaEvent) -> bool:
        username = event.from_jid.local or ""
        roster = await self.store.get(username)
        if event.origin is not None:
            event.origin.interested = True  # RFC 6121 2.1.3: it gets roster pushes from now on
        if event.stanza[0].get("ver") == roster.ver:
            # RFC 6121 2.6.3: the client's cached copy is current; changes come as pushes.
            return await self.module.reply(event)
        items = sorted(roster.items.values(), key=lambda i: i.jid)
        query = el(QUERY, {"ver": roster.ver}, *(item.to_element() for item in items))
        return await self.module.reply(event, query)

    async def set(self, event: StanzaEvent) -> bool:
        owner = event.from_jid.bare
        username = owner.local or ""
        request = parse_roster_set(event.stanza[0], owner)
        if request.remove:
            return await self.remove(event, username, request.jid)
        roster = await self.store.get(username)
        old = roster.items.get(request.jid)
        if old is None:
            if len(roster.items) >= self.api.max_items:
                raise StanzaError("not-allowed", f"rosters hold at most {self.api.max_items}")
            new = RosterItem(request.jid, request.name, groups=request.groups)
        else:
            new = old.edited(request.name, request.groups)
        if new != old:
            roster.items[new.jid] = new
            await self.store.save(username, roster, changed_items=True)
        # RFC 6121 2.3.2: the push goes to every interested resource, the sender included, even
        # when nothing changed, so a client waiting for it is answered.
        self.api.push(username, roster, new.to_element())
        return await self.module.reply(event)

    async def remove(self, event: StanzaEvent, username: str, jid: str) -> bool:
        """RFC 6121 2.5: remove the item, then cancel the subscriptions in both directions."""
        roster = await self.store.get(username)
        item = roster.items.pop(jid, None)
        if item is None:
            raise StanzaError("item-not-found", f"{jid} is not in the roster")
        request_pending = roster.pending.pop(jid, None) is not None
        await self.store.save(username, roster, changed_items=True)
        self.api.push(username, roster, removed_element(jid))
        await self.module.reply(event)
        await cancel_subscriptions(self.module, event.from_jid.bare, item, request_pending)
        return True


async def cancel_subscriptions(
    module: ModuleContext, owner: JID, item: RosterItem, request_pending: bool
) -> None:
    """Tell a removed contact that both subscriptions are gone (RFC 6121 2.5.2)."""
    contact = item.jid
    if item.subscription.has_to or item.ask:
        await route(
            module, el(PRESENCE, {"type": "unsubscribe", "from": str(owner), "to": contact})
        )
    if item.subscription.has_from or request_pending:
        await route(
            module, el(PRESENCE, {"type": "unsubscribed", "from": str(owner), "to": contact})
        )
    if item.subscription.has_from:
        # The contact saw the owner's presence until now: it must see the owner go away.
        for session in list(module.host.user_sessions(owner).values()):
            if session.available:
                unavailable = el(
                    PRESENCE, {"type": "unavailable", "from": str(session.jid), "to": contact}
                )
                await route(module, unavailable)


async def route(module: ModuleContext, stanza: Element) -> None:
    """Route a stanza the server sends for a user; a contact on an unreachable domain is skipped."""
    try:
        await module.send(stanza)
    except StanzaError as exc:
        module.log.debug("not routed to %s: %s", stanza.get("to"), exc)
