"""SQL backend behaviour beyond the contract: durability, restarts, recovery, housekeeping."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from garrulus.storage import ids as ids_module
from garrulus.storage.api import (
    ArchiveQuery,
    DeleteQuery,
    Direction,
    NewArchiveItem,
    StorageError,
    StoreSet,
)
from garrulus.storage.ids import decode_id
from garrulus.storage.manager import open_storage

from .conftest import T0, Database, FakeClock, item

SQL = {"accounts": "sql", "keyval": "sql", "archive": "sql"}
OWNER = "juliet@capulet.lit"


async def everything(stores: StoreSet) -> list[str]:
    page = await stores.archive.find(OWNER, ArchiveQuery(limit=None))
    return [m.id for m in page.items]


async def test_data_survives_close_and_reopen(database: Database, clock: FakeClock) -> None:
    stores = await open_storage(SQL, database.url, clock)
    # Not awaited one by one: close() must still commit every queued append.
    pending = [asyncio.ensure_future(stores.archive.append(item(minute=i))) for i in range(50)]
    await asyncio.sleep(0)
    await stores.keyval.set("capulet.lit", "juliet", "k", {"v": 1})
    await stores.close()
    written = [f.result() for f in pending]

    stores = await open_storage(SQL, database.url, clock)
    try:
        assert await everything(stores) == written
        assert await stores.keyval.get("capulet.lit", "juliet", "k") == {"v": 1}
        assert (await stores.archive.stats(OWNER))[0].count == 50
    finally:
        await stores.close()


async def test_an_append_whose_caller_gave_up_is_still_stored_and_seen(
    database: Database, clock: FakeClock
) -> None:
    stores = await open_storage(SQL, database.url, clock)
    try:
        # The caller is cancelled while its rows wait for the group commit: the rows are
        # written anyway, and a query made afterwards waits for them instead of missing them.
        task = asyncio.ensure_future(stores.archive.append_many([item(minute=1), item(minute=2)]))
        await asyncio.sleep(0)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert len(await everything(stores)) == 2
        assert (await stores.archive.stats(OWNER))[0].count == 2
    finally:
        await stores.close()


async def test_close_right_after_a_queued_append_still_stops_the_writer(
    tmp_path: Path, clock: FakeClock
) -> None:
    stores = await open_storage(SQL, f"sqlite:///{tmp_path / 'close.sqlite'}", clock)
    release = threading.Event()
    archive: Any = stores.archive
    # The writer is busy; an append and then close()'s stop marker queue up behind it, so the
    # writer collecting the append's batch finds the stop marker next.
    busy = asyncio.ensure_future(archive._db.write(lambda _c: release.wait(10)))
    await asyncio.sleep(0.05)
    append = asyncio.ensure_future(stores.archive.append(item(minute=1)))
    await asyncio.sleep(0)
    closing = asyncio.ensure_future(stores.close())
    await asyncio.sleep(0.05)
    release.set()
    await asyncio.wait_for(closing, 10)
    assert busy.done() and append.done() and append.exception() is None

    stores = await open_storage(SQL, f"sqlite:///{tmp_path / 'close.sqlite'}", clock)
    try:
        assert len(await everything(stores)) == 1
    finally:
        await stores.close()


async def test_live_ids_keep_increasing_across_a_restart_with_the_clock_back(
    database: Database, clock: FakeClock
) -> None:
    stores = await open_storage(SQL, database.url, clock)
    before = await stores.archive.append(item(when=clock.now))
    await stores.close()
    clock.advance(minutes=-30)  # the host clock was wrong and got corrected
    stores = await open_storage(SQL, database.url, clock)
    try:
        after = await stores.archive.append(item(when=clock.now))
        assert after > before
        assert await everything(stores) == [before, after]
    finally:
        await stores.close()


async def test_an_import_colliding_with_a_stored_id_gets_a_fresh_one(
    database: Database, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Two processes that both start a millisecond's sequence at the same offset: the second
    # import into that millisecond collides on the primary key and must still be stored.
    monkeypatch.setattr(ids_module, "_random_start", lambda: 0)
    stores = await open_storage(SQL, database.url, clock)
    first, later = await stores.archive.append_many([item(minute=1), item(minute=2)])
    await stores.close()
    stores = await open_storage(SQL, database.url, clock)
    try:
        second, third = await stores.archive.append_many(
            [item(minute=1, body="second"), item(minute=3, dedup_key="k")]
        )
        assert decode_id(second) != decode_id(first)
        assert await everything(stores) == [first, second, later, third]
        assert (await stores.archive.stats(OWNER))[0].count == 4
    finally:
        await stores.close()


async def test_a_failed_batch_fails_its_callers_and_the_writer_goes_on(
    database: Database, clock: FakeClock
) -> None:
    stores = await open_storage(SQL, database.url, clock)
    try:
        broken = NewArchiveItem(
            OWNER,
            "romeo@montague.lit",
            None,
            "sideways",  # type: ignore[arg-type]
            T0,
            "<m/>",
            None,
            "chat",
        )
        results = await asyncio.gather(
            stores.archive.append(item(minute=1)),
            stores.archive.append(broken),
            return_exceptions=True,
        )
        assert any(isinstance(r, BaseException) for r in results)
        ok = await stores.archive.append(item(minute=2))
        assert ok in await everything(stores)
    finally:
        await stores.close()


async def test_use_after_close_is_a_storage_error(database: Database) -> None:
    stores = await open_storage(SQL, database.url)
    await stores.close()
    with pytest.raises(StorageError):
        await stores.archive.append(item())
    await stores.close()  # closing twice is harmless


async def test_reclaim_space_gives_pages_back(tmp_path: Path, clock: FakeClock) -> None:
    path = tmp_path / "garrulus.sqlite"
    stores = await open_storage(SQL, f"sqlite:///{path}", clock)
    try:
        big = "<message><body>" + "x" * 4000 + "</body></message>"
        await stores.archive.append_many([item(minute=i, stanza=big) for i in range(2000)])
        full = path.stat().st_size + (tmp_path / "garrulus.sqlite-wal").stat().st_size
        await stores.archive.delete(DeleteQuery(owner=OWNER, batch_size=500))
        await stores.archive.reclaim_space()
        conn = sqlite3.connect(path)
        assert conn.execute("PRAGMA freelist_count").fetchone() == (0,)
        conn.close()
        assert path.stat().st_size < full / 4
        assert await everything(stores) == []
    finally:
        await stores.close()


async def test_fulltext_index_follows_deletes(database: Database) -> None:
    stores = await open_storage(SQL, database.url)
    try:
        assert stores.archive.caps.fulltext
        keep = await stores.archive.append(item(minute=2, body="rose by any other name"))
        await stores.archive.append(item(minute=1, body="a rose"))
        await stores.archive.delete(DeleteQuery(owner=OWNER, before=T0 + timedelta(minutes=2)))
        page = await stores.archive.find(OWNER, ArchiveQuery(fulltext="rose", want_total=True))
        assert [m.id for m in page.items] == [keep] and page.total == 1
    finally:
        await stores.close()


async def test_reads_run_off_the_event_loop(tmp_path: Path) -> None:
    import threading

    from garrulus.storage.sql import archive_read

    seen: list[str] = []
    original = archive_read.find

    def spy(*args: object, **kwargs: object) -> object:
        seen.append(threading.current_thread().name)
        return original(*args, **kwargs)  # type: ignore[arg-type]

    stores = await open_storage(SQL, f"sqlite:///{tmp_path / 'g.sqlite'}")
    try:
        archive_read.find = spy  # type: ignore[assignment]
        await stores.archive.find(OWNER, ArchiveQuery())
    finally:
        archive_read.find = original
        await stores.close()
    assert seen and seen[0] != threading.main_thread().name and seen[0].startswith("sql-reader")


async def test_ids_are_valid_bigints(database: Database) -> None:
    stores = await open_storage(SQL, database.url)
    try:
        archive_id = await stores.archive.append(item(direction=Direction.OUT))
        value = decode_id(archive_id)
        assert value is not None and 0 < value < 2**63
    finally:
        await stores.close()


async def test_group_commits_are_logged_at_debug_with_their_size(
    database: Database, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    stores = await open_storage(SQL, database.url, clock)
    try:
        with caplog.at_level("DEBUG", logger="garrulus.storage.sql"):
            # Queued together, before the writer gets to them: one group commit.
            await asyncio.gather(*(stores.archive.append(item(minute=i)) for i in range(5)))
        commits = [r.getMessage() for r in caplog.records if "group commit" in r.getMessage()]
        assert commits, caplog.text
        rows = [int(text.split(": ", 1)[1].split(" ", 1)[0]) for text in commits]
        assert sum(rows) == 5
        assert any("from" in text and text.endswith(" ms") for text in commits)
    finally:
        await stores.close()
