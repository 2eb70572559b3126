"""SQLite's deferred full-text index (migration 0003, storage/sql/fts.py).

Appended rows wait in ``archive_fts_pending`` until the writer indexes them in bulk; a full-text
query indexes them first. Deletes and body updates must keep the external-content index exact
whether a row was indexed yet or not.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import closing, contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from garrulus.storage.api import ArchiveQuery, DeleteQuery, StoreSet
from garrulus.storage.ids import encode_id, id_floor
from garrulus.storage.manager import open_storage
from garrulus.storage.migrate import (
    current_revision,
    downgrade_database,
    head_revision,
    upgrade_database,
)
from garrulus.storage.sql import engine as engine_module
from garrulus.storage.sql import fts
from garrulus.storage.sql.archive_write import PendingRow, insert_batch
from garrulus.storage.sql.database import SqlDatabase
from garrulus.storage.sql.engine import make_engine
from garrulus.storage.sql.writer import Upkeep, Writer

from .conftest import T0, FakeClock, item

SQL = {"accounts": "sql", "keyval": "sql", "archive": "sql"}
OWNER = "juliet@capulet.lit"
ROMEO = "romeo@montague.lit"
NURSE = "nurse@capulet.lit"


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "garrulus.sqlite"


@pytest.fixture(autouse=True)
def no_background_indexing(monkeypatch: pytest.MonkeyPatch) -> None:
    """Rows stay queued unless a test indexes them or turns the writer's upkeep back on."""
    monkeypatch.setattr(fts, "INDEX_WHEN_IDLE_SECONDS", 3600.0)
    monkeypatch.setattr(fts, "INDEX_EVERY_ROWS", 1_000_000)


@contextmanager
def sqlite_file(path: Path) -> Iterator[sqlite3.Connection]:
    with closing(sqlite3.connect(path, isolation_level=None)) as conn:
        yield conn


def pending(path: Path) -> list[int]:
    with sqlite_file(path) as conn:
        return [row[0] for row in conn.execute("SELECT id FROM archive_fts_pending ORDER BY id")]


def indexed(path: Path) -> int:
    with sqlite_file(path) as conn:
        # The index's own view: how many rows it holds a term of (every test body has "the").
        return int(conn.execute("SELECT count(*) FROM archive_fts('the')").fetchone()[0])


def check_index(path: Path) -> None:
    """FTS5's own checks: the index is sound, and (nothing queued) matches the archive exactly."""
    with sqlite_file(path) as conn:
        conn.execute("INSERT INTO archive_fts(archive_fts) VALUES ('integrity-check')")
        deferred = conn.execute(
            "SELECT 1 FROM sqlite_master WHERE name = 'archive_fts_pending'"
        ).fetchone()
        if not deferred or not conn.execute("SELECT 1 FROM archive_fts_pending").fetchone():
            # rank 1: compare with the content table too (a body deleted from the index that
            # it never held, or one left in it, fails this).
            conn.execute("INSERT INTO archive_fts(archive_fts, rank) VALUES ('integrity-check', 1)")


async def wait_for(condition: Callable[[], bool], seconds: float = 10.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.02)


@pytest.fixture
async def stores(path: Path, clock: FakeClock) -> AsyncIterator[StoreSet]:
    opened = await open_storage(SQL, f"sqlite:///{path}", clock)
    yield opened
    await opened.close()


def sql_db(stores: StoreSet) -> SqlDatabase:
    db = stores.extra["sql"]
    assert isinstance(db, SqlDatabase)
    return db


async def search(stores: StoreSet, text: str, **kwargs: Any) -> list[str]:
    page = await stores.archive.find(
        OWNER, ArchiveQuery(fulltext=text, limit=None, want_total=True, **kwargs)
    )
    assert page.total == len(page.items)  # the count goes through the index too
    return [m.id for m in page.items]


# ------------------------------------------------------------------ queries see queued rows


async def test_a_search_right_after_an_append_finds_the_queued_row(
    stores: StoreSet, path: Path
) -> None:
    first = await stores.archive.append(item(minute=1, body="the rose"))
    assert len(pending(path)) == 1 and indexed(path) == 0  # deferred: not in the index yet
    assert await search(stores, "rose") == [first]
    assert pending(path) == [] and indexed(path) == 1
    # Not awaited: the search is made after the append, so it must see it all the same.
    second = asyncio.ensure_future(stores.archive.append(item(minute=2, body="the rose again")))
    await asyncio.sleep(0)  # the append is made (queued), not committed
    assert await search(stores, "rose") == [first, await second]
    check_index(path)


async def test_rows_queued_by_another_process_are_found(
    stores: StoreSet, path: Path, clock: FakeClock
) -> None:
    # Another writer (as `garrulus mam import` is) leaves its rows queued in the file.
    other = await open_storage(SQL, f"sqlite:///{path}", clock)
    mine = await stores.archive.append(item(minute=1, body="the orchard"))
    try:
        theirs = await other.archive.append_many(
            [item(minute=2 + i, body="the orchard wall") for i in range(3)]
        )
    finally:
        await other.close()
    assert len(pending(path)) == 4
    assert await search(stores, "orchard") == [mine, *theirs]
    assert await search(stores, "wall") == theirs
    assert pending(path) == []
    check_index(path)


async def test_a_search_indexes_a_backlog_in_steps(
    stores: StoreSet, path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(fts, "INDEX_STEP_ROWS", 7)  # the default argument is bound already
    steps: list[bool] = []
    original = fts.index_pending

    def counted(connection: sa.Connection) -> bool:
        more = original(connection, limit=7)
        steps.append(more)
        return more

    monkeypatch.setattr(fts, "index_pending", counted)
    ids = await stores.archive.append_many(
        [item(minute=i, body=f"the word{i % 2}") for i in range(30)]
    )
    assert await search(stores, "word1") == ids[1::2]
    assert steps == [True, True, True, True, False]  # 7 + 7 + 7 + 7 + 2, one writer job each
    check_index(path)


async def test_queries_without_words_do_not_index(stores: StoreSet, path: Path) -> None:
    await stores.archive.append(item(body="the rose"))
    await stores.archive.find(OWNER, ArchiveQuery(limit=None))
    assert len(pending(path)) == 1


# ------------------------------------------------------------------ deletes and updates


async def test_deleting_queued_and_indexed_rows_keeps_the_index_exact(
    stores: StoreSet, path: Path
) -> None:
    db = sql_db(stores)
    await stores.archive.append_many(
        [item(minute=i, body=f"the rose number{i}") for i in range(10)]
    )
    await stores.archive.append(item(minute=10, body="the rose of romeo"))
    await db.write(fts.index_pending)  # these are indexed ...
    new = await stores.archive.append_many(
        [item(minute=20 + i, body=f"the rose late{i}") for i in range(10)]
    )
    await stores.archive.append(item(minute=30, peer=NURSE, body="the rose nurse"))
    new_romeo = await stores.archive.append(item(minute=31, body="the rose of romeo later"))
    assert len(pending(path)) == 12  # ... these are not
    await stores.archive.append(item(minute=32, body=None))  # never queued nor indexed

    # Expiry of every owner's rows before minute 5 (indexed), in small batches.
    expiry = DeleteQuery(owner=None, before=T0 + timedelta(minutes=5), batch_size=2)
    assert await stores.archive.delete(expiry) == 5
    # Romeo's before minute 25: number5..9 and "of romeo" (indexed), late0..4 (queued).
    before = T0 + timedelta(minutes=25)
    romeo = DeleteQuery(owner=OWNER, with_bare=ROMEO, before=before, batch_size=3)
    assert await stores.archive.delete(romeo) == 11
    check_index(path)
    assert len(pending(path)) == 7  # late5..9, the nurse's and "of romeo later"
    # A mam delete of one contact's (queued) messages.
    assert await stores.archive.delete(DeleteQuery(owner=OWNER, with_bare=NURSE)) == 1
    check_index(path)

    assert await search(stores, "rose") == [*new[5:], new_romeo]
    assert await search(stores, "romeo") == [new_romeo]
    assert await search(stores, "number7") == []
    assert await search(stores, "nurse") == []
    assert pending(path) == []
    check_index(path)  # nothing queued: the index matches the archive row for row

    # Deleting rows after they were indexed keeps it exact too.
    assert await stores.archive.delete(DeleteQuery(owner=OWNER)) == 7
    assert await search(stores, "rose") == []
    check_index(path)
    assert indexed(path) == 0


def test_body_updates_keep_the_index_exact(path: Path) -> None:
    # The archive only ever clears a body (a tombstone, below); the trigger has to be right for
    # any update all the same.
    upgrade_database(f"sqlite:///{path}")
    with sqlite_file(path) as conn:
        rows = [(i, f"the old{i}") for i in range(1, 5)]
        conn.executemany(
            "INSERT INTO archive (id, owner, peer, direction, msg_type, stanza, body)"
            " VALUES (?, 'o', 'p', 'in', 'chat', '<m/>', ?)",
            rows,
        )
        conn.execute(
            "INSERT INTO archive (id, owner, peer, direction, msg_type, stanza, body)"
            " VALUES (5, 'o', 'p', 'in', 'chat', '<m/>', NULL)"
        )
        conn.execute("BEGIN IMMEDIATE")
        conn.execute(
            "INSERT INTO archive_fts (rowid, body) SELECT id, body FROM archive WHERE id IN (1, 2)"
        )
        conn.execute("DELETE FROM archive_fts_pending WHERE id IN (1, 2)")
        conn.execute("COMMIT")
        # 1 indexed -> new body; 2 indexed -> NULL; 3 queued -> new body; 4 queued -> NULL;
        # 5 without body -> a body.
        for id_, body in [(1, "the new1"), (2, None), (3, "the new3"), (4, None), (5, "the new5")]:
            conn.execute("UPDATE archive SET body = ? WHERE id = ?", (body, id_))
        assert [r[0] for r in conn.execute("SELECT id FROM archive_fts_pending")] == [1, 3, 5]
        conn.execute("INSERT INTO archive_fts(archive_fts) VALUES ('integrity-check')")
    check_index(path)

    engine = make_engine(f"sqlite:///{path}", role="writer")
    try:
        with engine.begin() as connection:
            assert fts.index_pending(connection) is False
    finally:
        engine.dispose()
    check_index(path)
    with sqlite_file(path) as conn:

        def match(words: str) -> list[int]:
            query = "SELECT rowid FROM archive_fts WHERE archive_fts MATCH ? ORDER BY rowid"
            return [r[0] for r in conn.execute(query, (words,))]

        assert match("old1 OR old2 OR old3 OR old4") == []
        assert match("new1 OR new3 OR new5") == [1, 3, 5]


async def test_tombstones_take_queued_and_indexed_bodies_out_of_the_index(
    stores: StoreSet, path: Path
) -> None:
    db = sql_db(stores)
    tomb = "<message><retracted xmlns='urn:xmpp:message-retract:1' id='r1'/></message>"
    old = await stores.archive.append_many(
        [item(minute=i, body=f"the rose secret{i}") for i in range(3)]
    )
    await db.write(fts.index_pending)
    new = await stores.archive.append_many(
        [item(minute=10 + i, body=f"the rose hidden{i}") for i in range(3)]
    )
    assert indexed(path) == 3 and len(pending(path)) == 3
    # One indexed row and one queued row become tombstones.
    assert await stores.archive.replace(OWNER, old[1], stanza=tomb, body=None, dedup_key=None)
    assert await stores.archive.replace(OWNER, new[1], stanza=tomb, body=None, dedup_key=None)
    assert indexed(path) == 2  # the indexed body's words left the index ...
    assert len(pending(path)) == 2  # ... and the queued row left the queue
    check_index(path)
    await db.write(fts.index_pending)
    assert pending(path) == [] and indexed(path) == 4
    check_index(path)  # nothing queued: compared with the archive row for row
    assert await search(stores, "secret1") == []
    assert await search(stores, "hidden1") == []
    assert await search(stores, "rose") == [old[0], old[2], new[0], new[2]]
    # Replacing a row without a body, and the same row twice, keeps it exact too.
    assert await stores.archive.replace(OWNER, new[1], stanza=tomb, body=None, dedup_key=None)
    check_index(path)
    assert indexed(path) == 4


# ------------------------------------------------------------------ the writer's upkeep


async def test_an_idle_writer_indexes_the_queue(
    path: Path, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(fts, "INDEX_WHEN_IDLE_SECONDS", 0.05)
    stores = await open_storage(SQL, f"sqlite:///{path}", clock)
    try:
        await stores.archive.append_many([item(minute=i, body="the rose") for i in range(5)])
        await wait_for(lambda: pending(path) == [])
        assert indexed(path) == 5
        check_index(path)
    finally:
        await stores.close()


async def test_the_writer_indexes_after_so_many_rows(
    path: Path, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(fts, "INDEX_EVERY_ROWS", 10)
    stores = await open_storage(SQL, f"sqlite:///{path}", clock)
    try:
        await stores.archive.append_many([item(minute=i, body="the rose") for i in range(4)])
        await asyncio.sleep(0.1)
        assert len(pending(path)) == 4  # below the threshold (and never idle long enough)
        await stores.archive.append_many([item(minute=4 + i, body="the rose") for i in range(6)])
        await wait_for(lambda: pending(path) == [])
        assert indexed(path) == 10
    finally:
        await stores.close()


async def test_a_queue_left_over_is_indexed_at_open(path: Path, clock: FakeClock) -> None:
    stores = await open_storage(SQL, f"sqlite:///{path}", clock)
    await stores.archive.append_many([item(minute=i, body="the rose") for i in range(3)])
    await stores.close()
    assert len(pending(path)) == 3
    stores = await open_storage(SQL, f"sqlite:///{path}", clock)
    try:
        await wait_for(lambda: pending(path) == [])  # no append, no query, no idle timeout
        assert indexed(path) == 3
    finally:
        await stores.close()


async def test_a_failing_upkeep_step_never_stops_the_writer(
    path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    upgrade_database(f"sqlite:///{path}")
    engine = make_engine(f"sqlite:///{path}", role="writer")
    writer = Writer(engine)
    calls: list[int] = []

    def broken(connection: sa.Connection) -> bool:
        calls.append(1)
        raise RuntimeError("boom")

    def handler(connection: sa.Connection, rows: Any, careful: bool) -> list[int]:
        return insert_batch(connection, rows, careful, fresh_id=lambda taken: taken + 1)

    try:
        with caplog.at_level(logging.ERROR, logger="garrulus.storage.sql"):
            await writer.set_upkeep(Upkeep(broken, every_rows=1, idle_seconds=0.01), due=True)
            await wait_for(lambda: len(calls) == 1)
            for n in range(3):
                rows = [PendingRow(1000 + n, item(minute=n))]
                assert await writer.submit_batched(handler, rows) == [1000 + n]
            await wait_for(lambda: len(calls) == 4)
            await asyncio.sleep(0.1)
            assert len(calls) == 4  # no retry loop while nothing is written
            assert await writer.call(lambda c: c.exec_driver_sql("SELECT 7").scalar()) == 7
        assert "upkeep step failed" in caplog.text
    finally:
        await writer.close()
        engine.dispose()


def test_writer_connection_settings(path: Path) -> None:
    engine = make_engine(f"sqlite:///{path}", role="writer")
    try:
        with engine.connect() as connection:
            pragma = connection.exec_driver_sql
            assert pragma("PRAGMA synchronous").scalar() == 2  # FULL: each commit is on disk
            assert pragma("PRAGMA wal_autocheckpoint").scalar() == (
                engine_module.SQLITE_WAL_AUTOCHECKPOINT_PAGES
            )
            assert pragma("PRAGMA journal_size_limit").scalar() == (
                engine_module.SQLITE_JOURNAL_SIZE_LIMIT
            )
    finally:
        engine.dispose()


# ------------------------------------------------------------------ migration 0003


def _insert_rows(path: Path, rows: list[tuple[int, str | None]]) -> None:
    with sqlite_file(path) as conn:
        conn.executemany(
            "INSERT INTO archive (id, owner, peer, direction, msg_type, stanza, body)"
            " VALUES (?, ?, ?, 'in', 'chat', '<m/>', ?)",
            [(id_, OWNER, ROMEO, body) for id_, body in rows],
        )
        conn.executemany(
            "INSERT INTO archive_owner_stats (owner, messages, stanza_bytes) VALUES (?, ?, ?)"
            " ON CONFLICT (owner) DO UPDATE SET messages = messages + excluded.messages,"
            " stanza_bytes = stanza_bytes + excluded.stanza_bytes",
            [(OWNER, len(rows), 4 * len(rows))],
        )


async def test_upgrading_a_0002_database_keeps_its_rows_searchable(
    path: Path, clock: FakeClock
) -> None:
    url = f"sqlite:///{path}"
    upgrade_database(url, "0002")
    old_ids = [id_floor(T0 + timedelta(minutes=i)) for i in range(4)]
    _insert_rows(path, [(id_, f"the rose old{n}") for n, id_ in enumerate(old_ids)])
    _insert_rows(path, [(id_floor(T0 + timedelta(minutes=5)), None)])

    stores = await open_storage(SQL, url, clock)  # migrates to head
    try:
        assert current_revision(url) == head_revision() != "0002"
        assert pending(path) == []  # indexed by the old trigger: nothing to redo
        check_index(path)
        assert await search(stores, "rose") == [encode_id(id_) for id_ in old_ids]
        assert await search(stores, "old2") == [encode_id(old_ids[2])]
        await stores.archive.append(item(minute=10, peer=NURSE, body="the rose new"))
        assert len(pending(path)) == 1
        # Delete an old (indexed) row and the new (queued) one.
        await stores.archive.delete(DeleteQuery(owner=OWNER, before=T0 + timedelta(minutes=1)))
        await stores.archive.delete(DeleteQuery(owner=OWNER, with_bare=NURSE))
        check_index(path)
        assert await search(stores, "rose") == [encode_id(id_) for id_ in old_ids[1:]]
        assert pending(path) == []
        check_index(path)
    finally:
        await stores.close()


def test_downgrading_indexes_the_queue_and_restores_the_old_triggers(path: Path) -> None:
    url = f"sqlite:///{path}"
    upgrade_database(url)
    _insert_rows(path, [(1, "the rose one"), (2, "the rose two"), (3, None)])
    assert pending(path) == [1, 2]
    downgrade_database(url, "0002")
    assert current_revision(url) == "0002"
    with sqlite_file(path) as conn:
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master")}
        assert "archive_fts_pending" not in tables
    check_index(path)
    assert indexed(path) == 2
    _insert_rows(path, [(4, "the rose four")])  # indexed at once again, by the old trigger
    assert indexed(path) == 3
    with sqlite_file(path) as conn:
        conn.execute("DELETE FROM archive WHERE id IN (1, 4)")
    check_index(path)
    assert indexed(path) == 1

    downgrade_database(url, "0001")  # rebuilds the archive table; its triggers come back
    _insert_rows(path, [(5, "the rose five")])
    assert indexed(path) == 2
    check_index(path)

    upgrade_database(url)  # and up again: what is indexed stays, new rows queue
    _insert_rows(path, [(6, "the rose six")])
    assert pending(path) == [6] and indexed(path) == 2
    check_index(path)
