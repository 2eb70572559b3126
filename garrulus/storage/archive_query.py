"""An ArchiveQuery turned into id ranges and sets, the same way for every backend.

Every filter that can be a range on the id becomes one (start/end via the id's time bits,
after-id/before-id), and the page request becomes a second range plus a direction, so a backend
only has to answer "rows of this owner in [lo, hi] matching these column tests, in id order".
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from garrulus.storage.api import ArchiveQuery, ItemNotFound
from garrulus.storage.ids import MAX_ID, decode_id, id_ceiling, id_floor

MIN_ID = 0
_WORD = re.compile(r"[^\W_]+")


def fulltext_words(text: str) -> tuple[str, ...]:
    """The words a full-text query asks for (all must occur); case-folded, punctuation dropped.

    Every backend searches for these same words, so results agree as far as the engines' own
    tokenisers do (they differ on e-mail addresses and URLs, which PostgreSQL keeps whole).
    """
    return tuple(dict.fromkeys(_WORD.findall(text.casefold())))


@dataclass(frozen=True)
class QueryPlan:
    with_bare: str | None
    with_resource: str | None
    lo: int  # filter: inclusive id bounds (start/end/after-id/before-id)
    hi: int
    ids: frozenset[int] | None
    msg_types: frozenset[str] | None
    words: tuple[str, ...]  # full-text words, all required; () = no full-text filter
    page_lo: int  # page: inclusive id bounds (RSM after/before)
    page_hi: int
    backward: bool  # take the newest ``limit`` of the window instead of the oldest
    limit: int | None
    want_total: bool
    # Every id the query names, in the order ItemNotFound is reported: (as given, decoded).
    references: tuple[tuple[str, int], ...]

    @property
    def matches_nothing(self) -> bool:
        return self.lo > self.hi or self.ids == frozenset() or self.msg_types == frozenset()

    @property
    def unfiltered(self) -> bool:
        """The filtered set is the owner's whole archive (so its size is the cached count)."""
        return (
            self.with_bare is None
            and self.with_resource is None
            and self.ids is None
            and self.msg_types is None
            and not self.words
            and self.lo <= MIN_ID
            and self.hi >= MAX_ID
        )

    @property
    def window(self) -> tuple[int, int]:
        """Inclusive id bounds of the page window: filter range ∩ page range."""
        return max(self.lo, self.page_lo), min(self.hi, self.page_hi)

    @property
    def from_first(self) -> bool:
        """A forward page starting at the first item of the filtered set (first_index is 0)."""
        return not self.backward and self.page_lo <= self.lo


def _decode(text: str, refs: list[tuple[str, int]]) -> int:
    value = decode_id(text)
    if value is None:
        raise ItemNotFound(text)
    refs.append((text, value))
    return value


def plan_query(query: ArchiveQuery) -> QueryPlan:
    """Raises ItemNotFound for a malformed id; existence in the archive is the backend's check."""
    if query.limit is not None and query.limit < 0:
        raise ValueError(f"negative limit {query.limit}")
    refs: list[tuple[str, int]] = []
    lo, hi = MIN_ID, MAX_ID
    if query.start is not None:
        lo = max(lo, id_floor(query.start))
    if query.end is not None:
        hi = min(hi, id_ceiling(query.end))
    if query.after_id is not None:
        lo = max(lo, _decode(query.after_id, refs) + 1)
    if query.before_id is not None:
        hi = min(hi, _decode(query.before_id, refs) - 1)
    ids = None
    if query.ids is not None:
        ids = frozenset(_decode(text, refs) for text in query.ids)
    page_lo, page_hi = MIN_ID, MAX_ID
    if query.page_after is not None:
        page_lo = _decode(query.page_after, refs) + 1
    if query.page_before is not None:
        page_hi = _decode(query.page_before, refs) - 1
    return QueryPlan(
        with_bare=query.with_bare,
        with_resource=query.with_resource,
        lo=lo,
        hi=hi,
        ids=ids,
        msg_types=query.msg_types,
        words=fulltext_words(query.fulltext) if query.fulltext else (),
        page_lo=page_lo,
        page_hi=page_hi,
        backward=query.page_before is not None or query.last_page,
        limit=query.limit,
        want_total=query.want_total,
        references=tuple(refs),
    )


def first_missing(plan: QueryPlan, existing: set[int] | frozenset[int]) -> str | None:
    """The first id the query names that is not in ``existing`` (the owner's ids among them)."""
    for text, value in plan.references:
        if value not in existing:
            return text
    return None
