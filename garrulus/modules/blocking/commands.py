"""The blocking command protocol (XEP-0191 sections 3.1 to 3.4): get, block, unblock, pushes,
and the presence that blocking and unblocking imply.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from xml.etree.ElementTree import Element

from garrulus.core.event_types import StanzaEvent
from garrulus.core.module_api import ModuleContext
from garrulus.core.session import Session
from garrulus.modules.blocking.store import BlocklistStore, is_blocked
from garrulus.modules.presence import session_presence
from garrulus.modules.presence.notify import addressed, available_sessions, route, unavailable
from garrulus.modules.roster import RosterAPI
from garrulus.xmpp import ns
from garrulus.xmpp.errors import StanzaError
from garrulus.xmpp.jid import JID, InvalidJID, parse_jid
from garrulus.xmpp.stanza import IQ, PRESENCE
from garrulus.xmpp.xml import el, qname

BLOCKLIST = qname(ns.BLOCKING, "blocklist")
BLOCK = qname(ns.BLOCKING, "block")
UNBLOCK = qname(ns.BLOCKING, "unblock")
ITEM = qname(ns.BLOCKING, "item")


def parse_items(command: Element) -> list[str]:
    """The prepared JIDs of a block/unblock command's items; ``jid-malformed`` on a bad one."""
    out: list[str] = []
    for item in command.findall(ITEM):
        raw = item.get("jid")
        if not raw:
            raise StanzaError("bad-request", "an item has no 'jid'")
        try:
            out.append(str(parse_jid(raw)))
        except InvalidJID as exc:
            raise StanzaError("jid-malformed", str(exc)) from None
    return out


def items_element(tag: str, jids: Iterable[str]) -> Element:
    return el(tag, None, *(el(ITEM, {"jid": jid}) for jid in sorted(jids)))


class Commands:
    def __init__(self, module: ModuleContext, store: BlocklistStore, roster: RosterAPI) -> None:
        self.module = module
        self.host = module.host
        self.store = store
        self.roster = roster

    def _interested(self, owner: JID) -> list[Session]:
        return [s for s in self.host.user_sessions(owner).values() if s.state.get(self.module.name)]

    def _push(self, owner: JID, payload: Element) -> None:
        """XEP-0191 3.3, 3.4: every resource that asked for the blocklist hears of changes."""
        for session in self._interested(owner):
            iq = el(
                IQ,
                {"type": "set", "id": f"block-{secrets.token_hex(6)}", "to": str(session.jid)},
                payload,
            )
            session.send(iq)

    async def get(self, event: StanzaEvent) -> bool:
        username = event.from_jid.local or ""
        entries = await self.store.get(username)
        if event.origin is not None:
            event.origin.state[self.module.name] = True
        return await self.module.reply(event, items_element(BLOCKLIST, entries))

    async def block(self, event: StanzaEvent) -> bool:
        owner = event.from_jid.bare
        username = owner.local or ""
        jids = parse_items(event.stanza[0])
        if not jids:
            raise StanzaError("bad-request", "block at least one JID")
        async with self.store.locks.hold(username):
            old = await self.store.get(username)
            new = old | frozenset(jids)
            if new != old:
                await self.store.set(username, new)
        await self.module.reply(event)
        self._push(owner, items_element(BLOCK, jids))
        added = new - old
        if added:
            await self._hide_from(owner, frozenset(added))
        return True

    async def unblock(self, event: StanzaEvent) -> bool:
        owner = event.from_jid.bare
        username = owner.local or ""
        jids = parse_items(event.stanza[0])
        async with self.store.locks.hold(username):
            old = await self.store.get(username)
            # No items: unblock everyone (XEP-0191 3.4).
            new = old - frozenset(jids) if jids else frozenset()
            if new != old:
                await self.store.set(username, new)
        await self.module.reply(event)
        self._push(owner, items_element(UNBLOCK, jids))
        removed = old - new
        if removed:
            await self._show_to(owner, frozenset(removed), still_blocked=new)
        return True

    async def _hide_from(self, owner: JID, entries: frozenset[str]) -> None:
        """XEP-0191 3.3: contacts that saw the user's presence see the user go unavailable;
        their pending requests are refused, as the user could not answer them any more."""
        username = owner.local or ""
        roster = await self.roster.roster(username)
        sessions = available_sessions(self.host, owner)
        for item in list(roster.items.values()):
            if item.subscription.has_from and is_blocked(entries, parse_jid(item.jid)):
                for session in sessions:
                    await route(self.module, unavailable(session.jid, item.jid))
        for session in sessions:
            state = session_presence(session)
            if state is not None:
                for target in sorted(state.directed):
                    if is_blocked(entries, parse_jid(target)):
                        state.directed.discard(target)
                        await route(self.module, unavailable(session.jid, target))
        for requester in list(roster.pending):
            if is_blocked(entries, parse_jid(requester)):
                await self.roster.drop_pending(username, requester)

    async def _show_to(
        self, owner: JID, entries: frozenset[str], still_blocked: frozenset[str]
    ) -> None:
        """XEP-0191 3.4: subscribed contacts get the user's current presence again, and the
        user's resources probe the contacts they are subscribed to, whose presence was dropped."""
        username = owner.local or ""
        roster = await self.roster.roster(username)
        sessions = available_sessions(self.host, owner)
        for item in list(roster.items.values()):
            contact = parse_jid(item.jid)
            if not is_blocked(entries, contact) or is_blocked(still_blocked, contact):
                continue
            for session in sessions:
                if item.subscription.has_from and session.presence is not None:
                    await route(self.module, addressed(session.presence, item.jid))
                if item.subscription.has_to:
                    probe = el(
                        PRESENCE, {"type": "probe", "from": str(session.jid), "to": item.jid}
                    )
                    await route(self.module, probe)
