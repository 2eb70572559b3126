"""Engines per role, with the per-connection settings each database needs.

Roles: ``writer`` (the single writer thread and migrations) and ``reader`` (the reader pool).
SQLite gets WAL so readers run beside the writer, and explicit BEGINs because pysqlite's own
transaction handling (Python < 3.12) defers BEGIN and would let a read-modify-write interleave.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any, Literal

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import URL, Engine, make_url

Role = Literal["writer", "reader"]

SQLITE_BUSY_TIMEOUT_MS = 10_000
SQLITE_WAL_AUTOCHECKPOINT_PAGES = 10_000
SQLITE_JOURNAL_SIZE_LIMIT = 64 * 1024 * 1024


class UnsupportedDatabase(ValueError):
    """The URL names a database this server cannot use."""


def normalize_url(url: str) -> URL:
    """``sqlite:///path`` or ``postgresql[+psycopg]://...``; plain postgresql means psycopg 3."""
    parsed = make_url(url)
    backend, _, driver = parsed.drivername.partition("+")
    if backend in ("postgresql", "postgres"):
        if driver not in ("", "psycopg"):
            raise UnsupportedDatabase(f"PostgreSQL driver {driver!r}: only psycopg (3) is used")
        return parsed.set(drivername="postgresql+psycopg")
    if backend == "sqlite":
        if driver not in ("", "pysqlite"):
            raise UnsupportedDatabase(f"SQLite driver {driver!r}: only the built-in one is used")
        if not parsed.database or parsed.database == ":memory:":
            # Every pooled connection would get its own empty memory database.
            raise UnsupportedDatabase("SQLite needs a file: sqlite:///path/to/file.sqlite")
        return parsed.set(drivername="sqlite+pysqlite")
    raise UnsupportedDatabase(f"unsupported database URL scheme {parsed.drivername!r}")


def _sqlite_settings(engine: Engine, role: Role) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: sqlite3.Connection, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # we send BEGIN ourselves (below)
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
            if role == "writer":
                # Only takes effect before the first table is created, hence before anything.
                cursor.execute("PRAGMA auto_vacuum = INCREMENTAL")
                cursor.execute("PRAGMA journal_mode = WAL")
                # FULL: every group commit reaches the disk (fsync of the WAL) before anyone
                # hears "stored", so a message delivered once is archived even across a power
                # loss. NORMAL would only sync at checkpoints; measured with the benchmark's
                # throughput run (2026-11-22), the two were within the machine's noise, because
                # one fsync is shared by the ~50 messages of a group commit.
                cursor.execute("PRAGMA synchronous = FULL")
                cursor.execute("PRAGMA foreign_keys = ON")
                # 64 MiB of page cache: the archive indexes' hot pages stay in memory.
                cursor.execute("PRAGMA cache_size = -65536")
                # Checkpoint every 10000 pages (~40 MiB of WAL) instead of 1000: the pages that
                # group commits rewrite again and again (index leaves, the stats rows, the
                # newest table page) are copied into the database once per checkpoint, not
                # ten times. Readers still find any page through the WAL index in O(1).
                cursor.execute(f"PRAGMA wal_autocheckpoint = {SQLITE_WAL_AUTOCHECKPOINT_PAGES}")
                # A checkpoint rewinds the WAL without shrinking its file; this truncates it
                # back whenever it grew past the limit (a long reader delayed a checkpoint).
                cursor.execute(f"PRAGMA journal_size_limit = {SQLITE_JOURNAL_SIZE_LIMIT}")
            else:
                cursor.execute("PRAGMA query_only = ON")
                cursor.execute("PRAGMA cache_size = -16384")
        finally:
            cursor.close()

    begin = "BEGIN IMMEDIATE" if role == "writer" else "BEGIN"

    @event.listens_for(engine, "begin")
    def _on_begin(connection: sa.Connection) -> None:
        # IMMEDIATE takes the write lock up front: a writer never fails half-way with BUSY
        # when another process (the CLI) writes too; busy_timeout makes it wait instead.
        connection.exec_driver_sql(begin)


def make_engine(url: str | URL, *, role: Role, pool_size: int = 1) -> Engine:
    parsed = normalize_url(url) if isinstance(url, str) else url
    if parsed.get_backend_name() == "sqlite":
        assert parsed.database is not None
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = sa.create_engine(
            parsed,
            pool_size=pool_size,
            max_overflow=0,
            connect_args={"check_same_thread": False},
        )
        _sqlite_settings(engine, role)
        return engine
    # Fail in seconds, not after the OS's TCP timeout, when the server is unreachable.
    connect_args = {} if "connect_timeout" in parsed.query else {"connect_timeout": 10}
    return sa.create_engine(
        parsed,
        pool_size=pool_size,
        max_overflow=0,
        pool_pre_ping=True,  # survive a PostgreSQL restart without failing the next query
        connect_args=connect_args,
    )
