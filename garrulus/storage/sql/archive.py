"""The SQL ArchiveStore: the async face of archive_read / archive_write."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Sequence
from typing import Any

from garrulus.storage.api import (
    ArchiveBounds,
    ArchiveCaps,
    ArchivedMessage,
    ArchivePage,
    ArchiveQuery,
    ArchiveStats,
    DeleteQuery,
    NewArchiveItem,
    StorageError,
)
from garrulus.storage.archive_query import plan_query
from garrulus.storage.ids import IdGenerator, decode_id, encode_id, id_time
from garrulus.storage.sql import archive_read, archive_write, dialect, fts
from garrulus.storage.sql.archive_write import PendingRow
from garrulus.storage.sql.database import SqlDatabase
from garrulus.storage.sql.writer import Upkeep

VACUUM_STEP_PAGES = 2048
# The per-owner table of unfinished appends is swept of finished ones when it grows this big.
_PENDING_SWEEP = 4096


def _nothing(connection: Any) -> None:
    del connection  # 8 MiB of 4 KiB pages per step: short enough not to stall appends


class SqlArchiveStore:
    def __init__(
        self, db: SqlDatabase, ids: IdGenerator, *, fulltext: bool, deferred_index: bool = False
    ) -> None:
        self._db = db
        self._ids = ids
        self.caps = ArchiveCaps(total=True, fulltext=fulltext, wildcard_delete=True)
        # SQLite indexes bodies for full-text search in bulk, after the rows (sql/fts.py).
        self._deferred_index = deferred_index
        self._handler = functools.partial(archive_write.insert_batch, fresh_id=self._fresh_id)
        # The newest unfinished append per owner: reads of that owner wait for it first, so a
        # query sees every append made before it, even one whose caller didn't await it.
        self._pending: dict[str, asyncio.Future[Any]] = {}
        self._sweep_at = _PENDING_SWEEP

    @classmethod
    async def open(cls, db: SqlDatabase, ids: IdGenerator) -> SqlArchiveStore:
        newest = await db.read(archive_read.newest_id)
        if newest is not None:
            # Ids stay increasing across restarts even if the clock went back meanwhile.
            ids.observe(newest)
        fulltext = await db.read(dialect.has_fulltext)
        deferred = fulltext and await db.read(fts.is_deferred)
        if deferred:
            upkeep = Upkeep(
                fts.index_pending,
                every_rows=fts.INDEX_EVERY_ROWS,
                idle_seconds=fts.INDEX_WHEN_IDLE_SECONDS,
            )
            # Rows left queued by the last run or by another process are indexed right away.
            await db.set_upkeep(upkeep, due=await db.read(fts.has_pending))
        return cls(db, ids, fulltext=fulltext, deferred_index=deferred)

    def _fresh_id(self, taken: int) -> int:
        return self._ids.id_at(id_time(taken))

    # ------------------------------------------------------------ writes

    async def append(self, item: NewArchiveItem) -> str:
        # The hot path (every archived message): one future, no gather.
        (archive_id,) = await self._submit([PendingRow(self._ids.id_for(item.when), item)])
        return encode_id(archive_id)

    async def append_many(self, items: Sequence[NewArchiveItem]) -> list[str]:
        if not items:
            return []
        # Ids are given now, in call order, so they increase in the order appends were made.
        rows = [PendingRow(self._ids.id_for(item.when), item) for item in items]
        step = self._db.max_batch
        if len(rows) <= step:
            # Awaited as is, not shielded (a shield per message is measurable): a caller that
            # gives up cancels only its future; the rows are queued and written anyway, and
            # _settled() then waits for the writer itself.
            return [encode_id(archive_id) for archive_id in await self._submit(rows)]
        futures = [self._submit(rows[start : start + step]) for start in range(0, len(rows), step)]
        results = await asyncio.shield(asyncio.gather(*futures))
        return [encode_id(archive_id) for chunk in results for archive_id in chunk]

    def _submit(self, rows: Sequence[PendingRow]) -> asyncio.Future[Any]:
        future = self._db.write_batched(self._handler, rows)
        pending = self._pending
        if len(pending) >= self._sweep_at:
            # Committed ones only: a cancelled future says nothing about its rows, which may
            # still wait in the queue (_settled() covers those with a barrier).
            for owner in [o for o, f in pending.items() if f.done() and not f.cancelled()]:
                del pending[owner]
            # Many appends in flight (a stalled writer): sweep again only once it doubled.
            self._sweep_at = max(_PENDING_SWEEP, 2 * len(pending))
        for row in rows:
            pending[row.item.owner] = future
        return future

    async def _settled(self, owner: str | None) -> None:
        """Wait until the appends made so far (of ``owner``, or of everyone) are committed."""
        if owner is None:
            waiting = set(self._pending.values())
        else:
            pending = self._pending.get(owner)
            waiting = set() if pending is None else {pending}
        if not waiting:
            return
        await asyncio.wait(waiting)
        if any(future.cancelled() for future in waiting):
            # Its caller gave up, so it no longer says when the rows are in; a job queued on
            # the writer now runs after them.
            await self._db.write(_nothing)
        for key in [owner] if owner is not None else list(self._pending):
            if (future := self._pending.get(key)) is not None and future in waiting:
                del self._pending[key]

    async def replace(
        self, owner: str, archive_id: str, *, stanza: str, body: str | None, dedup_key: str | None
    ) -> bool:
        value = decode_id(archive_id)
        if value is None:
            return False
        # A writer job: it runs after every append queued before it (the writer keeps their
        # order), and a query made after it returns sees the new row.
        return await self._db.write(
            functools.partial(
                archive_write.replace_row,
                owner=owner,
                archive_id=value,
                stanza=stanza,
                body=body,
                dedup_key=dedup_key,
            )
        )

    async def delete(self, query: DeleteQuery) -> int:
        total, after = 0, -1
        while True:
            # Each batch is its own writer job: appends queued meanwhile go in between.
            deleted, last = await self._db.write(
                functools.partial(archive_write.delete_batch, query=query, after=after)
            )
            total += deleted
            if last is None or deleted < query.batch_size:
                return total
            after = last

    async def reclaim_space(self) -> None:
        if self._db.dialect == "postgresql":
            await self._db.maintenance(dialect.postgres_vacuum)
            return
        if not await self._db.write(dialect.sqlite_uses_incremental_vacuum):
            return  # a database created without auto_vacuum needs a full VACUUM, offline
        free = await self._db.write(dialect.sqlite_free_pages)
        while free > 0:
            # Each step is its own writer job: appends queued meanwhile go in between.
            await self._db.write_raw(
                functools.partial(dialect.sqlite_incremental_vacuum, pages=VACUUM_STEP_PAGES)
            )
            left = await self._db.write(dialect.sqlite_free_pages)
            if left >= free:
                break  # no progress (shouldn't happen): don't spin
            free = left
        await self._db.write_raw(dialect.sqlite_checkpoint)

    # ------------------------------------------------------------ reads

    async def find(self, owner: str, query: ArchiveQuery) -> ArchivePage:
        plan = plan_query(query)
        if plan.words and not self.caps.fulltext:
            raise StorageError("full-text search is not available in this database")
        await self._settled(owner)
        if plan.words and self._deferred_index:
            await self._index_pending()
        return await self._db.read(functools.partial(archive_read.find, owner=owner, plan=plan))

    async def _index_pending(self) -> None:
        """Index every row queued for full-text search, so a search sees all of them.

        The owner's appends are committed (``_settled``), so their rows are queued or indexed
        by now, as are rows another process appended. Each step is its own writer job:
        appends queued meanwhile go in between, and each step empties the queue faster than
        they fill it.
        """
        if not await self._db.read(fts.has_pending):
            return
        while await self._db.write(fts.index_pending):
            pass

    async def get(self, owner: str, archive_id: str) -> ArchivedMessage | None:
        value = decode_id(archive_id)
        if value is None:
            return None
        await self._settled(owner)
        return await self._db.read(
            functools.partial(archive_read.get, owner=owner, archive_id=value)
        )

    async def bounds(self, owner: str) -> ArchiveBounds:
        await self._settled(owner)
        return await self._db.read(functools.partial(archive_read.bounds, owner=owner))

    async def stats(self, owner: str | None) -> list[ArchiveStats]:
        await self._settled(owner)
        return await self._db.read(functools.partial(archive_read.stats, owner=owner))

    async def owners(self) -> list[str]:
        await self._settled(None)
        return await self._db.read(archive_read.owners)
