"""What other modules get from ``module.depends("roster")``.

The archive asks :meth:`RosterAPI.contains` for every message under the "roster" policy and the
presence module reads subscriptions for every presence broadcast, so reads are served from the
in-memory cache; only the first use of an offline user's roster reads storage.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from dataclasses import replace
from xml.etree.ElementTree import Element

from garrulus.core.module_api import ModuleContext
from garrulus.core.session import Session
from garrulus.modules.roster.item import QUERY, RosterItem, Subscription
from garrulus.modules.roster.store import Roster, RosterStore
from garrulus.xmpp.errors import StanzaError
from garrulus.xmpp.stanza import IQ
from garrulus.xmpp.xml import el


class RosterAPI:
    def __init__(self, module: ModuleContext, store: RosterStore, max_items: int) -> None:
        self._module = module
        self._host = module.host
        self._store = store
        self.max_items = max_items

    # -- reads ------------------------------------------------------------------------------

    async def contains(self, owner_username: str, peer_bare: str) -> bool:
        """Is ``peer_bare`` (a prepared bare JID string) an item of the owner's roster?"""
        roster = self._store.peek(owner_username) or await self._store.get(owner_username)
        return peer_bare in roster.items

    async def get_item(self, owner_username: str, peer_bare: str) -> RosterItem | None:
        roster = self._store.peek(owner_username) or await self._store.get(owner_username)
        return roster.items.get(peer_bare)

    async def items(self, owner_username: str) -> tuple[RosterItem, ...]:
        roster = await self._store.get(owner_username)
        return tuple(roster.items.values())

    async def roster(self, owner_username: str) -> Roster:
        """The live roster (read it, never change it: changes go through this API)."""
        return await self._store.get(owner_username)

    async def pending_in(self, owner_username: str, peer_bare: str) -> bool:
        roster = await self._store.get(owner_username)
        return peer_bare in roster.pending

    async def pending_requests(self, owner_username: str) -> dict[str, str]:
        """Inbound subscription requests not yet answered: requester -> stored stanza XML."""
        roster = await self._store.get(owner_username)
        return dict(roster.pending)

    # -- changes ----------------------------------------------------------------------------

    async def update_subscription(
        self,
        owner_username: str,
        peer_bare: str,
        *,
        subscription: Subscription,
        ask: bool,
        approved: bool,
        pending_in: bool,
        request: str | None = None,
    ) -> RosterItem | None:
        """Store a new subscription state for one contact (RFC 6121 3), pushing item changes.

        The item is created when the state needs one (RFC 6121 3.1.2, 3.1.5) and raises
        ``not-allowed`` if the roster is full. ``request`` is the inbound request to keep while
        ``pending_in`` (a requester gets no roster item until the user answers).
        """
        roster = await self._store.get(owner_username)
        old = roster.items.get(peer_bare)
        new = old
        if old is None:
            if subscription is not Subscription.NONE or ask or approved:
                if len(roster.items) >= self.max_items:
                    raise StanzaError("not-allowed", "the roster is full")
                new = RosterItem(peer_bare, None, subscription, ask, frozenset(), approved)
        else:
            new = replace(old, subscription=subscription, ask=ask, approved=approved)
        pending_changed = False
        if pending_in:
            # A flood of requests must not grow the stored roster without bound.
            if (
                request is not None
                and peer_bare not in roster.pending
                and len(roster.pending) < self.max_items
            ):
                roster.pending[peer_bare] = request
                pending_changed = True
        elif roster.pending.pop(peer_bare, None) is not None:
            pending_changed = True
        item_changed = new != old
        if new is not None and item_changed:
            roster.items[peer_bare] = new
        if item_changed or pending_changed:
            await self._store.save(owner_username, roster, changed_items=item_changed)
        if item_changed and new is not None:
            self.push(owner_username, roster, new.to_element())
        return new

    async def drop_pending(self, owner_username: str, peer_bare: str) -> None:
        roster = await self._store.get(owner_username)
        if roster.pending.pop(peer_bare, None) is not None:
            await self._store.save(owner_username, roster, changed_items=False)

    # -- pushes -----------------------------------------------------------------------------

    def push(self, owner_username: str, roster: Roster, item: Element) -> None:
        """A roster push (RFC 6121 2.1.6) to every interested resource of the owner."""
        self.push_to(self._interested(owner_username), roster, item)

    def _interested(self, owner_username: str) -> list[Session]:
        bare = f"{owner_username}@{self._host.name}"
        return [s for s in self._host.user_sessions(bare).values() if s.interested]

    @staticmethod
    def push_to(sessions: Iterable[Session], roster: Roster, item: Element) -> None:
        for session in sessions:
            query = el(QUERY, {"ver": roster.ver}, item)
            # No 'from': a push without one is from the user's own account (RFC 6121 2.1.6).
            push_id = f"push-{secrets.token_hex(6)}"
            session.send(el(IQ, {"type": "set", "id": push_id, "to": str(session.jid)}, query))
