"""Migrations: a fresh database reaches head, re-running is a no-op, and the migrated schema is
exactly the metadata the queries are written against."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from garrulus.storage.migrate import (
    current_revision,
    downgrade_database,
    head_revision,
    upgrade_database,
)
from garrulus.storage.sql.engine import make_engine
from garrulus.storage.sql.schema import (
    DIALECT_ONLY_COLUMNS,
    DIALECT_ONLY_INDEXES,
    DIALECT_ONLY_TABLE_PREFIXES,
    metadata,
)

from .conftest import Database


def schema_snapshot(url: str) -> dict[str, Any]:
    engine = make_engine(url, role="reader")
    try:
        inspector = sa.inspect(engine)
        return {
            table: (
                [c["name"] for c in inspector.get_columns(table)],
                sorted(i["name"] or "" for i in inspector.get_indexes(table)),
            )
            for table in sorted(inspector.get_table_names())
        }
    finally:
        engine.dispose()


def test_fresh_database_reaches_head(database: Database) -> None:
    assert current_revision(database.url) is None
    upgrade_database(database.url)
    assert current_revision(database.url) == head_revision()
    tables = set(schema_snapshot(database.url))
    assert {"accounts", "keyval", "archive", "archive_owner_stats", "alembic_version"} <= tables


def test_upgrading_twice_is_a_no_op(database: Database) -> None:
    upgrade_database(database.url)
    before = schema_snapshot(database.url)
    upgrade_database(database.url)
    assert schema_snapshot(database.url) == before
    assert current_revision(database.url) == head_revision()


def test_down_to_nothing_and_up_again(database: Database) -> None:
    upgrade_database(database.url)
    downgrade_database(database.url, "base")
    assert current_revision(database.url) is None
    assert set(schema_snapshot(database.url)) <= {"alembic_version"}
    upgrade_database(database.url)
    assert current_revision(database.url) == head_revision()


def _include(obj: Any, name: str | None, kind: str, reflected: bool, other: Any) -> bool:
    if kind == "table":
        return name != "alembic_version" and not (name or "").startswith(
            DIALECT_ONLY_TABLE_PREFIXES
        )
    if kind == "column":
        return (obj.table.name, name) not in DIALECT_ONLY_COLUMNS
    if kind == "index":
        return name not in DIALECT_ONLY_INDEXES
    return True


def test_migrated_schema_matches_the_metadata(database: Database) -> None:
    upgrade_database(database.url)
    engine = make_engine(database.url, role="reader")
    try:
        with engine.connect() as connection:
            context = MigrationContext.configure(
                connection, opts={"include_object": _include, "compare_type": True}
            )
            assert compare_metadata(context, metadata) == []
    finally:
        engine.dispose()


def test_sqlite_file_settings(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "dir" / "garrulus.sqlite"  # missing directories are created
    upgrade_database(f"sqlite:///{path}")
    conn = sqlite3.connect(path)
    try:
        assert conn.execute("PRAGMA auto_vacuum").fetchone() == (2,)  # incremental
        assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)
        # The archive id is the rowid itself (declared INTEGER PRIMARY KEY), not a copy of it.
        conn.execute(
            "INSERT INTO archive (id, owner, peer, direction, msg_type, stanza)"
            " VALUES (4242, 'o', 'p', 'in', 'chat', '<message/>')"
        )
        assert conn.execute("SELECT rowid, id FROM archive").fetchall() == [(4242, 4242)]
        fts = "SELECT count(*) FROM sqlite_master WHERE name = 'archive_fts'"
        assert conn.execute(fts).fetchone() == (1,)
    finally:
        conn.close()
