"""The archive's IQ handlers: query, query form, metadata and preferences (XEP-0313, XEP-0441)."""

from __future__ import annotations

import dataclasses
import logging
from typing import TYPE_CHECKING
from xml.etree.ElementTree import fromstring

from garrulus.core.event_types import StanzaEvent
from garrulus.core.throttle import RateLimiter
from garrulus.modules.mam.ids import IdCodec
from garrulus.modules.mam.prefs import build_prefs, parse_prefs
from garrulus.modules.mam.prefs_store import PrefsStore
from garrulus.modules.mam.query import build_query_form, parse_query
from garrulus.modules.mam.results import (
    fin_element,
    metadata_element,
    result_message,
    result_message_text,
    send_order,
)
from garrulus.storage.api import (
    ArchiveBounds,
    ArchivedMessage,
    ArchiveQuery,
    ItemNotFound,
    StorageError,
)
from garrulus.xmpp.errors import StanzaError

if TYPE_CHECKING:
    from garrulus.core.module_api import ModuleContext

STATE_KEY = "mam"


def _unfiltered(query: ArchiveQuery) -> bool:
    return (
        query.with_bare is None
        and query.start is None
        and query.end is None
        and query.after_id is None
        and query.before_id is None
        and query.ids is None
        and not query.fulltext
        and query.msg_types is None
    )


def queried(session_state: dict[str, object]) -> bool:
    """Whether a session has queried its archive (it then skips offline delivery, OFF-03)."""
    return bool(session_state.get(STATE_KEY))


def _not_found(client_id: str) -> StanzaError:
    # RSM-09/FLT-17/FLT-20: the same answer whether the id is malformed (RSM-10), never issued,
    # expired (RTN-03) or in someone else's archive.
    return StanzaError("item-not-found", f"no message with id {client_id!r} in this archive")


class QueryHandlers:
    def __init__(self, module: ModuleContext, prefs: PrefsStore, codec: IdCodec) -> None:
        self.module = module
        self.prefs = prefs
        self.codec = codec
        self.log = logging.getLogger(f"garrulus.mam.{module.host.name}")
        self.max_results = int(module.option("max_archive_query_results"))
        self.include_total = bool(module.option("mam_include_total"))
        # ACL-06: per account, so many sessions of one user share it.
        self.limiter = RateLimiter(
            float(module.option("archive_query_rate")),
            int(module.option("archive_query_burst")),
            # The server's clock, so tests can move it; the limiter ignores steps backwards.
            clock=lambda: module.server.clock.now().timestamp(),
        )

    # -- ids across the boundary ---------------------------------------------------------------

    def _store_id(self, client_id: str | None) -> str | None:
        if client_id is None:
            return None
        store_id = self.codec.from_client(client_id)
        if store_id is None:
            raise ItemNotFound(client_id)
        return store_id

    def _to_store(self, query: ArchiveQuery) -> ArchiveQuery:
        return dataclasses.replace(
            query,
            after_id=self._store_id(query.after_id),
            before_id=self._store_id(query.before_id),
            ids=tuple(self._store_id(i) or "" for i in query.ids)
            if query.ids is not None
            else None,
            page_after=self._store_id(query.page_after),
            page_before=self._store_id(query.page_before),
        )

    def _to_client(self, item: ArchivedMessage) -> ArchivedMessage:
        # Built directly: dataclasses.replace() looks the fields up again for each of a page's
        # results, which cost more than the id's encryption.
        return ArchivedMessage(
            id=self.codec.to_client(item.id),
            owner=item.owner,
            peer=item.peer,
            peer_resource=item.peer_resource,
            direction=item.direction,
            when=item.when,
            stanza=item.stanza,
            msg_type=item.msg_type,
        )

    # -- handlers -------------------------------------------------------------------------------

    def _own(self, event: StanzaEvent) -> None:
        """Only the owner, over one of their own sessions, may use an archive (ACL-01)."""
        if event.origin is None or event.from_jid.bare != event.to_jid.bare:
            raise StanzaError("forbidden", "only the owner may use this archive")

    def _throttle(self, event: StanzaEvent) -> None:
        """ACL-06: a flood of queries is refused, answered at once so the client knows to wait."""
        owner = str(event.to_jid.bare)
        if not self.limiter.take(owner):
            self.log.info("archive queries of %s refused: over archive_query_rate", owner)
            raise StanzaError("resource-constraint", "too many archive queries; try again shortly")

    async def query(self, event: StanzaEvent) -> bool:
        self._own(event)
        self._throttle(event)
        session = event.origin
        assert session is not None
        store = self.module.archive
        request = parse_query(
            event.stanza[0],
            max_results=self.max_results,
            extended=True,
            fulltext=store.caps.fulltext,
            include_total=self.include_total,
        )
        owner = event.to_jid.bare
        await self.prefs.touch(owner.local or "")
        try:
            store_query = self._to_store(request.archive_query)
        except ItemNotFound as exc:
            raise _not_found(exc.archive_id) from None  # no id of ours is spelled so
        # Counting is done only when asked (<max>0</max>) or cheap: an unfiltered total is kept
        # by the store, a filtered one costs a count that grows with the archive (RSM-24).
        with_total = request.page_size == 0 or (self.include_total and _unfiltered(store_query))
        store_query = dataclasses.replace(store_query, want_total=with_total)
        try:
            page = await store.find(str(owner), store_query)
        except ItemNotFound as exc:
            # The store names its own id; the client hears of the id it sent, never of the
            # store's, whose bits tell the time (SID-08).
            try:
                shown_id = self.codec.to_client(exc.archive_id)
            except ValueError:
                shown_id = "?"
            raise _not_found(shown_id) from None
        except StorageError:
            self.log.exception("archive query of %s failed", owner)
            raise StanzaError("internal-server-error", "the archive is unavailable") from None
        session.state[STATE_KEY] = True
        shown = dataclasses.replace(page, items=tuple(self._to_client(i) for i in page.items))
        # MAM-03/08: every result goes to the asking session, before the IQ result.
        to, owner_text = str(session.jid), str(owner)
        for item in send_order(shown, request.flip):
            text = result_message_text(to, owner_text, request.query_id, item)
            if text is not None:
                session.send_text(text)
            else:
                session.send(
                    result_message(
                        session.jid, owner, request.query_id, item, fromstring(item.stanza)
                    )
                )
        return await self.module.reply(event, fin_element(shown, request.flip, with_total))

    async def form(self, event: StanzaEvent) -> bool:
        self._own(event)
        return await self.module.reply(
            event, build_query_form(True, self.module.archive.caps.fulltext)
        )

    async def metadata(self, event: StanzaEvent) -> bool:
        self._own(event)
        self._throttle(event)
        owner = event.to_jid.bare
        try:
            bounds = await self.module.archive.bounds(str(owner))
        except StorageError:
            self.log.exception("archive metadata of %s failed", owner)
            raise StanzaError("internal-server-error", "the archive is unavailable") from None
        shown = ArchiveBounds(
            self._to_client(bounds.first) if bounds.first else None,
            self._to_client(bounds.last) if bounds.last else None,
        )
        return await self.module.reply(event, metadata_element(shown))

    async def metadata_set(self, event: StanzaEvent) -> bool:
        raise StanzaError("bad-request", "archive metadata is read with an IQ get")

    async def get_prefs(self, event: StanzaEvent) -> bool:
        self._own(event)
        username = event.to_jid.local or ""
        await self.prefs.touch(username)
        return await self.module.reply(event, build_prefs(await self.prefs.get(username)))

    async def set_prefs(self, event: StanzaEvent) -> bool:
        self._own(event)
        username = event.to_jid.local or ""
        prefs = parse_prefs(event.stanza[0])
        await self.prefs.set(username, prefs)
        self.log.info(
            "archive preferences of %s@%s: default %s, %d always, %d never",
            username,
            event.to_jid.domain,
            prefs.default.name.lower(),
            len(prefs.always),
            len(prefs.never),
        )
        return await self.module.reply(event, build_prefs(prefs))
