"""Fixtures for the storage contract suite: one StoreSet per backend (memory, sqlite, postgres).

PostgreSQL tests run in a schema of their own (created and dropped around each test), so
parallel and repeated runs never see each other's tables.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache
from pathlib import Path

import psycopg
import pytest

from garrulus.storage.api import Direction, NewArchiveItem, StoreSet
from garrulus.storage.manager import open_storage

# Test data needs no durability: without waiting for each commit's WAL flush, the suite's many
# small transactions stay fast on a disk whose fsync is slow (visibility is unchanged).
_PG_OPTIONS = "-csynchronous_commit%3Doff"
PG_DSN = f"postgresql://postgres@127.0.0.1:5432/test?options={_PG_OPTIONS}"
T0 = datetime(2024, 3, 1, 12, 0, tzinfo=UTC)  # "old": ids come from the items' own times
NOW = datetime(2025, 6, 1, 9, 30, tzinfo=UTC)


@dataclass
class FakeClock:
    now: datetime = NOW

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kwargs: float) -> None:
        self.now += timedelta(**kwargs)


@cache
def postgres_problem() -> str | None:
    """Why PostgreSQL can't be used, or None when it answers."""
    try:
        with psycopg.connect(PG_DSN, connect_timeout=3) as conn:
            conn.execute("SELECT 1")
    except Exception as exc:
        return " ".join(str(exc).split()) or type(exc).__name__
    return None


def require_postgres() -> None:
    problem = postgres_problem()
    if problem is not None:
        pytest.skip(f"PostgreSQL at 127.0.0.1:5432 does not answer: {problem}")


@dataclass
class Database:
    """A fresh, empty database for one test."""

    kind: str  # "sqlite" | "postgres"
    url: str


@contextmanager
def pg_schema() -> Iterator[str]:
    require_postgres()
    schema = f"garrulus_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(PG_DSN, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    try:
        yield schema
    finally:
        with psycopg.connect(PG_DSN, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def pg_url(schema: str) -> str:
    return (
        "postgresql+psycopg://postgres@127.0.0.1:5432/test"
        f"?options=-csearch_path%3D{schema}%20{_PG_OPTIONS}"
    )


def sqlite_url(path: Path) -> str:
    return f"sqlite:///{path}"


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    if request.param == "sqlite":
        yield Database("sqlite", sqlite_url(tmp_path / "garrulus.sqlite"))
        return
    with pg_schema() as schema:
        yield Database("postgres", pg_url(schema))


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture(params=["memory", "sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def stores(
    request: pytest.FixtureRequest, tmp_path: Path, clock: FakeClock
) -> AsyncIterator[StoreSet]:
    """Every store of one backend (the contract suite runs once per backend)."""
    kinds = ("accounts", "keyval", "archive")
    if request.param == "memory":
        opened = await open_storage(dict.fromkeys(kinds, "memory"), None, clock)
        yield opened
        await opened.close()
        return
    if request.param == "sqlite":
        url = sqlite_url(tmp_path / "garrulus.sqlite")
        opened = await open_storage(dict.fromkeys(kinds, "sql"), url, clock)
        yield opened
        await opened.close()
        return
    with pg_schema() as schema:
        opened = await open_storage(dict.fromkeys(kinds, "sql"), pg_url(schema), clock)
        try:
            yield opened
        finally:
            await opened.close()


def item(
    owner: str = "juliet@capulet.lit",
    peer: str = "romeo@montague.lit",
    *,
    minute: float = 0,
    when: datetime | None = None,
    resource: str | None = "orchard",
    direction: Direction = Direction.IN,
    body: str | None = "hello",
    msg_type: str = "chat",
    dedup_key: str | None = None,
    stanza: str | None = None,
) -> NewArchiveItem:
    stamp = when if when is not None else T0 + timedelta(minutes=minute)
    return NewArchiveItem(
        owner=owner,
        peer=peer,
        peer_resource=resource,
        direction=direction,
        when=stamp,
        stanza=stanza
        if stanza is not None
        else f"<message type='{msg_type}'><body>{body}</body></message>",
        body=body,
        msg_type=msg_type,
        dedup_key=dedup_key,
    )
