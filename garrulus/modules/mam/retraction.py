"""XEP-0424 Message Retraction in one-to-one archives: the retracted original becomes a tombstone.

The retraction itself is archived like any message (policy, RET-01). Then, in each archive that
stored it and whose host has ``archive_retraction_tombstones`` on, the original keeps its archive
id, time, peer and direction (so paging across it is unchanged, RES-11) and its stored
``<message/>`` keeps its attributes, but every child is replaced by
``<retracted xmlns='urn:xmpp:message-retract:1' id='retraction id' stamp='...'/>`` (RET-02).
Since version 0.4.0 of the XEP the tombstone names the retraction by its ``id`` attribute instead
of carrying the original's ``<origin-id/>``, so nothing else of the original remains. Deleting
the entry instead (ejabberd, RET-06) would leave a hole that clients paging by id stumble on.

Pure logic here (what is a retraction, which stored entry it means, what the tombstone is) and
the bounded search for the original; :class:`~garrulus.modules.mam.archiver.Archiver` calls them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from xml.etree.ElementTree import Element, ParseError, fromstring

from garrulus.storage.api import (
    ArchivedMessage,
    ArchiveQuery,
    ArchiveStore,
    Direction,
    ItemNotFound,
)
from garrulus.xmpp import ns
from garrulus.xmpp.datetime import format_datetime
from garrulus.xmpp.xml import el, qname

__all__ = [
    "MESSAGE_RETRACT",
    "SEARCH_WINDOW",
    "TOMBSTONE_FEATURE",
    "Retraction",
    "find_original",
    "is_tombstone",
    "parse_retraction",
    "tombstone",
]

MESSAGE_RETRACT = "urn:xmpp:message-retract:1"
TOMBSTONE_FEATURE = MESSAGE_RETRACT + "#tombstone"
_RETRACT = qname(MESSAGE_RETRACT, "retract")
_RETRACTED = qname(MESSAGE_RETRACT, "retracted")
_ORIGIN_ID = qname(ns.SID, "origin-id")
# One-to-one messages only: a room applies its own retractions (XEP-0425 is its business), and
# an error carries the id of the message it answers, not of one its sender wrote.
_ONE_TO_ONE = frozenset({"chat", "normal"})

# The newest entries of the conversation searched for the original: a retraction is about a
# recent message, and the cost of one must never grow with the archive.
SEARCH_WINDOW = 1000
# Entries per query while searching: the original is nearly always among the first few.
_CHUNK = 100


@dataclass(frozen=True)
class Retraction:
    """A one-to-one ``<message><retract id='target'/></message>`` (XEP-0424)."""

    target_id: str  # the original's message id (or origin-id, see :func:`is_original`)
    message_id: str  # the retraction's own id, which the tombstone names (RET-02 MUST)
    when: datetime  # when it was archived: the tombstone's stamp


def parse_retraction(stanza: Element, when: datetime) -> Retraction | None:
    """The retraction ``stanza`` asks for, or None.

    A ``<retract/>`` without an id is no retraction (RET-05). A retraction without an id of its
    own cannot be applied: the tombstone MUST name it, so clients can match the two; it is still
    archived (policy), and the original stays.
    """
    if stanza.get("type", "normal") not in _ONE_TO_ONE:
        return None
    retract = stanza.find(_RETRACT)
    target = None if retract is None else retract.get("id")
    own_id = stanza.get("id")
    if not target or not own_id:
        return None
    return Retraction(target, own_id, when)


def _parse(stored: str) -> Element | None:
    try:
        return fromstring(stored)
    except ParseError:
        return None  # an imported record the archive cannot read: not the original


def is_tombstone(stanza: Element) -> bool:
    return stanza.find(_RETRACTED) is not None


def is_original(stanza: Element, target_id: str) -> bool:
    """Does this stored message carry the id a retraction names?

    XEP-0424 (0.4.2) names the original by its ``<message id>`` (RET-04). Clients written to
    earlier versions name its XEP-0359 ``<origin-id/>``; most clients set both to the same
    value, and origin-ids are unique per sender, so matching either finds the message meant.
    """
    if stanza.get("id") == target_id:
        return True
    origin = stanza.find(_ORIGIN_ID)
    return origin is not None and origin.get("id") == target_id


def _candidate(item: ArchivedMessage, sent: Direction, target_id: str) -> Element | None:
    if item.direction is not sent or item.msg_type not in _ONE_TO_ONE:
        return None  # RET-03: only a message the retraction's own sender wrote
    stanza = _parse(item.stanza)
    return stanza if stanza is not None and is_original(stanza, target_id) else None


async def find_original(
    store: ArchiveStore,
    owner: str,
    peer: str,
    sent: Direction,
    target_id: str,
    before: str,
) -> tuple[ArchivedMessage, Element] | None:
    """The newest entry of ``owner``'s conversation with ``peer`` before the retraction's own
    entry ``before``, in direction ``sent`` (the retraction's sender wrote it), carrying
    ``target_id``; among the newest :data:`SEARCH_WINDOW` entries of that conversation.

    Only the newest match counts: a client reusing an id retracts its latest message with it
    (RET-04), and when that one is a tombstone already, nothing older is touched. Searching
    before the retraction's entry keeps a retraction that reuses its target's id from finding
    itself.
    """
    seen = 0
    page_before = before
    while seen < SEARCH_WINDOW:
        query = ArchiveQuery(
            with_bare=peer, page_before=page_before, limit=min(_CHUNK, SEARCH_WINDOW - seen)
        )
        try:
            page = await store.find(owner, query)
        except ItemNotFound:
            return None  # the retraction's own entry went meanwhile (expiry, deletion)
        for item in reversed(page.items):
            stanza = _candidate(item, sent, target_id)
            if stanza is not None:
                return item, stanza
        if page.complete or not page.items:
            return None
        seen += len(page.items)
        page_before = page.items[0].id
    return None


def tombstone(original: Element, retraction: Retraction) -> Element:
    """The original's ``<message/>`` with its attributes and only ``<retracted/>`` inside.

    The stamp is the retraction's time to the millisecond, as archive times are kept, so it
    reads like the retraction's own ``<delay stamp>``.
    """
    when = retraction.when
    stamp = when.replace(microsecond=when.microsecond - when.microsecond % 1000)
    retracted = el(_RETRACTED, {"id": retraction.message_id, "stamp": format_datetime(stamp)})
    return el(original.tag, dict(original.attrib), retracted)
