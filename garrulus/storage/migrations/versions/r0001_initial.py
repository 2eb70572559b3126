"""Initial schema: accounts, keyval, archive (+ per-owner stats, full-text index).

Written out rather than derived from the current metadata, so this revision stays what it was
when later ones change the schema.

Revision ID: 0001
Revises:
Create Date: 2026-11-21
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_SQLITE_FTS = [
    # External content: the text lives once, in archive.body; FTS5 keeps only its index.
    # columnsize=0: no per-row token counts, which only bm25 ranking would need.
    "CREATE VIRTUAL TABLE archive_fts USING fts5("
    "body, content='archive', content_rowid='id', columnsize=0)",
    # Rows without a body never enter the index, and the delete trigger mirrors that exactly
    # (deleting a row FTS5 never saw would corrupt an external-content index).
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

_POSTGRES_FTS = [
    "ALTER TABLE archive ADD COLUMN body_tsv tsvector"
    " GENERATED ALWAYS AS (to_tsvector('simple', coalesce(body, ''))) STORED",
    "CREATE INDEX ix_archive_body_tsv ON archive USING gin (body_tsv)",
]


def _sqlite_has_fts5() -> bool:
    options = {row[0] for row in op.get_bind().exec_driver_sql("PRAGMA compile_options")}
    return "ENABLE_FTS5" in options


def upgrade() -> None:
    op.create_table(
        "accounts",
        sa.Column("host", sa.Text, nullable=False),
        sa.Column("username", sa.Text, nullable=False),
        sa.Column("created_us", sa.BigInteger, nullable=False),
        sa.Column("credentials", sa.JSON, nullable=False),
        sa.PrimaryKeyConstraint("host", "username", name=op.f("pk_accounts")),
    )
    op.create_table(
        "keyval",
        sa.Column("host", sa.Text, nullable=False),
        sa.Column("owner", sa.Text, nullable=False),
        sa.Column("key", sa.Text, nullable=False),
        sa.Column("value", sa.JSON, nullable=False),
        sa.PrimaryKeyConstraint("host", "owner", "key", name=op.f("pk_keyval")),
    )
    op.create_table(
        "archive",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            nullable=False,
            autoincrement=False,
        ),
        sa.Column("owner", sa.Text, nullable=False),
        sa.Column("peer", sa.Text, nullable=False),
        sa.Column("peer_resource", sa.Text),
        sa.Column("direction", sa.String(3), nullable=False),
        sa.Column("msg_type", sa.Text, nullable=False),
        sa.Column("stanza", sa.Text, nullable=False),
        sa.Column("body", sa.Text),
        sa.Column("dedup_key", sa.Text),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_archive")),
        sa.CheckConstraint("direction IN ('in', 'out')", name=op.f("ck_archive_direction")),
    )
    op.create_index(op.f("ix_archive_owner_id"), "archive", ["owner", "id"])
    op.create_index(op.f("ix_archive_owner_peer_id"), "archive", ["owner", "peer", "id"])
    op.create_index(
        op.f("ux_archive_dedup_key_owner"),
        "archive",
        ["dedup_key", "owner"],
        unique=True,
        sqlite_where=sa.text("dedup_key IS NOT NULL"),
        postgresql_where=sa.text("dedup_key IS NOT NULL"),
    )
    op.create_table(
        "archive_owner_stats",
        sa.Column("owner", sa.Text, nullable=False),
        sa.Column("messages", sa.BigInteger, nullable=False),
        sa.Column("stanza_bytes", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("owner", name=op.f("pk_archive_owner_stats")),
    )
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite" and _sqlite_has_fts5():
        for statement in _SQLITE_FTS:
            op.execute(statement)
    elif dialect == "postgresql":
        for statement in _POSTGRES_FTS:
            op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        for name in ("archive_fts_insert", "archive_fts_delete", "archive_fts_update"):
            op.execute(f"DROP TRIGGER IF EXISTS {name}")
        op.execute("DROP TABLE IF EXISTS archive_fts")
    op.drop_table("archive_owner_stats")
    op.drop_table("archive")
    op.drop_table("keyval")
    op.drop_table("accounts")
