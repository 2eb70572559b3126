"""SQLite query plans: every archive query is an index range in id order, never a table scan
or a sort, so its cost is the page (a contact without messages: one seek), not the archive.

The statements are the ones the real code executes (captured on the connection), explained
against a database with skewed statistics (ANALYZE), where a planner is most tempted to stray.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from garrulus.storage.api import ArchiveQuery, DeleteQuery, Direction, NewArchiveItem
from garrulus.storage.archive_query import plan_query
from garrulus.storage.ids import encode_id
from garrulus.storage.migrate import upgrade_database
from garrulus.storage.sql import archive_read, archive_write
from garrulus.storage.sql.engine import make_engine

OWNER = "juliet@capulet.lit"
CURSOR = encode_id(5_001)  # one of OWNER's
BY_OWNER = "ix_archive_owner_id"
BY_PEER = "ix_archive_owner_peer_id"


@pytest.fixture(scope="module")
def db_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("plans") / "garrulus.sqlite"
    upgrade_database(f"sqlite:///{path}")
    conn = sqlite3.connect(path)
    rows = []
    for i in range(1, 20_001):
        # One owner holds 90% of the rows and one contact most of those: skewed statistics.
        owner = OWNER if i % 10 else f"user{i}@capulet.lit"
        peer = "romeo@montague.lit" if i % 20 else f"peer{i % 7}@verona.lit"
        body = "hello world" if i % 3 else None
        rows.append((i, owner, peer, None, "in", "chat", "<message/>", body, f"k{i}", i))
    conn.executemany(
        "INSERT INTO archive (id, owner, peer, peer_resource, direction, msg_type, stanza, body,"
        " dedup_key, dedup_hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        rows,
    )
    conn.commit()
    conn.execute("ANALYZE")
    conn.commit()
    conn.close()
    return path


@pytest.fixture
def connection(db_path: Path) -> Iterator[Connection]:
    engine = make_engine(f"sqlite:///{db_path}", role="writer")
    with engine.connect() as conn:
        yield conn
        conn.rollback()
    engine.dispose()


def plans(db_path: Path, connection: Connection, action: Callable[[Connection], Any]) -> list[str]:
    """Run ``action`` and return the query plan of every SELECT/DELETE it sent, one string each."""
    sent: list[tuple[str, Any]] = []

    def capture(conn: Any, cursor: Any, statement: str, params: Any, *_: Any) -> None:
        if statement.lstrip().upper().startswith(("SELECT", "DELETE")):
            sent.append((statement, params))

    sa.event.listen(connection, "before_cursor_execute", capture)
    try:
        action(connection)
    finally:
        sa.event.remove(connection, "before_cursor_execute", capture)
    raw = sqlite3.connect(db_path)
    try:
        return [
            " | ".join(row[3] for row in raw.execute("EXPLAIN QUERY PLAN " + statement, params))
            for statement, params in sent
        ]
    finally:
        raw.close()


def page_plan(db_path: Path, connection: Connection, query: ArchiveQuery) -> str:
    plan = plan_query(query)
    found = plans(db_path, connection, lambda c: archive_read.find(c, OWNER, plan))
    return found[-1]  # the page query comes after the cursor check


def assert_index_range(plan: str, index: str) -> None:
    assert f"USING INDEX {index} " in plan or f"USING COVERING INDEX {index} " in plan, plan
    assert "TEMP B-TREE" not in plan, plan
    assert "SCAN archive" not in plan, plan


START = datetime(2024, 1, 1, tzinfo=UTC)
END = datetime(2025, 1, 1, tzinfo=UTC)


@pytest.mark.parametrize(
    ("query", "index"),
    [
        (ArchiveQuery(), BY_OWNER),
        (ArchiveQuery(last_page=True), BY_OWNER),
        (ArchiveQuery(page_after=CURSOR), BY_OWNER),
        (ArchiveQuery(page_before=CURSOR, msg_types=frozenset({"chat"})), BY_OWNER),
        (ArchiveQuery(start=START, end=END, last_page=True), BY_OWNER),
        (ArchiveQuery(limit=0), BY_OWNER),
        (ArchiveQuery(with_bare="romeo@montague.lit"), BY_PEER),
        (ArchiveQuery(with_bare="romeo@montague.lit", last_page=True), BY_PEER),
        (ArchiveQuery(with_bare="stranger@verona.lit"), BY_PEER),  # nobody: one seek
        (ArchiveQuery(with_bare="stranger@verona.lit", last_page=True), BY_PEER),
        (
            ArchiveQuery(with_bare="romeo@montague.lit", with_resource="x", page_after=CURSOR),
            BY_PEER,
        ),
        (ArchiveQuery(with_bare="romeo@montague.lit", start=START, end=END), BY_PEER),
    ],
)
def test_pages_walk_an_index_in_id_order(
    db_path: Path, connection: Connection, query: ArchiveQuery, index: str
) -> None:
    assert_index_range(page_plan(db_path, connection, query), index)


@pytest.mark.parametrize(
    "query",
    [
        ArchiveQuery(fulltext="hello"),
        ArchiveQuery(fulltext="hello world", last_page=True),
        ArchiveQuery(fulltext="hello", page_before=CURSOR, with_bare="romeo@montague.lit"),
        ArchiveQuery(fulltext="world", start=START, end=END, page_after=CURSOR),
    ],
)
def test_fulltext_pages_walk_the_matches_in_id_order(
    db_path: Path, connection: Connection, query: ArchiveQuery
) -> None:
    # FTS5 yields its matches in rowid (= id) order: each is checked against the owner by
    # primary key, and the page stops after n+1 of them; nothing collects and sorts.
    plan = page_plan(db_path, connection, query)
    assert plan.startswith("SCAN archive_fts VIRTUAL TABLE"), plan
    _, lookup = plan.split(" | ")
    assert "(rowid=?)" in lookup or "AND id=?" in lookup, plan  # one seek per match
    assert "TEMP B-TREE" not in plan, plan


def test_ids_filter_is_primary_key_lookups(db_path: Path, connection: Connection) -> None:
    plan = page_plan(db_path, connection, ArchiveQuery(ids=(encode_id(11), encode_id(12))))
    assert "PRIMARY KEY" in plan and "SCAN archive" not in plan, plan


def test_cursor_check_is_primary_key_lookups(db_path: Path, connection: Connection) -> None:
    plan = plan_query(ArchiveQuery(page_after=encode_id(11), after_id=encode_id(3)))
    (check, _page) = plans(db_path, connection, lambda c: archive_read.find(c, OWNER, plan))
    assert "PRIMARY KEY" in check and "SCAN" not in check, check


def test_filtered_count_uses_the_index(db_path: Path, connection: Connection) -> None:
    plan = plan_query(ArchiveQuery(with_bare="romeo@montague.lit", want_total=True, limit=1))
    *_, count = plans(db_path, connection, lambda c: archive_read.find(c, OWNER, plan))
    assert f"INDEX {BY_PEER}" in count and "SCAN archive" not in count, count


def test_expiry_walks_the_primary_key(db_path: Path, connection: Connection) -> None:
    query = DeleteQuery(owner=None, before=datetime(2030, 1, 1, tzinfo=UTC), batch_size=100)
    select, delete, *_ = plans(
        db_path, connection, lambda c: archive_write.delete_batch(c, query, after=-1)
    )
    for plan in (select, delete):
        assert "INTEGER PRIMARY KEY (rowid>? AND rowid<?)" in plan, plan
        assert "TEMP B-TREE" not in plan


def test_owner_delete_walks_the_owner_index(db_path: Path, connection: Connection) -> None:
    query = DeleteQuery(owner=OWNER, with_bare="romeo@montague.lit", batch_size=100)
    select, delete, *_ = plans(
        db_path, connection, lambda c: archive_write.delete_batch(c, query, after=-1)
    )
    assert_index_range(select, BY_PEER)
    assert "SCAN archive" not in delete, delete


def test_dedup_lookup_seeks_the_dedup_index(db_path: Path, connection: Connection) -> None:
    when = datetime(2024, 1, 1, tzinfo=UTC)
    rows = [
        archive_write.PendingRow(
            1_000_000_000 + i,
            NewArchiveItem(
                OWNER,
                "romeo@montague.lit",
                None,
                Direction.IN,
                when,
                "<m/>",
                None,
                "chat",
                dedup_key=f"k{i}",
            ),
        )
        for i in range(3)
    ]
    lookup, *_ = plans(
        db_path,
        connection,
        lambda c: archive_write.insert_batch(c, rows, False, fresh_id=lambda old: old + 1),
    )
    assert "ix_archive_dedup_hash (dedup_hash=?)" in lookup, lookup
