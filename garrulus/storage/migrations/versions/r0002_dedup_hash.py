"""Idempotency by a time-bucketed integer instead of a unique index on the key text.

See garrulus/storage/dedup.py for why: appends no longer dirty a random index page per row.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-21
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from garrulus.storage.dedup import dedup_hash
from garrulus.storage.ids import id_time

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_BATCH = 5000

# r0001's full-text triggers (SQLite), written out: see downgrade().
_SQLITE_FTS_TRIGGERS = [
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


def upgrade() -> None:
    op.add_column("archive", sa.Column("dedup_hash", sa.BigInteger))
    bind = op.get_bind()
    after = -1
    while True:
        rows = bind.execute(
            sa.text(
                "SELECT id, owner, dedup_key FROM archive WHERE id > :after "
                "AND dedup_key IS NOT NULL ORDER BY id LIMIT :n"
            ),
            {"after": after, "n": _BATCH},
        ).all()
        if not rows:
            break
        bind.execute(
            sa.text("UPDATE archive SET dedup_hash = :h WHERE id = :id"),
            [{"h": dedup_hash(owner, key, id_time(id_)), "id": id_} for id_, owner, key in rows],
        )
        after = rows[-1][0]
    op.drop_index(op.f("ux_archive_dedup_key_owner"), table_name="archive")
    op.create_index(op.f("ix_archive_dedup_hash"), "archive", ["dedup_hash"])


def downgrade() -> None:
    op.drop_index(op.f("ix_archive_dedup_hash"), table_name="archive")
    op.create_index(
        op.f("ux_archive_dedup_key_owner"),
        "archive",
        ["dedup_key", "owner"],
        unique=True,
        sqlite_where=sa.text("dedup_key IS NOT NULL"),
        postgresql_where=sa.text("dedup_key IS NOT NULL"),
    )
    with op.batch_alter_table("archive") as batch:
        batch.drop_column("dedup_hash")
    bind = op.get_bind()
    if bind.dialect.name == "sqlite":
        # Batch mode rebuilt the table (copy, drop, rename), which dropped its triggers; the
        # copy kept every id, so the full-text index still matches and only they come back.
        has_fts = bind.exec_driver_sql(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'archive_fts'"
        ).first()
        if has_fts is not None:
            for statement in _SQLITE_FTS_TRIGGERS:
                op.execute(statement)
