"""Archive reads, run on a reader thread inside one read transaction.

Every page is one keyset query: ``owner = ? [AND peer = ?] AND id BETWEEN lo AND hi ...
ORDER BY id ASC|DESC LIMIT n+1`` (never OFFSET), so its cost is the page, not its depth; the
extra row says whether the page is the last (``complete``) without counting.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from garrulus.storage.api import (
    ArchiveBounds,
    ArchivedMessage,
    ArchivePage,
    ArchiveStats,
    Direction,
    ItemNotFound,
)
from garrulus.storage.archive_query import MIN_ID, QueryPlan, first_missing
from garrulus.storage.ids import MAX_ID, encode_id, id_time
from garrulus.storage.sql.dialect import fulltext, param_mark
from garrulus.storage.sql.schema import archive, archive_owner_stats

_MESSAGE_COLUMNS = (
    archive.c.id,
    archive.c.owner,
    archive.c.peer,
    archive.c.peer_resource,
    archive.c.direction,
    archive.c.msg_type,
    archive.c.stanza,
)


def _message(row: Sequence[Any]) -> ArchivedMessage:
    archive_id, owner, peer, resource, direction, msg_type, stanza = row
    return ArchivedMessage(
        id=encode_id(archive_id),
        owner=owner,
        peer=peer,
        peer_resource=resource,
        direction=Direction(direction),
        when=id_time(archive_id),
        stanza=stanza,
        msg_type=msg_type,
    )


@dataclass(frozen=True)
class _Filtered:
    """The filtered set as SQL: select from ``source`` where ``conditions``; ids are ``key``."""

    source: sa.FromClause
    conditions: list[sa.ColumnElement[bool]]
    key: sa.ColumnElement[int]

    def id_range(self, lo: int, hi: int) -> list[sa.ColumnElement[bool]]:
        # Only the bounds that restrict anything, so the statement stays the simple keyset shape.
        out = []
        if lo > MIN_ID:
            out.append(self.key >= lo)
        if hi < MAX_ID:
            out.append(self.key <= hi)
        return out


def _filtered(dialect: str, owner: str, plan: QueryPlan) -> _Filtered:
    conditions: list[sa.ColumnElement[bool]] = [archive.c.owner == owner]
    if plan.with_bare is not None:
        conditions.append(archive.c.peer == plan.with_bare)
    if plan.with_resource is not None:
        conditions.append(archive.c.peer_resource == plan.with_resource)
    if plan.ids is not None:
        conditions.append(archive.c.id.in_(sorted(plan.ids)))
    if plan.msg_types is not None:
        conditions.append(archive.c.msg_type.in_(sorted(plan.msg_types)))
    if not plan.words:
        return _Filtered(archive, conditions, archive.c.id)
    search = fulltext(dialect, plan.words)
    return _Filtered(search.source, [*conditions, search.condition], search.key)


def page_select(dialect: str, owner: str, plan: QueryPlan) -> sa.Select[Any]:
    """The keyset query for the page (limit n+1); public so a test can EXPLAIN it."""
    lo, hi = plan.window
    filtered = _filtered(dialect, owner, plan)
    columns = (archive.c.id,) if plan.limit == 0 else _MESSAGE_COLUMNS
    statement = (
        sa.select(*columns)
        .select_from(filtered.source)
        .where(*filtered.conditions, *filtered.id_range(lo, hi))
        .order_by(filtered.key.desc() if plan.backward else filtered.key.asc())
    )
    if plan.limit is not None:
        statement = statement.limit(plan.limit + 1)
    return statement


_PAGE_COLUMNS = "id, owner, peer, peer_resource, direction, msg_type, stanza"


def _plain_page(connection: Connection, owner: str, plan: QueryPlan) -> Sequence[Sequence[Any]]:
    """The page of a query without ids, types or words, as plain SQL text.

    The same statement :func:`page_select` builds, written directly: building and keying a
    Core statement cost more than the indexed query itself (two thirds of a last-page query on
    a reader thread), and these shapes are nearly every query a client sends.
    """
    mark = param_mark(connection)
    conditions = [f"owner = {mark}"]
    params: list[Any] = [owner]
    if plan.with_bare is not None:
        conditions.append(f"peer = {mark}")
        params.append(plan.with_bare)
    if plan.with_resource is not None:
        conditions.append(f"peer_resource = {mark}")
        params.append(plan.with_resource)
    lo, hi = plan.window
    if lo > MIN_ID:  # only bounds that restrict anything, as in _Filtered.id_range
        conditions.append(f"id >= {mark}")
        params.append(lo)
    if hi < MAX_ID:
        conditions.append(f"id <= {mark}")
        params.append(hi)
    statement = (
        f"SELECT {'id' if plan.limit == 0 else _PAGE_COLUMNS} FROM archive "
        f"WHERE {' AND '.join(conditions)} ORDER BY id {'DESC' if plan.backward else 'ASC'}"
    )
    if plan.limit is not None:
        statement += f" LIMIT {mark}"
        params.append(plan.limit + 1)
    return connection.exec_driver_sql(statement, tuple(params)).all()


def _count(connection: Connection, owner: str, plan: QueryPlan) -> int:
    filtered = _filtered(connection.dialect.name, owner, plan)
    statement = (
        sa.select(sa.func.count())
        .select_from(filtered.source)
        .where(*filtered.conditions, *filtered.id_range(plan.lo, plan.hi))
    )
    return int(connection.execute(statement).scalar_one())


def _cached_count(connection: Connection, owner: str) -> int:
    mark = param_mark(connection)
    found = connection.exec_driver_sql(
        f"SELECT messages FROM archive_owner_stats WHERE owner = {mark}", (owner,)
    ).scalar()
    return int(found or 0)


def check_references(connection: Connection, owner: str, plan: QueryPlan) -> None:
    """ItemNotFound unless every id the query names is in this owner's archive."""
    if not plan.references:
        return
    wanted = sorted({value for _, value in plan.references})
    found = set(
        connection.execute(
            sa.select(archive.c.id).where(archive.c.owner == owner, archive.c.id.in_(wanted))
        ).scalars()
    )
    missing = first_missing(plan, found)
    if missing is not None:
        raise ItemNotFound(missing)


def find(connection: Connection, owner: str, plan: QueryPlan) -> ArchivePage:
    check_references(connection, owner, plan)
    if plan.matches_nothing:
        return ArchivePage(items=(), complete=True, total=0 if plan.want_total else None)
    lo, hi = plan.window
    rows: Sequence[Sequence[Any]] = []
    if lo <= hi:
        if plan.words or plan.ids is not None or plan.msg_types is not None:
            rows = connection.execute(page_select(connection.dialect.name, owner, plan)).all()
        else:
            rows = _plain_page(connection, owner, plan)
    limit = plan.limit
    complete = limit is None or len(rows) <= limit
    if limit is not None:
        rows = rows[:limit]
    if plan.backward:
        rows = rows[::-1]  # fetched newest first; pages are always oldest first
    items = tuple(_message(row) for row in rows)

    total = None
    if plan.want_total and plan.unfiltered:
        total = _cached_count(connection, owner)
    elif plan.want_total:
        total = _count(connection, owner, plan)

    first_index = None
    if rows:
        if plan.from_first or (plan.backward and complete and plan.page_lo <= plan.lo):
            first_index = 0  # nothing of the filtered set lies before this page
        elif total is not None and (
            (plan.backward and plan.page_hi >= plan.hi) or (not plan.backward and complete)
        ):
            first_index = total - len(items)  # a last page: it ends the filtered set
        # Elsewhere the position would cost a count over everything before the page, which
        # grows with the archive; RSM's index is optional (XEP-0059 2.6), so it is left out.
    return ArchivePage(items=items, complete=complete, total=total, first_index=first_index)


def get(connection: Connection, owner: str, archive_id: int) -> ArchivedMessage | None:
    row = connection.execute(
        sa.select(*_MESSAGE_COLUMNS).where(archive.c.owner == owner, archive.c.id == archive_id)
    ).first()
    return None if row is None else _message(row)


def bounds(connection: Connection, owner: str) -> ArchiveBounds:
    def edge(order: sa.UnaryExpression[int]) -> ArchivedMessage | None:
        row = connection.execute(
            sa.select(*_MESSAGE_COLUMNS).where(archive.c.owner == owner).order_by(order).limit(1)
        ).first()
        return None if row is None else _message(row)

    return ArchiveBounds(first=edge(archive.c.id.asc()), last=edge(archive.c.id.desc()))


def stats(connection: Connection, owner: str | None) -> list[ArchiveStats]:
    s = archive_owner_stats
    inner = archive.alias("a")
    # Oldest/newest per owner: one seek each on (owner, id), not an aggregate over the rows.
    oldest = sa.select(sa.func.min(inner.c.id)).where(inner.c.owner == s.c.owner).scalar_subquery()
    newest = sa.select(sa.func.max(inner.c.id)).where(inner.c.owner == s.c.owner).scalar_subquery()
    statement = sa.select(s.c.owner, s.c.messages, s.c.stanza_bytes, oldest, newest).where(
        s.c.messages > 0
    )
    if owner is not None:
        statement = statement.where(s.c.owner == owner)
    out = [
        ArchiveStats(
            owner=name,
            count=int(items),
            oldest=None if first is None else id_time(first),
            newest=None if last is None else id_time(last),
            size_bytes=int(size),
        )
        for name, items, size, first, last in connection.execute(statement.order_by(s.c.owner))
    ]
    if owner is not None and not out:
        out.append(ArchiveStats(owner, 0, None, None, 0))
    return out


def owners(connection: Connection) -> list[str]:
    s = archive_owner_stats
    return list(
        connection.execute(
            sa.select(s.c.owner).where(s.c.messages > 0).order_by(s.c.owner)
        ).scalars()
    )


def newest_id(connection: Connection) -> int | None:
    found = connection.execute(sa.select(sa.func.max(archive.c.id))).scalar()
    return None if found is None else int(found)
