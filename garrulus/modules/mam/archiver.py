"""Archiving (XEP-0313 section "Message archives"): both directions, before routing or delivery.

A message a local user sends is archived in the sender's archive before it is routed; a message
arriving for a local user is archived in the recipient's archive before it is delivered, and the
delivered copy carries ``<stanza-id by=recipient id=.../>`` (XEP-0359). Whether to archive is the
``archive-should-store`` event: the default handler applies the content table and the user's
preferences, and any module may answer first. Every decision is logged at debug with its reason.
"""

from __future__ import annotations

import hashlib
import logging
from collections import OrderedDict
from collections.abc import Awaitable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING
from xml.etree.ElementTree import Element

from garrulus.core.event_types import NOTE_REDELIVERY, StanzaEvent
from garrulus.core.pipeline import parked
from garrulus.modules.mam.ids import IdCodec
from garrulus.modules.mam.policy import (
    Decision,
    needs_roster,
    prefs_allow,
    should_archive,
    stored_copy,
)
from garrulus.modules.mam.prefs_store import PrefsStore
from garrulus.modules.mam.retraction import (
    Retraction,
    find_original,
    is_tombstone,
    parse_retraction,
    tombstone,
)
from garrulus.storage.api import Direction, NewArchiveItem, StorageError
from garrulus.xmpp import ns
from garrulus.xmpp.jid import JID, try_jid
from garrulus.xmpp.xml import el, qname, split_tag, to_xml

if TYPE_CHECKING:
    from garrulus.core.module_api import ModuleContext

SHOULD_STORE = "archive-should-store"
STANZA_ID = qname(ns.SID, "stanza-id")
ORIGIN_ID = qname(ns.SID, "origin-id")
BODY = qname(ns.CLIENT, "body")
_NOTE_IN = "mam:in"
_NOTE_PRE_IN = "mam:pre-in"  # the recipient's entry, stored with the sender's
_NOTE_OUT = "mam:out"
_NOTE_STAMP = "mam:out-stamp"
_NOTE_COPY = "mam:stored-form"


@dataclass
class ArchiveCheck:
    """The question ``archive-should-store`` answers with a :class:`Decision`."""

    event: StanzaEvent
    owner: JID  # whose archive
    peer: JID  # the other party, as the message names it (full or bare)
    direction: Direction


def strip_forged_ids(stanza: Element, owner: JID) -> None:
    """XEP-0359 rule 2 (checklist SID-03/04): drop stanza-ids we would stamp ourselves: by the
    owner's bare or full JID, by our domain, or by our domain with a resource."""
    for node in stanza.findall(STANZA_ID):
        by = try_jid(node.get("by"))
        if by is None:
            continue
        if (by.local == owner.local and by.domain == owner.domain) or (
            by.local is None and by.domain == owner.domain
        ):
            stanza.remove(node)


def dedup_key(stanza: Element, sender: JID) -> str | None:
    """Same message, same key: a resend after a reconnect is not archived twice (OFF-06).

    An origin-id is unique per sender account (XEP-0359), so it is keyed with the bare JID and
    survives a new resource; a plain message id is only trusted within one resource. The key
    also holds a digest of the payload: a client that reuses ids (a per-session counter starting
    again after a reconnect) sends a different message under an old id, which must be archived,
    and must not be delivered under the old message's stanza-id, which clients would take for a
    duplicate and hide. A true resend carries the same payload (our own stanza-ids are stripped
    before this is asked). ``garrulus mam import`` computes keys from stored copies: pass the
    stored copy here too.
    """
    origin = stanza.find(ORIGIN_ID)
    if origin is not None and origin.get("id"):
        key = f"o|{sender.bare}|{origin.get('id')}"
    elif stanza.get("id"):
        key = f"i|{sender}|{stanza.get('id')}"
    else:
        return None
    # Each child as written on its own (with its namespace): rows stored by earlier versions
    # carry keys made this way, so a resend or a re-import across an upgrade still matches.
    payload = hashlib.blake2b(digest_size=12)
    for node in stanza:
        payload.update(to_xml(node, "").encode())
    return f"{key}|{payload.hexdigest()}"


class Archiver:
    def __init__(self, module: ModuleContext, prefs: PrefsStore, codec: IdCodec) -> None:
        self.module = module
        self.host = module.host
        self.prefs = prefs
        self.codec = codec
        self.log = logging.getLogger(f"garrulus.mam.{module.host.name}")
        self.dont_archive: frozenset[str] = frozenset(module.option("dont_archive_namespaces"))
        self.tombstones = bool(module.option("archive_retraction_tombstones"))
        self._known_users: OrderedDict[str, bool] = OrderedDict()

    # -- the default policy ------------------------------------------------------------------

    def default_decision(self, check: ArchiveCheck) -> Decision | Awaitable[Decision]:
        content = should_archive(check.event.stanza, check.direction, self.dont_archive)
        if not content.store:
            return content
        # Without a coroutine when the answer needs no I/O (the owner's prefs are cached and the
        # roster doesn't matter): this runs twice for every message.
        prefs = self.prefs.cached(check.owner.local or "")
        if prefs is not None and not needs_roster(prefs, check.peer):
            return prefs_allow(prefs, check.peer, False)
        return self._decide(check)

    async def _decide(self, check: ArchiveCheck) -> Decision:
        username = check.owner.local or ""
        prefs = await self.prefs.get(username)
        in_roster = False
        if needs_roster(prefs, check.peer):
            roster = self.host.modules.get("roster")
            if roster is not None:
                in_roster = bool(await roster.api.contains(username, str(check.peer.bare)))
        return prefs_allow(prefs, check.peer, in_roster)

    # -- hooks ---------------------------------------------------------------------------------

    async def outgoing(self, event: StanzaEvent) -> None:
        """pre-message/*: a local user sent it; archive in the sender's archive."""
        notes = event.notes
        if _NOTE_OUT in notes:
            return
        notes[_NOTE_OUT] = None
        owner = event.from_jid.bare
        strip_forged_ids(event.stanza, owner)
        to = event.to_jid
        if to.local is None:
            return  # to the server itself: not a conversation
        if not await self._deliverable(to, event.from_jid):
            # ARC-28: it is refused on its way (no such account, a domain not served here as
            # there is no server-to-server, or a recipient who blocked the sender), so it never
            # became part of a conversation.
            return
        # Both copies of a local conversation go to the store together: one group commit to
        # wait for per message instead of two in a row (the recipient's copy is decided here
        # by the recipient host's archiver, and :meth:`incoming` only stamps it).
        peer_archiver = self._peer_archiver(to) if to.bare != owner else None
        if peer_archiver is not None:
            strip_forged_ids(event.stanza, to.bare)
        now = self.module.server.clock.now()
        out_item = await self._prepare(event, owner, to, Direction.OUT, event.from_jid, now)
        in_item = None
        if peer_archiver is not None:
            in_item = await peer_archiver._prepare(
                event, to.bare, event.from_jid, Direction.IN, event.from_jid, now
            )
            if in_item is None:
                notes[_NOTE_PRE_IN] = None  # decided: nothing for the recipient's archive
        items = [item for item in (out_item, in_item) if item is not None]
        if not items:
            return
        try:
            # Queued now (ids in the order sent); the session's next message may start while
            # this one waits for the commit.
            ids = await parked(self.module.archive.append_many(items))
        except StorageError:
            # Nothing is lost: the message is still delivered; the operator sees why it is
            # missing from the archive.
            self.log.exception("could not archive message %s", event.stanza.get("id"))
            return
        if in_item is not None:
            notes[_NOTE_PRE_IN] = peer_archiver.codec.to_client(ids[-1])  # type: ignore[union-attr]
        retraction = parse_retraction(event.stanza, now)
        if retraction is not None:
            # Awaited before the message goes on: a query made once it has arrived (or once
            # the sender's client has its carbon) sees the tombstone.
            sender = str(owner)
            if out_item is not None:
                await self._retract(sender, str(to.bare), Direction.OUT, retraction, ids[0])
            if in_item is not None:
                await peer_archiver._retract(  # type: ignore[union-attr]
                    str(to.bare), sender, Direction.IN, retraction, ids[-1]
                )
        if out_item is None:
            return
        client_id = self.codec.to_client(ids[0])
        notes[_NOTE_OUT] = client_id
        # CRB-01/05, as Prosody: the sender's id rides on the stanza while the carbons module
        # copies it to the sender's other clients (below this priority), and :meth:`unstamp`
        # takes it off before the message is routed, so the contact never sees it (SID-02).
        stamp = el(STANZA_ID, {"by": str(owner), "id": client_id})
        event.stanza.append(stamp)
        notes[_NOTE_STAMP] = stamp

    async def _retract(
        self, owner: str, peer: str, sent: Direction, retraction: Retraction, retraction_id: str
    ) -> None:
        """Turn the retracted original in ``owner``'s archive into a tombstone (XEP-0424), if
        this host keeps tombstones and the original is there: written by the retraction's
        sender (``sent``: OUT in the sender's archive, IN in the recipient's; RET-03), in the
        conversation with ``peer``, before the retraction's own entry ``retraction_id``. An
        unknown id (RET-05) or an original already tombstoned changes nothing."""
        if not self.tombstones:
            return
        store = self.module.archive
        try:
            found = await find_original(
                store, owner, peer, sent, retraction.target_id, retraction_id
            )
            if found is None or is_tombstone(found[1]):
                return
            item, original = found
            stored = tombstone(original, retraction)
            text = to_xml(stored, "")
            # Keyed as `garrulus mam import` keys the exported tombstone (from its stored form
            # and `from`), so re-importing an export of this archive stores nothing twice.
            sender = try_jid(stored.get("from")) or try_jid(owner)
            key = None if sender is None else dedup_key(stored, sender)
            await store.replace(owner, item.id, stanza=text, body=None, dedup_key=key)
        except StorageError:
            # The retraction is archived, so clients still learn of it; the operator sees why
            # the original was left as it was.
            self.log.exception("could not apply retraction %s in %s", retraction.message_id, owner)
            return
        self.log.debug("retraction %s: tombstone in %s", retraction.message_id, owner)

    def unstamp(self, event: StanzaEvent) -> None:
        """pre-message/*, after carbons: the sender's stanza-id is not for the contact."""
        stamp = event.notes.pop(_NOTE_STAMP, None)
        if stamp is not None and stamp in list(event.stanza):
            event.stanza.remove(stamp)

    def incoming(self, event: StanzaEvent) -> Awaitable[None] | None:
        """message/bare and message/full: it arrives for a local user; archive, then stamp.

        A local message was stored on its way out, so this is usually plain code; only a
        message whose recipient's copy is still to be stored returns a coroutine."""
        if _NOTE_IN in event.notes:
            return None
        event.notes[_NOTE_IN] = None
        if event.notes.get(NOTE_REDELIVERY):
            return None  # archived (and stamped) on its first delivery
        owner = event.to_jid.bare
        strip_forged_ids(event.stanza, owner)
        if _NOTE_PRE_IN in event.notes:
            # Decided and stored on the way out, together with the sender's copy.
            self._stamp(event, owner, event.notes.pop(_NOTE_PRE_IN))
            return None
        if event.from_jid.bare == owner and _NOTE_OUT in event.notes:
            # ARC-24: a message to oneself is one archive entry, made on the way out (even for
            # a message without id, which the idempotency key could not catch); the delivered
            # copy still carries that entry's id (SID-10).
            self._stamp(event, owner, event.notes[_NOTE_OUT])
            return None
        return self._store_incoming(event, owner)

    async def _store_incoming(self, event: StanzaEvent, owner: JID) -> None:
        if not await self._user_exists(owner):
            return  # the message module bounces it; nothing to archive for nobody
        archive_id = await self._archive(event, owner, event.from_jid, Direction.IN, event.from_jid)
        self._stamp(event, owner, None if archive_id is None else self.codec.to_client(archive_id))

    @staticmethod
    def _stamp(event: StanzaEvent, owner: JID, client_id: str | None) -> None:
        if client_id is not None:
            event.stanza.append(el(STANZA_ID, {"by": str(owner), "id": client_id}))
            event.notes[_NOTE_IN] = client_id

    def _peer_archiver(self, to: JID) -> Archiver | None:
        """The archiver of a local recipient's host, when its archive module is loaded."""
        host = self.module.server.hosts.get(to.domain)
        loaded = host.modules.get("mam") if host is not None else None
        api = loaded.api if loaded is not None else None
        return api if isinstance(api, Archiver) else None

    async def _prepare(
        self,
        event: StanzaEvent,
        owner: JID,
        peer: JID,
        direction: Direction,
        sender: JID,
        when: datetime | None = None,
    ) -> NewArchiveItem | None:
        """The archive entry for ``owner`` if the ``archive-should-store`` event says so."""
        check = ArchiveCheck(event, owner, peer, direction)
        answer = self.host.events.ask(SHOULD_STORE, check)
        decision: Decision = answer if isinstance(answer, Decision) else await answer
        if self.log.isEnabledFor(logging.DEBUG):
            self.log.debug(
                "%s message %s for %s (%s): %s",
                "archiving" if decision.store else "not archiving",
                event.stanza.get("id"),
                owner,
                direction.value,
                decision.reason,
            )
        if not decision.store:
            return None
        text, key, body = self._stored_form(event, sender)
        return NewArchiveItem(
            owner=str(owner),
            peer=str(peer.bare),
            peer_resource=peer.resource,
            direction=direction,
            when=when or self.module.server.clock.now(),
            stanza=text,
            body=body,
            msg_type=event.stanza_type,
            dedup_key=key,
        )

    def _stored_form(self, event: StanzaEvent, sender: JID) -> tuple[str, str | None, str | None]:
        """What is stored, its idempotency key and its text body: worked out once per message,
        as the sender's and the recipient's copies are the same bytes."""
        cached = event.notes.get(_NOTE_COPY)
        if cached is not None and cached[0] == self.dont_archive:
            return cached[1]  # type: ignore[no-any-return]
        stanza = event.stanza
        excluded = self.dont_archive
        if any(split_tag(node.tag)[0] in excluded for node in stanza):
            stored = stored_copy(stanza, excluded)
        else:
            stored = stanza  # nothing to leave out: serialise it as it is, no copy
        # Keyed on what is stored, so `garrulus mam import` of an export, which only has the
        # stored copy, finds the same keys.
        text = to_xml(stored, "")
        form = (text, dedup_key(stored, sender), stanza.findtext(BODY))
        event.notes[_NOTE_COPY] = (excluded, form)
        return form

    async def _archive(
        self, event: StanzaEvent, owner: JID, peer: JID, direction: Direction, sender: JID
    ) -> str | None:
        item = await self._prepare(event, owner, peer, direction, sender)
        if item is None:
            return None
        try:
            return await self.module.archive.append(item)
        except StorageError:
            # Nothing is lost: the message is still delivered; the operator sees why it is
            # missing from the archive.
            self.log.exception("could not archive message %s for %s", event.stanza.get("id"), owner)
            return None

    async def _deliverable(self, to: JID, sender: JID) -> bool:
        host = self.module.server.hosts.get(to.domain)
        if host is None or not await self._user_exists(to.bare):
            return False
        # XEP-0191 3.6: a recipient who blocked the sender gets nothing, and the sender an
        # error; their blocking module refuses it only after the sender's side ran (here).
        blocking = host.modules.get("blocking")
        if blocking is not None and to.local is not None:
            return not await blocking.api.is_blocked(to.local, sender)
        return True

    async def _user_exists(self, owner: JID) -> bool:
        key = str(owner)
        if self.host.sessions.get(key):
            return True
        known = self._known_users.get(key)
        if known:
            self._known_users.move_to_end(key)
            return True
        exists = await self.module.accounts.get(owner.domain, owner.local or "") is not None
        if exists:
            self._known_users[key] = True
            if len(self._known_users) > 10000:
                self._known_users.popitem(last=False)
        return exists

    def forget_user(self, owner: JID) -> None:
        self._known_users.pop(str(owner), None)


def note_archive_id(event: StanzaEvent) -> str | None:
    """The id (as clients see it) a message got in its recipient's archive, or None; for other
    modules (offline storage keeps the stamped copy, OFF-02)."""
    value = event.notes.get(_NOTE_IN)
    return value if isinstance(value, str) else None
