"""SQLite: full-text indexing deferred to bulk steps instead of a trigger per row.

FTS5 writes a new index segment for every transaction that inserts into it, so indexing in the
insert trigger cost far more per archived message than the row itself. Now the insert trigger
only queues the id in ``archive_fts_pending``, and the writer moves queued rows into the index
thousands at a time (garrulus/storage/sql/fts.py); a full-text query first indexes whatever
is queued, so it still sees every message archived before it.

Deleting a row FTS5 never saw would corrupt an external-content index, so the delete and update
triggers remove an old body from the index only when it is not queued. Rows indexed before this
revision stay indexed. PostgreSQL (a GIN index with its own pending list) is unchanged.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_TRIGGERS = ("archive_fts_insert", "archive_fts_delete", "archive_fts_update")

_NOT_QUEUED = "NOT EXISTS (SELECT 1 FROM archive_fts_pending WHERE id = old.id)"

_DEFERRED = [
    # Ids of archive rows whose body is not in archive_fts yet.
    "CREATE TABLE archive_fts_pending (id INTEGER PRIMARY KEY)",
    """CREATE TRIGGER archive_fts_insert AFTER INSERT ON archive WHEN new.body IS NOT NULL BEGIN
        INSERT INTO archive_fts_pending (id) VALUES (new.id);
    END""",
    f"""CREATE TRIGGER archive_fts_delete AFTER DELETE ON archive WHEN old.body IS NOT NULL BEGIN
        INSERT INTO archive_fts(archive_fts, rowid, body)
            SELECT 'delete', old.id, old.body WHERE {_NOT_QUEUED};
        DELETE FROM archive_fts_pending WHERE id = old.id;
    END""",
    f"""CREATE TRIGGER archive_fts_update AFTER UPDATE OF body ON archive BEGIN
        INSERT INTO archive_fts(archive_fts, rowid, body)
            SELECT 'delete', old.id, old.body WHERE old.body IS NOT NULL AND {_NOT_QUEUED};
        DELETE FROM archive_fts_pending WHERE id = old.id;
        INSERT INTO archive_fts_pending (id) SELECT new.id WHERE new.body IS NOT NULL;
    END""",
]

# r0001's triggers, written out so this revision stays what it was if that one ever changes.
_IMMEDIATE = [
    """CREATE TRIGGER archive_fts_insert AFTER INSERT ON archive WHEN new.body IS NOT NULL BEGIN
        INSERT INTO archive_fts(rowid, body) VALUES (new.id, new.body);
    END""",
    """CREATE TRIGGER archive_fts_delete AFTER DELETE ON archive WHEN old.body IS NOT NULL BEGIN
        INSERT INTO archive_fts(archive_fts, rowid, body) VALUES ('delete', old.id, old.body);
    END""",
    """CREATE TRIGGER archive_fts_update AFTER UPDATE OF body ON archive BEGIN
        INSERT INTO archive_fts(archive_fts, rowid, body)
            SELECT 'delete', old.id, old.body WHERE old.body IS NOT NULL;
        INSERT INTO archive_fts(rowid, body) SELECT new.id, new.body WHERE new.body IS NOT NULL;
    END""",
]


def _has_sqlite_fts() -> bool:
    """SQLite with the archive_fts table (r0001 made it only where FTS5 is compiled in)."""
    bind = op.get_bind()
    if bind.dialect.name != "sqlite":
        return False
    found = bind.exec_driver_sql(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'archive_fts'"
    ).first()
    return found is not None


def _drop_triggers() -> None:
    for name in _TRIGGERS:
        op.execute(f"DROP TRIGGER IF EXISTS {name}")


def upgrade() -> None:
    if not _has_sqlite_fts():
        return
    _drop_triggers()
    for statement in _DEFERRED:
        op.execute(statement)


def downgrade() -> None:
    if not _has_sqlite_fts():
        return
    # Index what is still queued first: r0001's triggers assume every body is in the index.
    op.execute(
        "INSERT INTO archive_fts (rowid, body) SELECT a.id, a.body"
        " FROM archive_fts_pending AS p JOIN archive AS a ON a.id = p.id"
        " WHERE a.body IS NOT NULL ORDER BY p.id"
    )
    _drop_triggers()
    op.execute("DROP TABLE archive_fts_pending")
    for statement in _IMMEDIATE:
        op.execute(statement)
