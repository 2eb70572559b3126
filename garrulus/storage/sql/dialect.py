"""The few places SQLite and PostgreSQL differ: full-text search, upsert, byte length, vacuum.

Everything else (queries, writes, paging) is one code path over the portable schema.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection
from sqlalchemy.sql.elements import ColumnElement

from garrulus.storage.sql.schema import archive

Excluded = Any  # the ``excluded`` pseudo-row of an upsert: columns by attribute


def param_mark(connection: Connection) -> str:
    """The driver's positional placeholder, for hot statements written as plain SQL text."""
    return "?" if connection.dialect.paramstyle == "qmark" else "%s"


def upsert(
    dialect: str,
    table: sa.Table,
    keys: Sequence[str],
    update: Callable[[Excluded], Mapping[str, Any]],
) -> sa.Executable:
    """``INSERT ... ON CONFLICT (keys) DO UPDATE SET update(excluded)``; for executemany."""
    if dialect == "postgresql":
        pg_stmt = postgresql.insert(table)
        return pg_stmt.on_conflict_do_update(index_elements=keys, set_=update(pg_stmt.excluded))
    lite_stmt = sqlite.insert(table)
    return lite_stmt.on_conflict_do_update(index_elements=keys, set_=update(lite_stmt.excluded))


def octet_length(dialect: str, column: ColumnElement[str]) -> ColumnElement[int]:
    """Bytes of a text column (length() counts characters in both)."""
    if dialect == "postgresql":
        return sa.func.octet_length(column)
    return sa.func.length(sa.cast(column, sa.LargeBinary))


_FTS = sa.table("archive_fts", sa.column("rowid", sa.Integer))


@dataclass(frozen=True)
class Fulltext:
    """How to restrict a query to rows whose body holds every word."""

    source: sa.FromClause  # what to select from
    condition: ColumnElement[bool]
    key: ColumnElement[int]  # the id column to range on and order by


def fulltext(dialect: str, words: Sequence[str]) -> Fulltext:
    """Words come from ``fulltext_words``; all must occur."""
    if dialect == "postgresql":
        condition = sa.literal_column("archive.body_tsv").op("@@")(
            sa.func.plainto_tsquery(sa.literal_column("'simple'"), " ".join(words))
        )
        return Fulltext(archive, condition, archive.c.id)
    # Each word quoted as an FTS5 string: user text can't inject FTS5 syntax (AND, NEAR, *).
    match = " ".join('"' + word.replace('"', '""') + '"' for word in words)
    # FTS5 drives: it walks its matches in rowid (= id) order within the id range, and each is
    # checked against the owner by primary key, so a page stops after n+1 of the owner's
    # matches instead of collecting and sorting every match of every owner.
    return Fulltext(
        _FTS.join(archive, archive.c.id == _FTS.c.rowid),
        sa.literal_column("archive_fts").op("MATCH")(match),
        _FTS.c.rowid,
    )


def sqlite_has_table(connection: Connection, name: str) -> bool:
    found = connection.exec_driver_sql(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (name,)
    ).first()
    return found is not None


def has_fulltext(connection: Connection) -> bool:
    if connection.dialect.name == "postgresql":
        return True
    return sqlite_has_table(connection, "archive_fts")


def sqlite_uses_incremental_vacuum(connection: Connection) -> bool:
    return connection.exec_driver_sql("PRAGMA auto_vacuum").scalar() == 2


def sqlite_free_pages(connection: Connection) -> int:
    return int(connection.exec_driver_sql("PRAGMA freelist_count").scalar() or 0)


def sqlite_incremental_vacuum(dbapi_connection: Any, pages: int) -> None:
    # executescript steps the pragma to completion: execute() would step it once, which frees
    # a single page. Runs outside a transaction (each step is its own short write).
    dbapi_connection.executescript(f"PRAGMA incremental_vacuum({int(pages)})")


def sqlite_checkpoint(dbapi_connection: Any) -> None:
    # Freed pages leave the file only once the WAL is checkpointed back into it.
    dbapi_connection.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()


def postgres_vacuum(connection: Connection) -> None:
    """VACUUM (ANALYZE) the archive; the caller gives an autocommit connection."""
    connection.exec_driver_sql("VACUUM (ANALYZE) archive")
    connection.exec_driver_sql("VACUUM (ANALYZE) archive_owner_stats")
