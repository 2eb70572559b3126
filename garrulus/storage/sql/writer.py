"""The writer thread: every write to the database, in arrival order, on one connection at a time.

Batched jobs (archive appends) waiting together are group-committed: one transaction, one
executemany, then every waiter is woken with its result. Nobody hears "stored" before COMMIT,
so a query issued after an append's future resolved always sees the row.

Other writes (accounts, key-value, delete batches, vacuum steps) are single jobs, each in its own
transaction between batches. One writer means SQLite never sees two writers contend for its lock,
and the order of writes is the order of calls.

Work that is cheaper in bulk (SQLite's full-text indexing) can be left to the writer's
:class:`Upkeep`, done in steps after every so many appended rows and whenever the queue is idle.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import queue
import sqlite3
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from garrulus.storage.api import StorageError

log = logging.getLogger("garrulus.storage.sql")

T = TypeVar("T")

# Writes a batch of rows in the open transaction and returns one result per row. ``careful``:
# the fast attempt hit a constraint; go row by row (savepoints) to find and fix the culprit.
BatchHandler = Callable[[Connection, Sequence[Any], bool], list[int]]


class _Nothing:
    """The type of :data:`_NOTHING`."""


_NOTHING = _Nothing()


@dataclass(eq=False)
class _Waiter:
    loop: asyncio.AbstractEventLoop
    future: asyncio.Future[Any]


@dataclass(eq=False)
class _BatchJob:
    handler: BatchHandler
    rows: Sequence[Any]
    waiter: _Waiter


@dataclass(eq=False)
class _CallJob:
    fn: Callable[[Any], Any]
    raw: bool  # fn gets the DBAPI connection outside any transaction (pragmas that need it)
    waiter: _Waiter


@dataclass(eq=False)
class _ControlJob:
    fn: Callable[[], Any]  # runs on the writer thread, without a connection
    waiter: _Waiter


_Job = _BatchJob | _CallJob | _ControlJob


@dataclass(frozen=True)
class Upkeep:
    """Deferred work the writer does between jobs (SQLite's full-text indexing, sql/fts.py).

    ``step`` does a bounded piece of it in a transaction of its own and says whether more is
    left. It runs once ``every_rows`` batched rows were written since it last ran, when the queue
    has been idle for ``idle_seconds`` after any were, and again while more is left and no job
    waits. A failing step is logged and tried again once more rows were written (after
    ``every_rows``, or when the queue is next idle), never in a loop.
    """

    step: Callable[[Connection], bool]
    every_rows: int
    idle_seconds: float


def _settle(outcomes: list[tuple[asyncio.Future[Any], Any, BaseException | None]]) -> None:
    for future, value, error in outcomes:
        if future.done():  # cancelled by its caller: nobody to tell
            continue
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(value)


def as_storage_error(exc: BaseException) -> BaseException:
    """Database failures become StorageError; our own errors and bugs pass unchanged."""
    if isinstance(exc, sa.exc.SQLAlchemyError | sqlite3.Error):
        error = StorageError(f"database error: {exc}")
        error.__cause__ = exc
        return error
    return exc


class Writer:
    def __init__(self, engine: Engine, *, max_batch: int = 1000, name: str = "sql-writer"):
        self._engine = engine
        self._max_batch = max_batch
        self._queue: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._closed = False
        # Touched by the writer thread only (set_upkeep installs it with a job).
        self._upkeep: Upkeep | None = None
        self._rows_since_upkeep = 0
        self._upkeep_more = False  # the last step left work, or work is waiting since start
        self._worker = threading.Thread(target=self._run, name=name, daemon=True)
        self._worker.start()

    # ------------------------------------------------------------ event-loop side

    def submit_batched(self, handler: BatchHandler, rows: Sequence[Any]) -> asyncio.Future[Any]:
        """Queue rows for the next group commit; the future gets the handler's list of results."""
        waiter = self._waiter()
        self._queue.put(_BatchJob(handler, rows, waiter))
        return waiter.future

    async def call(self, fn: Callable[[Connection], T]) -> T:
        """Run ``fn`` in its own write transaction on the writer thread."""
        waiter = self._waiter()
        self._queue.put(_CallJob(fn, False, waiter))
        result: T = await waiter.future
        return result

    async def call_raw(self, fn: Callable[[Any], T]) -> T:
        """Run ``fn`` with the DBAPI connection, no transaction open, on the writer thread."""
        waiter = self._waiter()
        self._queue.put(_CallJob(fn, True, waiter))
        result: T = await waiter.future
        return result

    async def set_upkeep(self, upkeep: Upkeep | None, *, due: bool = False) -> None:
        """Install (or with None remove) the writer's upkeep; ``due``: work is already waiting,
        so a step runs as soon as the queue is empty."""

        def install() -> None:
            self._upkeep = upkeep
            self._rows_since_upkeep = 0
            self._upkeep_more = due and upkeep is not None

        waiter = self._waiter()
        self._queue.put(_ControlJob(install, waiter))
        await waiter.future

    async def close(self) -> None:
        """Write everything queued so far, then stop the thread."""
        if not self._closed:
            self._closed = True
            self._queue.put(None)
        await asyncio.to_thread(self._worker.join)

    def _waiter(self) -> _Waiter:
        if self._closed:
            raise StorageError("the database is closed")
        loop = asyncio.get_running_loop()
        return _Waiter(loop, loop.create_future())

    # ------------------------------------------------------------ writer thread

    def _run(self) -> None:
        # What the batch loop took from the queue and must run next. A separate "nothing" value,
        # because None itself is the stop marker and must not be dropped (close() would wait
        # forever for a thread blocked on an empty queue).
        carried: _Job | _Nothing | None = _NOTHING
        while True:
            job = carried if not isinstance(carried, _Nothing) else self._next_job()
            carried = _NOTHING
            if job is None:
                return
            if isinstance(job, _CallJob):
                self._guarded(self._run_call, job)
                continue
            if isinstance(job, _ControlJob):
                self._guarded(self._run_control, job)
                continue
            batch = [job]
            size = len(job.rows)
            while size < self._max_batch:
                try:
                    following = self._queue.get_nowait()
                except queue.Empty:
                    break
                if isinstance(following, _BatchJob) and following.handler is job.handler:
                    batch.append(following)
                    size += len(following.rows)
                else:
                    carried = following  # keep the order: it runs right after this batch
                    break
            self._guarded(self._run_batch, batch)
            upkeep = self._upkeep
            if upkeep is not None:
                self._rows_since_upkeep += size
                if self._rows_since_upkeep >= upkeep.every_rows:
                    self._run_upkeep(upkeep)

    def _next_job(self) -> _Job | None:
        """The next job from the queue; a due upkeep step runs while none is waiting."""
        while True:
            upkeep = self._upkeep
            if upkeep is None or not (self._rows_since_upkeep or self._upkeep_more):
                return self._queue.get()
            try:
                if self._upkeep_more:
                    return self._queue.get_nowait()
                return self._queue.get(timeout=upkeep.idle_seconds)
            except queue.Empty:
                self._run_upkeep(upkeep)

    def _run_upkeep(self, upkeep: Upkeep) -> None:
        self._rows_since_upkeep = 0
        self._upkeep_more = False
        try:
            with self._engine.begin() as connection:
                more = upkeep.step(connection)
        except Exception:
            # Never fatal, and not retried in a loop: the next try is after more appends.
            log.exception("writer upkeep step failed")
            return
        self._upkeep_more = more  # only once committed

    @staticmethod
    def _guarded(run: Callable[[Any], None], work: Any) -> None:
        # The thread must outlive any bug: if it died, every later write would wait forever.
        try:
            run(work)
        except Exception:
            log.exception("writer thread: unexpected error")

    def _run_call(self, job: _CallJob) -> None:
        try:
            if job.raw:
                raw = self._engine.raw_connection()
                try:
                    value = job.fn(raw.driver_connection)
                finally:
                    raw.close()
            else:
                with self._engine.begin() as connection:
                    value = job.fn(connection)
        except Exception as exc:
            self._deliver([(job.waiter, None, as_storage_error(exc))])
        else:
            self._deliver([(job.waiter, value, None)])

    def _run_control(self, job: _ControlJob) -> None:
        try:
            value = job.fn()
        except Exception as exc:
            self._deliver([(job.waiter, None, exc)])
        else:
            self._deliver([(job.waiter, value, None)])

    def _run_batch(self, batch: list[_BatchJob]) -> None:
        handler = batch[0].handler
        rows = [row for job in batch for row in job.rows]
        started = time.perf_counter() if log.isEnabledFor(logging.DEBUG) else None
        try:
            try:
                results = self._write(handler, rows, careful=False)
            except sa.exc.IntegrityError:
                results = self._write(handler, rows, careful=True)
        except Exception as exc:
            log.exception("group commit of %d rows failed", len(rows))
            error = as_storage_error(exc)
            self._deliver([(job.waiter, None, error) for job in batch])
            return
        if started is not None:
            # Why throughput is what it is: SQLite's cost per row falls as commits grow.
            log.debug(
                "group commit: %d rows from %d appends in %.1f ms",
                len(rows),
                len(batch),
                (time.perf_counter() - started) * 1000,
            )
        outcomes: list[tuple[_Waiter, Any, BaseException | None]] = []
        offset = 0
        for job in batch:
            outcomes.append((job.waiter, results[offset : offset + len(job.rows)], None))
            offset += len(job.rows)
        self._deliver(outcomes)

    def _write(self, handler: BatchHandler, rows: Sequence[Any], *, careful: bool) -> list[int]:
        with self._engine.begin() as connection:
            results = handler(connection, rows, careful)
            if len(results) != len(rows):  # a bug: roll back rather than answer wrongly
                raise StorageError(f"batch handler gave {len(results)} results for {len(rows)}")
        return results

    @staticmethod
    def _deliver(outcomes: list[tuple[_Waiter, Any, BaseException | None]]) -> None:
        # One wake-up per event loop, not per waiter: a batch of 1000 is one call_soon_threadsafe.
        by_loop: dict[
            asyncio.AbstractEventLoop,
            list[tuple[asyncio.Future[Any], Any, BaseException | None]],
        ] = defaultdict(list)
        for waiter, value, error in outcomes:
            by_loop[waiter.loop].append((waiter.future, value, error))
        for loop, settled in by_loop.items():
            with contextlib.suppress(RuntimeError):  # that loop closed: its waiters are gone
                loop.call_soon_threadsafe(_settle, settled)
