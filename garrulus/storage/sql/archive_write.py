"""Archive writes, run on the writer thread inside its transaction: batch insert, batch delete,
and the rewrite of one row in place (a retraction's tombstone).

All keep ``archive_owner_stats`` right in the same transaction, so counts and sizes never drift.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from garrulus.storage.api import DeleteQuery, NewArchiveItem, StorageError
from garrulus.storage.dedup import dedup_candidates, dedup_hash
from garrulus.storage.ids import id_floor, id_time
from garrulus.storage.sql.dialect import octet_length, param_mark, upsert
from garrulus.storage.sql.schema import archive, archive_owner_stats

_DedupKey = tuple[str, str]  # (owner, dedup_key)
_MAX_ID_RETRIES = 8


class PendingRow(NamedTuple):
    """An item with the id it was given when append() was called (a tuple: one per row)."""

    id: int
    item: NewArchiveItem


def _values(archive_id: int, item: NewArchiveItem) -> dict[str, Any]:
    return {
        "id": archive_id,
        "owner": item.owner,
        "peer": item.peer,
        "peer_resource": item.peer_resource,
        "direction": item.direction.value,
        "msg_type": item.msg_type,
        "stanza": item.stanza,
        "body": item.body,
        "dedup_key": item.dedup_key,
        "dedup_hash": None
        if item.dedup_key is None
        else dedup_hash(item.owner, item.dedup_key, item.when),
    }


def _dedup_key(item: NewArchiveItem) -> _DedupKey | None:
    return None if item.dedup_key is None else (item.owner, item.dedup_key)


def _marks(connection: Connection, count: int) -> str:
    return ", ".join([param_mark(connection)] * count)


def _dedup_hashes(rows: Sequence[PendingRow]) -> list[tuple[int, int] | None]:
    """Per row, the dedup values an earlier copy could be stored under (None: no dedup key).

    The first is the value this row is stored under (``dedup_candidates``), so each key is
    hashed once per row.
    """
    return [
        None
        if row.item.dedup_key is None
        else dedup_candidates(row.item.owner, row.item.dedup_key, row.item.when)
        for row in rows
    ]


def _stored_ids(
    connection: Connection,
    rows: Sequence[PendingRow],
    hashes: Sequence[tuple[int, int] | None],
) -> dict[_DedupKey, int]:
    """Ids of rows already stored under the same (owner, dedup_key) around the same time."""
    wanted: set[_DedupKey] = set()
    candidates: set[int] = set()
    for row, row_hashes in zip(rows, hashes, strict=True):
        key = _dedup_key(row.item)
        if key is None or row_hashes is None:
            continue
        wanted.add(key)
        candidates.update(row_hashes)
    if not candidates:
        return {}
    # Plain SQL: this runs once per group commit on the hot path, where building a statement
    # object costs more than the query. Hash hits are confirmed on the key text.
    values = sorted(candidates)
    found = connection.exec_driver_sql(
        "SELECT dedup_key, owner, id FROM archive WHERE dedup_hash IN "
        f"({_marks(connection, len(values))})",
        tuple(values),
    )
    return {(owner, key): id_ for key, owner, id_ in found if (owner, key) in wanted}


_INSERT_COLUMNS = (
    "id, owner, peer, peer_resource, direction, msg_type, stanza, body, dedup_key, dedup_hash"
)
_STATS_UPSERT = (
    "INSERT INTO archive_owner_stats (owner, messages, stanza_bytes) VALUES ({marks}) "
    "ON CONFLICT (owner) DO UPDATE SET "
    "messages = archive_owner_stats.messages + excluded.messages, "
    "stanza_bytes = archive_owner_stats.stanza_bytes + excluded.stanza_bytes"
)


def _row_tuple(archive_id: int, item: NewArchiveItem, stored_hash: int | None) -> tuple[Any, ...]:
    return (
        archive_id,
        item.owner,
        item.peer,
        item.peer_resource,
        item.direction.value,
        item.msg_type,
        item.stanza,
        item.body,
        item.dedup_key,
        stored_hash,
    )


def _adjust_stats(
    connection: Connection, items: Counter[str], size: Counter[str], sign: int
) -> None:
    if not items:
        return
    stats = archive_owner_stats
    if sign > 0:
        connection.exec_driver_sql(
            _STATS_UPSERT.format(marks=_marks(connection, 3)),
            [(owner, items[owner], size[owner]) for owner in sorted(items)],
        )
        return
    statement = upsert(
        connection.dialect.name,
        stats,
        ["owner"],
        lambda excluded: {
            "messages": stats.c.messages + excluded.messages,
            "stanza_bytes": stats.c.stanza_bytes + excluded.stanza_bytes,
        },
    )
    # Sorted, so two processes sharing a PostgreSQL database lock owners in the same order.
    connection.execute(
        statement,
        [
            {"owner": owner, "messages": sign * items[owner], "stanza_bytes": sign * size[owner]}
            for owner in sorted(items)
        ],
    )
    if sign < 0:
        connection.execute(
            sa.delete(stats).where(stats.c.owner.in_(sorted(items)), stats.c.messages <= 0)
        )


def insert_batch(
    connection: Connection,
    rows: Sequence[PendingRow],
    careful: bool,
    *,
    fresh_id: Callable[[int], int],
) -> list[int]:
    """Store the rows not already archived (dedup) and return each row's archive id.

    A row whose (owner, dedup_key) is stored, or came earlier in the batch, stores nothing and
    gets the first one's id. ``careful`` (after a constraint failure) inserts row by row, each in
    a savepoint: a dedup key that appeared meanwhile resolves to the stored id, and an id that
    collided (an import into a millisecond already used) is replaced by ``fresh_id(old)``.
    """
    hashes = _dedup_hashes(rows)
    known = _stored_ids(connection, rows, hashes)
    results: list[int] = []
    new_rows: list[tuple[Any, ...]] = []
    items: Counter[str] = Counter()
    size: Counter[str] = Counter()
    for row, row_hashes in zip(rows, hashes, strict=True):
        key = _dedup_key(row.item)
        if key is not None and key in known:
            results.append(known[key])
            continue
        if careful:
            values = _values(row.id, row.item)
            archive_id, inserted = _insert_one(connection, values, key, fresh_id)
            if not inserted:  # someone else stored this dedup key meanwhile
                if key is not None:
                    known[key] = archive_id
                results.append(archive_id)
                continue
        else:
            stored_hash = None if row_hashes is None else row_hashes[0]
            new_rows.append(_row_tuple(row.id, row.item, stored_hash))
            archive_id = row.id
        if key is not None:
            known[key] = archive_id
        results.append(archive_id)
        items[row.item.owner] += 1
        size[row.item.owner] += len(row.item.stanza.encode())
    if new_rows:
        connection.exec_driver_sql(
            f"INSERT INTO archive ({_INSERT_COLUMNS}) VALUES ({_marks(connection, 10)})", new_rows
        )
    _adjust_stats(connection, items, size, +1)
    return results


def _insert_one(
    connection: Connection,
    values: dict[str, Any],
    key: _DedupKey | None,
    fresh_id: Callable[[int], int],
) -> tuple[int, bool]:
    """(id, True) once inserted. Dedup was settled before (one writer, so nobody can store the
    same key meanwhile); an IntegrityError here is an id collision (an import into a
    millisecond already used), answered with a fresh id."""
    del key
    for _ in range(_MAX_ID_RETRIES):
        try:
            with connection.begin_nested():
                connection.execute(sa.insert(archive), values)
            return values["id"], True
        except sa.exc.IntegrityError:
            values = {**values, "id": fresh_id(values["id"])}
    raise StorageError(f"could not find a free archive id near {values['id']}")


def delete_batch(connection: Connection, query: DeleteQuery, after: int) -> tuple[int, int | None]:
    """Delete up to ``query.batch_size`` matching rows with id > ``after``, oldest first.

    Returns (rows deleted, last id deleted). The batch is chosen by walking an index in id order
    (the primary key when every owner expires, the owner's index otherwise) and deleted as an
    id range, so each batch is a short transaction however big the archive.
    """
    conditions: list[sa.ColumnElement[bool]] = [archive.c.id > after]
    if query.owner is not None:
        conditions.append(archive.c.owner == query.owner)
    if query.with_bare is not None:
        conditions.append(archive.c.peer == query.with_bare)
    if query.before is not None:
        conditions.append(archive.c.id < id_floor(query.before))
    size_of = octet_length(connection.dialect.name, archive.c.stanza)
    rows = connection.execute(
        sa.select(archive.c.id, archive.c.owner, size_of)
        .where(*conditions)
        .order_by(archive.c.id)
        .limit(max(1, query.batch_size))
    ).all()
    if not rows:
        return 0, None
    first, last = rows[0][0], rows[-1][0]
    connection.execute(
        sa.delete(archive).where(*conditions, archive.c.id >= first, archive.c.id <= last)
    )
    items: Counter[str] = Counter()
    size: Counter[str] = Counter()
    for _, owner, stanza_bytes in rows:
        items[owner] += 1
        size[owner] += int(stanza_bytes or 0)
    _adjust_stats(connection, items, size, -1)
    return len(rows), last


def replace_row(
    connection: Connection,
    owner: str,
    archive_id: int,
    stanza: str,
    body: str | None,
    dedup_key: str | None,
) -> bool:
    """Rewrite one row's stanza, body and dedup key; False if ``owner`` has no such row.

    The id (and so the time), peer and direction stay. The full-text index follows the body by
    itself: on SQLite the ``archive_fts_update`` trigger takes the old words out of the index, or
    the row out of the indexing queue if it was not indexed yet (migration 0003); PostgreSQL's
    ``body_tsv`` is a generated column. The dedup hash is the row's own hour, as an import of
    the row's export computes it from the exported time.
    """
    where = (archive.c.owner == owner, archive.c.id == archive_id)
    size_of = octet_length(connection.dialect.name, archive.c.stanza)
    old_size = connection.execute(sa.select(size_of).where(*where)).scalar()
    if old_size is None:
        return False
    stored_hash = None if dedup_key is None else dedup_hash(owner, dedup_key, id_time(archive_id))
    connection.execute(
        sa.update(archive)
        .where(*where)
        .values(stanza=stanza, body=body, dedup_key=dedup_key, dedup_hash=stored_hash)
    )
    delta = len(stanza.encode()) - int(old_size)
    if delta:
        stats = archive_owner_stats
        connection.execute(
            sa.update(stats)
            .where(stats.c.owner == owner)
            .values(stanza_bytes=stats.c.stanza_bytes + delta)
        )
    return True
