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
