"""One SQL database behind an async facade: a writer thread and a small pool of reader threads.

No database call ever runs on the event loop thread. Reads run on ``readers`` threads, each with
its own connection (SQLite WAL lets them read beside the writer); writes go through the single
:class:`Writer` thread (see writer.py for why).
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import SQLAlchemyError

from garrulus.storage.migrate import upgrade_database
from garrulus.storage.sql.engine import make_engine, normalize_url
from garrulus.storage.sql.writer import BatchHandler, Upkeep, Writer, as_storage_error

T = TypeVar("T")


class SqlDatabase:
    def __init__(self, writer_engine: Engine, reader_engine: Engine, readers: int, max_batch: int):
        self.dialect = writer_engine.dialect.name
        self._writer_engine = writer_engine
        self._reader_engine = reader_engine
        self._readers = ThreadPoolExecutor(max_workers=readers, thread_name_prefix="sql-reader")
        self._writer = Writer(writer_engine, max_batch=max_batch)
        self.max_batch = max_batch

    @classmethod
    async def open(
        cls, url: str, *, readers: int = 4, max_batch: int = 1000, migrate: bool = True
    ) -> SqlDatabase:
        """Connect (after migrating the schema to head, unless ``migrate`` is False)."""
        parsed = normalize_url(url)
        if migrate:
            await asyncio.to_thread(upgrade_database, parsed.render_as_string(hide_password=False))
        writer_engine = make_engine(parsed, role="writer", pool_size=1)
        # One spare connection for maintenance (VACUUM) beside the reader threads.
        reader_engine = make_engine(parsed, role="reader", pool_size=readers + 1)
        return cls(writer_engine, reader_engine, readers, max_batch)

    async def read(self, fn: Callable[[Connection], T]) -> T:
        """Run ``fn`` on a reader thread, inside one read transaction (a consistent snapshot)."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._readers, functools.partial(self._read, fn))

    def _read(self, fn: Callable[[Connection], T]) -> T:
        try:
            with self._reader_engine.connect() as connection:
                return fn(connection)
        except SQLAlchemyError as exc:
            raise as_storage_error(exc) from exc

    async def write(self, fn: Callable[[Connection], T]) -> T:
        """Run ``fn`` in its own write transaction on the writer thread."""
        return await self._writer.call(fn)

    async def write_raw(self, fn: Callable[[Any], T]) -> T:
        """Run ``fn`` with the writer's DBAPI connection outside a transaction."""
        return await self._writer.call_raw(fn)

    def write_batched(self, handler: BatchHandler, rows: Sequence[Any]) -> asyncio.Future[Any]:
        """Queue rows for the writer's next group commit (see Writer.submit_batched)."""
        return self._writer.submit_batched(handler, rows)

    async def set_upkeep(self, upkeep: Upkeep | None, *, due: bool = False) -> None:
        """Give the writer deferred work to do between jobs (see writer.Upkeep)."""
        await self._writer.set_upkeep(upkeep, due=due)

    async def maintenance(self, fn: Callable[[Connection], T]) -> T:
        """Run ``fn`` on an autocommit connection in a thread of its own (long VACUUMs)."""

        def run() -> T:
            try:
                with self._reader_engine.connect() as connection:
                    autocommit = connection.execution_options(isolation_level="AUTOCOMMIT")
                    return fn(autocommit)
            except SQLAlchemyError as exc:
                raise as_storage_error(exc) from exc

        return await asyncio.to_thread(run)

    async def close(self) -> None:
        """Commit every queued write, then release threads and connections."""
        await self._writer.close()
        await asyncio.to_thread(self._readers.shutdown, True)
        self._writer_engine.dispose()
        self._reader_engine.dispose()
