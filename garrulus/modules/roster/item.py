"""Roster items (RFC 6121 section 2.1.2): the parsed form, its XML and its stored JSON."""

from __future__ import annotations

import enum
from dataclasses import dataclass, replace
from typing import Any
from xml.etree.ElementTree import Element, SubElement

from garrulus.xmpp import ns
from garrulus.xmpp.xml import qname

QUERY = qname(ns.ROSTER, "query")
ITEM = qname(ns.ROSTER, "item")
GROUP = qname(ns.ROSTER, "group")


class Subscription(enum.Enum):
    """The ``subscription`` attribute (RFC 6121 2.1.2.5), from the owner's point of view."""

    NONE = "none"
    TO = "to"  # the owner receives the contact's presence
    FROM = "from"  # the contact receives the owner's presence
    BOTH = "both"

    @property
    def has_to(self) -> bool:
        return self in (Subscription.TO, Subscription.BOTH)

    @property
    def has_from(self) -> bool:
        return self in (Subscription.FROM, Subscription.BOTH)

    @staticmethod
    def of(has_to: bool, has_from: bool) -> Subscription:
        if has_to:
            return Subscription.BOTH if has_from else Subscription.TO
        return Subscription.FROM if has_from else Subscription.NONE


@dataclass(frozen=True, slots=True)
class RosterItem:
    """One contact of one user's roster; ``jid`` is a prepared bare JID string."""

    jid: str
    name: str | None = None
    subscription: Subscription = Subscription.NONE
    ask: bool = False  # pending out: the owner asked for the contact's presence (ask='subscribe')
    groups: frozenset[str] = frozenset()
    approved: bool = False  # RFC 6121 3.4: the owner pre-approved the contact's request

    def edited(self, name: str | None, groups: frozenset[str]) -> RosterItem:
        """The item after a roster set: only the name and groups are the client's to change."""
        return replace(self, name=name, groups=groups)

    def to_element(self) -> Element:
        attrs = {"jid": self.jid, "subscription": self.subscription.value}
        if self.name:
            attrs["name"] = self.name
        if self.ask:
            attrs["ask"] = "subscribe"
        if self.approved:
            attrs["approved"] = "true"
        item = Element(ITEM, attrs)
        for group in sorted(self.groups):
            SubElement(item, GROUP).text = group
        return item

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"jid": self.jid, "subscription": self.subscription.value}
        if self.name:
            out["name"] = self.name
        if self.ask:
            out["ask"] = True
        if self.approved:
            out["approved"] = True
        if self.groups:
            out["groups"] = sorted(self.groups)
        return out

    @staticmethod
    def from_json(data: dict[str, Any]) -> RosterItem:
        return RosterItem(
            jid=str(data["jid"]),
            name=data.get("name"),
            subscription=Subscription(data.get("subscription", "none")),
            ask=bool(data.get("ask", False)),
            groups=frozenset(data.get("groups", ())),
            approved=bool(data.get("approved", False)),
        )


def removed_element(jid: str) -> Element:
    """The item of a roster push announcing a removal (RFC 6121 2.5.2)."""
    return Element(ITEM, {"jid": jid, "subscription": "remove"})
