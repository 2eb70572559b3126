"""XEP-0313 queries: the form handed out on ``iq get``, and ``iq set`` queries parsed into an
:class:`~garrulus.storage.api.ArchiveQuery` plus what the reply needs (queryid, flip, RSM).

The checklist lines decide every error (FRM-xx, FLT-xx, RSM-xx):

* the form must be ``type='submit'`` with ``FORM_TYPE`` ``urn:xmpp:mam:2`` (``bad-request``);
* a field we do not offer is ``feature-not-implemented`` (FRM-13; this beats XEP-0004's "ignore
  unknown fields");
* a value that does not parse (JID, DateTime, boolean) is ``not-acceptable`` (FRM-15);
* two values in a single-value field are ``bad-request`` (FRM-17), an empty one is no value
  (FRM-18); submitted field types are not checked, since clients leave them out (FRM-10) or
  disagree about ``ids`` (FRM-04);
* RSM ``<index/>`` is ``feature-not-implemented`` (RSM-14): keyset paging has no offsets.

Form ids bound the result set, RSM ids page inside it (FLT-15): ``after-id``/``before-id`` become
``after_id``/``before_id`` and RSM ``<after/>``/``<before/>`` become ``page_after``/``page_before``.
The page size is the client's ``<max/>`` (or the default) cut to the server's cap; the store pages
with that size, so ``complete`` already accounts for the cap (FIN-07).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Final

from garrulus.storage.api import ArchiveQuery
from garrulus.xmpp import ns
from garrulus.xmpp.dataforms import (
    FieldSpec,
    FieldType,
    SubmittedForm,
    Validate,
    ValidateMethod,
    build_form,
    parse_boolean,
    parse_form,
)
from garrulus.xmpp.datetime import parse_datetime
from garrulus.xmpp.errors import StanzaError
from garrulus.xmpp.jid import JID, InvalidJID, parse_jid
from garrulus.xmpp.rsm import RsmRequest, rsm_in
from garrulus.xmpp.xml import Element, el, qname

__all__ = [
    "DEFAULT_MAX_RESULTS",
    "DEFAULT_PAGE_SIZE",
    "FULLTEXT_FIELD",
    "QUERY",
    "MamRequest",
    "build_query_form",
    "parse_query",
]

QUERY = qname(ns.MAM, "query")
FLIP_PAGE = qname(ns.MAM, "flip-page")
# XEP-0431 names its field in Clark notation, as XEP-0068 asks of custom fields.
FULLTEXT_FIELD: Final = "{" + ns.FULLTEXT + "}fulltext"
INCLUDE_GROUPCHAT: Final = "include-groupchat"
# Prosody's numbers: 20 when the client gives no <max/>, at most 50 (max_archive_query_results).
DEFAULT_PAGE_SIZE: Final = 20
DEFAULT_MAX_RESULTS: Final = 50

_BASIC_FIELDS = ("with", "start", "end")
_EXTENDED_FIELDS = ("before-id", "after-id", "ids")
# Every message type a user archive can hold but groupchat, for include-groupchat=false.
_NON_GROUPCHAT_TYPES = frozenset({"chat", "normal", "headline", "error"})
_XML_SPACE = " \t\r\n"


@dataclass(frozen=True)
class MamRequest:
    """A parsed ``<query xmlns='urn:xmpp:mam:2'>`` (``iq type='set'``).

    ``query_id`` is echoed byte for byte on every ``<result/>`` (MAM-02), or left out (MAM-04).
    ``requested_max`` is the client's ``<max/>`` before the cap; ``page_size`` is what the store
    is asked for (equal to ``archive_query.limit``).
    """

    query_id: str | None
    archive_query: ArchiveQuery
    flip: bool
    rsm: RsmRequest
    requested_max: int | None
    page_size: int

    def __post_init__(self) -> None:
        if self.archive_query.limit != self.page_size:
            raise ValueError("page_size and archive_query.limit disagree")

    @property
    def capped(self) -> bool:
        """True when the server cap cut the client's ``<max/>`` (RSM-02): the page may end
        before the client expected, which ``complete`` then reports (FIN-07)."""
        return self.requested_max is not None and self.requested_max > self.page_size


def _known_fields(extended: bool, fulltext: bool, include_groupchat: bool) -> tuple[str, ...]:
    known: tuple[str, ...] = _BASIC_FIELDS
    if extended:
        known += _EXTENDED_FIELDS
    if include_groupchat:
        known += (INCLUDE_GROUPCHAT,)
    if fulltext:
        known += (FULLTEXT_FIELD,)
    return known


def _single(form: SubmittedForm, var: str) -> str | None:
    values = form.fields.get(var, ())
    if len(values) > 1:
        raise StanzaError("bad-request", f"Field '{var}' takes a single value")  # FRM-17
    # FRM-18: an empty <value/>, or none at all, is the same as leaving the field out.
    text = values[0].strip(_XML_SPACE) if values else ""
    return text or None


def _not_acceptable(var: str, what: str, value: str) -> StanzaError:
    return StanzaError("not-acceptable", f"Field '{var}' is not {what}: {value!r}")  # FRM-15


def _jid_field(form: SubmittedForm, var: str) -> JID | None:
    text = _single(form, var)
    if text is None:
        return None
    try:
        return parse_jid(text)
    except InvalidJID:
        raise _not_acceptable(var, "a valid JID", text) from None


def _date_field(form: SubmittedForm, var: str) -> datetime | None:
    text = _single(form, var)
    if text is None:
        return None
    try:
        return parse_datetime(text)
    except ValueError:
        raise _not_acceptable(var, "an XEP-0082 DateTime", text) from None


def _ids_field(form: SubmittedForm) -> tuple[str, ...] | None:
    stripped = (v.strip(_XML_SPACE) for v in form.fields.get("ids", ()))
    # Each id once (FLT-16): results come in archive order whatever order they were asked in.
    ids = tuple(dict.fromkeys(v for v in stripped if v))
    return ids or None


def _groupchat_types(form: SubmittedForm) -> frozenset[str] | None:
    text = _single(form, INCLUDE_GROUPCHAT)
    if text is None:
        return None  # FLT-22: our default; user archives hold no groupchat anyway (ARC-5)
    try:
        include = parse_boolean(text)  # FRM-16: true/1/false/0
    except ValueError:
        raise _not_acceptable(INCLUDE_GROUPCHAT, "a boolean", text) from None
    return None if include else _NON_GROUPCHAT_TYPES


@dataclass(frozen=True)
class _Filters:
    with_jid: JID | None = None
    start: datetime | None = None
    end: datetime | None = None
    after_id: str | None = None
    before_id: str | None = None
    ids: tuple[str, ...] | None = None
    fulltext: str | None = None
    msg_types: frozenset[str] | None = None


def _parse_filters(x: Element, known: tuple[str, ...]) -> _Filters:
    form = parse_form(x, require_submit=True)  # FRM-14 and the XEP-0004 structure
    if form.form_type is None:
        raise StanzaError("bad-request", f"Missing FORM_TYPE: expected '{ns.MAM}'")  # FRM-12
    if form.form_type != ns.MAM:
        raise StanzaError(
            "bad-request", f"Unexpected FORM_TYPE '{form.form_type}': expected '{ns.MAM}'"
        )
    for var in form.fields:
        if var not in known:
            # FRM-13, FLT-21, FTS-04: unknown (or switched off) fields are refused, not ignored.
            raise StanzaError("feature-not-implemented", f"Unsupported field '{var}'")
    return _Filters(
        with_jid=_jid_field(form, "with"),
        start=_date_field(form, "start"),
        end=_date_field(form, "end"),
        after_id=_single(form, "after-id"),
        before_id=_single(form, "before-id"),
        ids=_ids_field(form),
        fulltext=_single(form, FULLTEXT_FIELD),
        msg_types=_groupchat_types(form),
    )


def parse_query(
    query: Element,
    *,
    max_results: int = DEFAULT_MAX_RESULTS,
    default_page_size: int = DEFAULT_PAGE_SIZE,
    extended: bool = True,
    fulltext: bool = False,
    include_groupchat: bool = False,
    include_total: bool = True,
) -> MamRequest:
    """Parse a MAM ``<query/>`` from an ``iq type='set'``; raise StanzaErrors for bad input.

    ``max_results`` is ``max_archive_query_results``; ``extended`` accepts the #extended fields
    and ``<flip-page/>``; ``fulltext`` the XEP-0431 field; ``include_groupchat`` the
    ``include-groupchat`` field (only if ``urn:xmpp:mam:2#groupchat-field`` is advertised).
    ``include_total`` asks the store to count (RSM ``<count/>``); a ``<max>0</max>`` query is
    only a count, so it always does (RSM-16).
    """
    if max_results < 1 or default_page_size < 1:
        raise ValueError("max_results and default_page_size must be at least 1")
    if query.tag != QUERY:
        raise StanzaError("bad-request", f"Expected <query xmlns='{ns.MAM}'/>")
    forms = query.findall(qname(ns.DATA_FORMS, "x"))
    if len(forms) > 1:
        raise StanzaError("bad-request", "More than one data form in <query/>")
    known = _known_fields(extended, fulltext, include_groupchat)
    filters = _parse_filters(forms[0], known) if forms else _Filters()

    rsm = rsm_in(query)  # RSM-04 errors
    if rsm.index is not None:
        raise StanzaError(
            "feature-not-implemented",
            "RSM <index/> is not supported: page with <after/> or <before/>",
        )  # RSM-14
    flip = query.find(FLIP_PAGE) is not None
    if flip and not extended:
        raise StanzaError("feature-not-implemented", "<flip-page/> is not supported")

    requested = rsm.max
    page_size = min(default_page_size if requested is None else requested, max_results)
    with_jid = filters.with_jid
    archive_query = ArchiveQuery(
        with_bare=None if with_jid is None else str(with_jid.bare),
        # FLT-03: a full JID matches only that resource; a bare one any (FLT-02).
        with_resource=None if with_jid is None else with_jid.resource,
        start=filters.start,
        end=filters.end,
        after_id=filters.after_id,
        before_id=filters.before_id,
        ids=filters.ids,
        fulltext=filters.fulltext,
        msg_types=filters.msg_types,
        page_after=rsm.after,
        page_before=rsm.before,
        last_page=rsm.last_page,
        limit=page_size,
        want_total=include_total or page_size == 0,
    )
    return MamRequest(
        query_id=query.get("queryid"),
        archive_query=archive_query,
        flip=flip,
        rsm=rsm,
        requested_max=requested,
        page_size=page_size,
    )


def build_query_form(extended: bool, fulltext: bool, *, include_groupchat: bool = False) -> Element:
    """The ``<query><x type='form'/></query>`` answering ``iq get`` (FRM-01..08).

    ``ids`` is ``list-multi`` as in XEP-0313's example and every peer (FRM-04), with the open
    ``<validate/>`` that says any value goes (FRM-05). No field is ``<required/>`` (FRM-06).
    """
    date = Validate(datatype="xs:dateTime")  # FRM-08: a hint of the expected format
    fields = [
        FieldSpec("with", FieldType.JID_SINGLE, label="With JID"),
        FieldSpec("start", FieldType.TEXT_SINGLE, label="Start (XEP-0082 DateTime)", validate=date),
        FieldSpec("end", FieldType.TEXT_SINGLE, label="End (XEP-0082 DateTime)", validate=date),
    ]
    if extended:
        fields += [
            FieldSpec("before-id", FieldType.TEXT_SINGLE, label="Before archive id"),
            FieldSpec("after-id", FieldType.TEXT_SINGLE, label="After archive id"),
            FieldSpec(
                "ids",
                FieldType.LIST_MULTI,
                label="Archive ids",
                validate=Validate(datatype="xs:string", method=ValidateMethod.OPEN),
            ),
        ]
    if include_groupchat:
        fields.append(
            FieldSpec(INCLUDE_GROUPCHAT, FieldType.BOOLEAN, label="Include groupchat messages")
        )
    if fulltext:
        fields.append(FieldSpec(FULLTEXT_FIELD, FieldType.TEXT_SINGLE, label="Full-text search"))
    return el(QUERY, None, build_form(ns.MAM, fields))
