"""SQLite's deferred full-text indexing (migration 0003).

FTS5 writes a new index segment for every transaction that adds to it, so indexing each group
commit's few rows cost several times the rows themselves. The archive's insert trigger only
queues the id in ``archive_fts_pending``; :func:`index_pending` moves queued rows into
``archive_fts`` thousands at a time. The writer runs it as its upkeep (after every
:data:`INDEX_EVERY_ROWS` appended rows, and when it falls idle), and a full-text query runs it
first, so a query still sees every message archived before it.

Rows another process appended (``garrulus mam import``) wait in the queue the same way.
"""

from __future__ import annotations

from sqlalchemy.engine import Connection

from garrulus.storage.sql.dialect import sqlite_has_table

INDEX_STEP_ROWS = 20_000  # rows per indexing transaction: tens of ms, then appends go on
INDEX_EVERY_ROWS = 5_000  # appended rows between indexing steps while the writer is busy
INDEX_WHEN_IDLE_SECONDS = 0.3  # or once the writer has had nothing to do for this long


def is_deferred(connection: Connection) -> bool:
    """Does this database queue rows for indexing (SQLite with FTS5, migrated to 0003+)?"""
    return connection.dialect.name == "sqlite" and sqlite_has_table(
        connection, "archive_fts_pending"
    )


def has_pending(connection: Connection) -> bool:
    found = connection.exec_driver_sql("SELECT 1 FROM archive_fts_pending LIMIT 1").first()
    return found is not None


def index_pending(connection: Connection, limit: int = INDEX_STEP_ROWS) -> bool:
    """Index up to ``limit`` queued rows (oldest ids first); True if more are still queued.

    Runs in the writer's transaction: the rows enter the index and leave the queue together.
    """
    upto = connection.exec_driver_sql(
        "SELECT max(id) FROM (SELECT id FROM archive_fts_pending ORDER BY id LIMIT ?)", (limit,)
    ).scalar()
    if upto is None:
        return False
    # In rowid order, which FTS5 appends to its doclists most cheaply. The triggers keep the
    # queue to rows that exist and have a body; the condition is only a safety net.
    connection.exec_driver_sql(
        "INSERT INTO archive_fts (rowid, body) SELECT a.id, a.body"
        " FROM archive_fts_pending AS p JOIN archive AS a ON a.id = p.id"
        " WHERE p.id <= ? AND a.body IS NOT NULL ORDER BY p.id",
        (upto,),
    )
    connection.exec_driver_sql("DELETE FROM archive_fts_pending WHERE id <= ?", (upto,))
    return has_pending(connection)
