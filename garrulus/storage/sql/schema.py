"""The portable schema as SQLAlchemy metadata (the queries' view; migrations create it).

Dialect-only objects live in the migrations and are reached by name: SQLite's FTS5 table
``archive_fts`` with its queue ``archive_fts_pending`` (+ triggers; see sql/fts.py) and
PostgreSQL's generated ``archive.body_tsv`` with its GIN index.
A test compares this metadata with a migrated database, so the two cannot drift apart.
"""

from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "pk": "pk_%(table_name)s",
    }
)

# SQLite makes a column the rowid only when its declared type is exactly INTEGER; the archive id
# as rowid means the table itself is the id-ordered B-tree (no second copy of the key).
ArchiveId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

accounts = sa.Table(
    "accounts",
    metadata,
    sa.Column("host", sa.Text, primary_key=True),
    sa.Column("username", sa.Text, primary_key=True),
    sa.Column("created_us", sa.BigInteger, nullable=False),  # µs since the Unix epoch, UTC
    # A JSON list of SCRAM salted keys per hash (bytes base64); never a password.
    sa.Column("credentials", sa.JSON, nullable=False),
)

keyval = sa.Table(
    "keyval",
    metadata,
    sa.Column("host", sa.Text, primary_key=True),
    sa.Column("owner", sa.Text, primary_key=True),  # "" = the host itself
    sa.Column("key", sa.Text, primary_key=True),
    sa.Column("value", sa.JSON(none_as_null=False), nullable=False),
)

archive = sa.Table(
    "archive",
    metadata,
    # Snowflake: the time (ms) is its high bits, so no `when` column is needed.
    sa.Column("id", ArchiveId, primary_key=True, autoincrement=False),
    sa.Column("owner", sa.Text, nullable=False),  # bare JID
    sa.Column("peer", sa.Text, nullable=False),  # bare JID
    sa.Column("peer_resource", sa.Text),
    sa.Column("direction", sa.String(3), nullable=False),
    sa.Column("msg_type", sa.Text, nullable=False),
    sa.Column("stanza", sa.Text, nullable=False),
    sa.Column("body", sa.Text),  # plain text for full-text search
    sa.Column("dedup_key", sa.Text),
    # Idempotency: (owner, dedup_key) hashed under the hour it was stored (storage/dedup.py).
    sa.Column("dedup_hash", sa.BigInteger),
    sa.CheckConstraint("direction IN ('in', 'out')", name="direction"),
    # Every query is `owner = ? [AND peer = ?] AND id BETWEEN ? AND ? ORDER BY id`: one range
    # on one of these two, whichever filters more. A contact with no messages is one seek.
    sa.Index("ix_archive_owner_id", "owner", "id"),
    sa.Index("ix_archive_owner_peer_id", "owner", "peer", "id"),
    # Time-ordered values: new rows append at the end instead of dirtying random pages.
    sa.Index("ix_archive_dedup_hash", "dedup_hash"),
)

# Kept in the transaction that changes the archive: an unfiltered RSM count, owners() and stats()
# are then a primary-key lookup instead of a scan of the owner's index.
archive_owner_stats = sa.Table(
    "archive_owner_stats",
    metadata,
    sa.Column("owner", sa.Text, primary_key=True),
    sa.Column("messages", sa.BigInteger, nullable=False),
    sa.Column("stanza_bytes", sa.BigInteger, nullable=False),
)

# Names of objects outside the metadata (for the schema comparison test).
DIALECT_ONLY_TABLE_PREFIXES = ("archive_fts",)  # archive_fts, its shadow tables, _pending
DIALECT_ONLY_COLUMNS = frozenset({("archive", "body_tsv")})
DIALECT_ONLY_INDEXES = frozenset({"ix_archive_body_tsv"})
