"""XEP-0313 replies: one ``<message><result/></message>`` per archived item, the closing ``<fin/>``
and the ``<metadata/>`` answer.

Timestamps are written by :func:`garrulus.xmpp.datetime.format_datetime`, so a ``<delay stamp>``
and a metadata ``timestamp`` of the same item are the same string (META-01), and either one pasted
into a ``start``/``end`` filter selects that item again (FLT-07).
"""

from __future__ import annotations

import functools
from copy import deepcopy

from garrulus.storage.api import ArchiveBounds, ArchivedMessage, ArchivePage
from garrulus.xmpp import ns
from garrulus.xmpp.datetime import format_datetime
from garrulus.xmpp.jid import JID, parse_jid, try_jid
from garrulus.xmpp.rsm import build_rsm_result
from garrulus.xmpp.xml import Element, el, qname, split_tag

__all__ = ["fin_element", "metadata_element", "result_message", "send_order"]

_STANZA_ID = qname(ns.SID, "stanza-id")
# Namespaces that mean "the stanza's own": the inner message is rewritten into jabber:client
# whichever stream it arrived on (RES-06).
_STANZA_NAMESPACES = frozenset({"", ns.CLIENT, ns.SERVER})


def _as_jid(value: JID | str) -> JID:
    return value if isinstance(value, JID) else parse_jid(value)


def _into_client_ns(node: Element) -> None:
    # Only through elements in a stanza namespace: an extension's own children keep theirs.
    uri, local = split_tag(node.tag)
    if uri not in _STANZA_NAMESPACES:
        return
    node.tag = qname(ns.CLIENT, local)
    for kid in node:
        _into_client_ns(kid)


def _forwarded_copy(stanza: Element, owner: JID, archive_id: str) -> Element:
    copy = deepcopy(stanza)
    _into_client_ns(copy)
    # RES-08: at most one stanza-id by this archive, and then the right one. Whatever the stored
    # copy holds with our ``by`` (a stale or forged id) goes; ids by others (a room's) stay.
    for node in copy.findall(_STANZA_ID):
        by = try_jid(node.get("by"))
        if by is not None and by.bare == owner:
            copy.remove(node)
    copy.append(el(_STANZA_ID, {"by": str(owner), "id": archive_id}))
    return copy


def result_message(
    to_full: JID | str,
    archive_owner_bare: JID | str,
    query_id: str | None,
    item: ArchivedMessage,
    forwarded_stanza: Element,
    *,
    message_id: str | None = None,
) -> Element:
    """One result (RES-01): ``<message to=requester from=archive><result queryid id>
    <forwarded><delay stamp/><message xmlns='jabber:client'/></forwarded></result></message>``.

    ``forwarded_stanza`` is the stored message, parsed; it is copied, never changed.
    ``from`` is the archive's bare JID, which clients check (RES-07); ``queryid`` is left out when
    the query had none (MAM-04); ``id`` is the archive id (RES-02).
    """
    owner = _as_jid(archive_owner_bare).bare
    result = el(
        qname(ns.MAM, "result"),
        {"queryid": query_id, "id": item.id},
        el(
            qname(ns.FORWARD, "forwarded"),
            None,
            # RES-03: when our server received it, not what the sender claimed.
            el(qname(ns.DELAY, "delay"), {"stamp": format_datetime(item.when)}),
            _forwarded_copy(forwarded_stanza, owner, item.id),
        ),
    )
    return el(
        qname(ns.CLIENT, "message"),
        {"to": str(_as_jid(to_full)), "from": str(owner), "id": message_id},
        result,
    )


_INNER_PREFIX = "<message xmlns='jabber:client'"


@functools.lru_cache(maxsize=1024)
def _attr(value: str) -> str:
    # Cached: a page escapes the same recipient, owner and query id for each of its results.
    return (
        value.replace("&", "&amp;")
        .replace("<", "&lt;")
        .replace("'", "&apos;")
        .replace('"', "&quot;")
        .replace(">", "&gt;")
    )


def result_message_text(
    to_full: str, archive_owner_bare: str, query_id: str | None, item: ArchivedMessage
) -> str | None:
    """:func:`result_message` as text, straight from the stored text (no parse, no copy).

    Pages are the archive's hot read path: building 50 element trees to write them out again
    costs more than the database query. Messages archived by the server are stored in
    jabber:client without any stanza-id (the archiver strips forged ones and stamps after
    storing), so the live id is simply appended. Anything else (imported text) returns None and
    takes the element path.
    """
    stored = item.stanza
    if not stored.startswith(_INNER_PREFIX) or "urn:xmpp:sid:0" in stored:
        return None
    stamp = f"<stanza-id xmlns='urn:xmpp:sid:0' by='{_attr(archive_owner_bare)}' id='{item.id}'/>"
    if stored.endswith("/>") and "<" not in stored[1:]:
        inner = stored[:-2] + ">" + stamp + "</message>"
    elif stored.endswith("</message>"):
        inner = stored[: -len("</message>")] + stamp + "</message>"
    else:
        return None
    qid = "" if query_id is None else f" queryid='{_attr(query_id)}'"
    return (
        f"<message to='{_attr(to_full)}' from='{_attr(archive_owner_bare)}'>"
        f"<result xmlns='urn:xmpp:mam:2'{qid} id='{item.id}'>"
        "<forwarded xmlns='urn:xmpp:forward:0'>"
        f"<delay xmlns='urn:xmpp:delay' stamp='{format_datetime(item.when)}'/>"
        f"{inner}</forwarded></result></message>"
    )


def send_order(page: ArchivePage, flip: bool) -> tuple[ArchivedMessage, ...]:
    """The order to send a page's results in: oldest first (RES-09, also for ``<before/>``
    pages, RSM-08), newest first with ``<flip-page/>`` (FLIP-01)."""
    return tuple(reversed(page.items)) if flip else page.items


def fin_element(
    page: ArchivePage, flip: bool, include_total: bool, *, stable: bool = True
) -> Element:
    """The ``<fin/>`` closing a query (FIN-01..08, RSM-16..23).

    ``complete='true'`` exactly when the store says nothing lies beyond the page in its paging
    direction, counting the server's cap (FIN-07); otherwise no attribute. ``<first/>`` and
    ``<last/>`` are the oldest and newest ids of the page whether or not it was flipped: flipping
    changes the sending order only (FLIP-02, RSM-21), so ``flip`` is accepted and has, by design,
    no effect here. ``<count/>`` and ``<first index/>`` are written when ``include_total`` and the
    store supplied them (RSM-22..24). ``stable='false'`` only for results that may change
    (FIN-06). No ``queryid`` (FIN-08).
    """
    del flip  # see the docstring: the <fin/> of a flipped page is the same <fin/>
    items = page.items
    rsm = build_rsm_result(
        first=items[0].id if items else None,
        last=items[-1].id if items else None,
        count=page.total if include_total else None,
        first_index=page.first_index if include_total else None,
    )
    attrs = {"complete": "true" if page.complete else None, "stable": None if stable else "false"}
    return el(qname(ns.MAM, "fin"), attrs, rsm)


def metadata_element(bounds: ArchiveBounds) -> Element:
    """``<metadata/>`` with ``<start id timestamp/>`` and ``<end id timestamp/>`` for the oldest
    and newest items (META-01); no children at all for an empty archive (META-02)."""
    metadata = el(qname(ns.MAM, "metadata"))
    # A store that knows only one end has one item: it is both start and end (META-03).
    first = bounds.first or bounds.last
    last = bounds.last or bounds.first
    if first is None or last is None:
        return metadata
    for local, item in (("start", first), ("end", last)):
        metadata.append(
            el(qname(ns.MAM, local), {"id": item.id, "timestamp": format_datetime(item.when)})
        )
    return metadata
