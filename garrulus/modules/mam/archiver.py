"""Archiving (XEP-0313 section "Message archives"): both directions, before routing or delivery.

A message a local user sends is archived in the sender's archive before it is routed; a message
arriving for a local user is archived in the recipient's archive before it is delivered, and the
delivered copy carries ``<stanza-id by=recipient id=.../>`` (XEP-0359). Whether to archive is the
``archive-should-store`` event: the default handler applies the content table and the user's
preferences, and any module may answer first. Every decision is logged at debug with its reason.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from xml.etree.ElementTree import Element

from garrulus.core.event_types import StanzaEvent
from garrulus.modules.mam.ids import IdCodec
from garrulus.modules.mam.policy import (
    Decision,
    needs_roster,
    prefs_allow,
    should_archive,
    stored_copy,
)
from garrulus.modules.mam.prefs_store import PrefsStore
from garrulus.storage.api import Direction, NewArchiveItem, StorageError
from garrulus.xmpp import ns
from garrulus.xmpp.jid import JID, try_jid
from garrulus.xmpp.xml import el, qname, to_xml

if TYPE_CHECKING:
    from garrulus.core.module_api import ModuleContext

SHOULD_STORE = "archive-should-store"
STANZA_ID = qname(ns.SID, "stanza-id")
ORIGIN_ID = qname(ns.SID, "origin-id")
BODY = qname(ns.CLIENT, "body")
_NOTE_IN = "mam:in"
_NOTE_OUT = "mam:out"


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
    survives a new resource; a plain message id is only trusted within one resource.
    """
    origin = stanza.find(ORIGIN_ID)
    if origin is not None and origin.get("id"):
        return f"o|{sender.bare}|{origin.get('id')}"
    msg_id = stanza.get("id")
    if msg_id:
        return f"i|{sender}|{msg_id}"
    return None


class Archiver:
    def __init__(self, module: ModuleContext, prefs: PrefsStore, codec: IdCodec) -> None:
        self.module = module
        self.host = module.host
        self.prefs = prefs
        self.codec = codec
        self.log = logging.getLogger(f"garrulus.mam.{module.host.name}")
        self.dont_archive: frozenset[str] = frozenset(module.option("dont_archive_namespaces"))
        self._known_users: OrderedDict[str, bool] = OrderedDict()

    # -- the default policy ------------------------------------------------------------------

    async def default_decision(self, check: ArchiveCheck) -> Decision:
        content = should_archive(check.event.stanza, check.direction, self.dont_archive)
        if not content.store:
            return content
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
        if _NOTE_OUT in event.notes:
            return
        event.notes[_NOTE_OUT] = None
        owner = event.from_jid.bare
        strip_forged_ids(event.stanza, owner)
        if event.to_jid.local is None:
            return  # to the server itself: not a conversation
        archive_id = await self._archive(event, owner, event.to_jid, Direction.OUT, event.from_jid)
        event.notes[_NOTE_OUT] = archive_id

    async def incoming(self, event: StanzaEvent) -> None:
        """message/bare and message/full: it arrives for a local user; archive, then stamp."""
        if _NOTE_IN in event.notes:
            return
        event.notes[_NOTE_IN] = None
        owner = event.to_jid.bare
        strip_forged_ids(event.stanza, owner)
        if not await self._user_exists(owner):
            return  # the message module bounces it; nothing to archive for nobody
        archive_id = await self._archive(event, owner, event.from_jid, Direction.IN, event.from_jid)
        if archive_id is not None:
            client_id = self.codec.to_client(archive_id)
            event.stanza.append(el(STANZA_ID, {"by": str(owner), "id": client_id}))
            event.notes[_NOTE_IN] = archive_id

    async def _archive(
        self, event: StanzaEvent, owner: JID, peer: JID, direction: Direction, sender: JID
    ) -> str | None:
        check = ArchiveCheck(event, owner, peer, direction)
        decision: Decision = await self.host.events.fire(SHOULD_STORE, check)
        if not decision.store:
            if self.log.isEnabledFor(logging.DEBUG):
                self.log.debug(
                    "not archiving message %s for %s (%s): %s",
                    event.stanza.get("id"),
                    owner,
                    direction.value,
                    decision.reason,
                )
            return None
        stanza = event.stanza
        item = NewArchiveItem(
            owner=str(owner),
            peer=str(peer.bare),
            peer_resource=peer.resource,
            direction=direction,
            when=self.module.server.clock.now(),
            stanza=to_xml(stored_copy(stanza, self.dont_archive), ""),
            body=stanza.findtext(BODY),
            msg_type=event.stanza_type,
            dedup_key=dedup_key(stanza, sender),
        )
        try:
            archive_id = await self.module.archive.append(item)
        except StorageError:
            # Nothing is lost: the message is still delivered; the operator sees why it is
            # missing from the archive.
            self.log.exception("could not archive message %s for %s", stanza.get("id"), owner)
            return None
        if self.log.isEnabledFor(logging.DEBUG):
            self.log.debug(
                "archived message %s for %s (%s) as %s: %s",
                stanza.get("id"),
                owner,
                direction.value,
                archive_id,
                decision.reason,
            )
        return archive_id

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


def note_archive_id(event: StanzaEvent) -> Any:
    """The recipient-archive id a message got on its way (for other modules), or None."""
    return event.notes.get(_NOTE_IN)
