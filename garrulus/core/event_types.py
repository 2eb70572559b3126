"""Payloads of core events. Events are mutable carriers; the protocol data inside them is typed."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from xml.etree.ElementTree import Element

from garrulus.xmpp.jid import JID

if TYPE_CHECKING:
    from garrulus.core.host import Host, Identity
    from garrulus.core.session import Session


# StanzaEvent.notes key: the stanza was already delivered once (stream management hands back
# what a vanished session never acknowledged); archives keep the entry it already has.
NOTE_REDELIVERY = "redelivery"


@dataclass(slots=True)
class StanzaEvent:
    """A stanza on its way: ``origin`` is the local session that sent it (None if the server)."""

    stanza: Element
    origin: Session | None
    from_jid: JID
    to_jid: JID  # the account's bare JID when the client sent no 'to'
    host: Host  # where the event fires: the sender's host for pre- events, else the recipient's
    kind: str  # message / presence / iq
    stanza_type: str  # the type attribute with its RFC default filled in
    # What modules learned about this stanza on its way (e.g. the archive id it got), so a
    # later handler of the same stanza need not work it out again.
    notes: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class SessionEvent:
    session: Session


@dataclass(slots=True)
class UserEvent:
    host: Host
    username: str


@dataclass(slots=True)
class DiscoInfoEvent:
    """Collect-style: handlers add to ``features``/``identities``/``forms`` and return None."""

    host: Host
    target: JID
    requester: JID
    node: str | None
    features: set[str] = field(default_factory=set)
    identities: list[Identity] = field(default_factory=list)
    forms: list[Element] = field(default_factory=list)


@dataclass(slots=True)
class FeaturesEvent:
    """Collect-style: stream features offered after authentication."""

    session_host: Host
    bound: bool
    features: list[Element] = field(default_factory=list)
