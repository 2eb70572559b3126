"""open_storage: backend choice per store kind, configuration errors, database URLs."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from garrulus.storage.api import StorageError
from garrulus.storage.manager import StorageConfigError, open_storage
from garrulus.storage.memory import MemoryAccountStore, MemoryArchiveStore
from garrulus.storage.migrate import upgrade_database
from garrulus.storage.sql.accounts import SqlAccountStore
from garrulus.storage.sql.archive import SqlArchiveStore
from garrulus.storage.sql.engine import UnsupportedDatabase, normalize_url


async def test_mixed_backends(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'g.sqlite'}"
    stores = await open_storage({"accounts": "sql", "archive": "memory"}, url)
    try:
        assert isinstance(stores.accounts, SqlAccountStore)
        assert isinstance(stores.archive, MemoryArchiveStore)
    finally:
        await stores.close()


async def test_defaults() -> None:
    stores = await open_storage({}, None)
    assert isinstance(stores.accounts, MemoryAccountStore)
    await stores.close()


async def test_sql_is_the_default_when_a_database_is_set(tmp_path: Path) -> None:
    stores = await open_storage({}, f"sqlite:///{tmp_path / 'g.sqlite'}")
    try:
        assert isinstance(stores.archive, SqlArchiveStore)
    finally:
        await stores.close()


@pytest.mark.parametrize(
    ("backend_for", "url"),
    [
        ({"archive": "sql"}, None),
        ({"archive": "internal"}, None),
        ({"roster": "memory"}, None),
    ],
)
async def test_configuration_errors(backend_for: dict[str, str], url: str | None) -> None:
    with pytest.raises(StorageConfigError):
        await open_storage(backend_for, url)


def test_url_forms() -> None:
    assert normalize_url("postgresql://u@h:5432/db").drivername == "postgresql+psycopg"
    assert normalize_url("postgres://u@h/db").drivername == "postgresql+psycopg"
    assert normalize_url("postgresql+psycopg://u@h/db?x=1").query == {"x": "1"}
    assert normalize_url("sqlite:////var/lib/garrulus/g.sqlite").database == (
        "/var/lib/garrulus/g.sqlite"
    )
    for bad in ["sqlite://", "sqlite:///:memory:", "mysql://u@h/db", "postgresql+psycopg2://h/d"]:
        with pytest.raises(UnsupportedDatabase):
            normalize_url(bad)


async def test_an_unreachable_database_is_a_storage_error() -> None:
    url = "postgresql://postgres:secret@127.0.0.1:1/test?connect_timeout=2"
    with pytest.raises(StorageError) as caught:
        await open_storage({"archive": "sql"}, url)
    assert "secret" not in str(caught.value)


async def test_a_schema_from_a_newer_version_is_a_storage_error(tmp_path: Path) -> None:
    path = tmp_path / "g.sqlite"
    upgrade_database(f"sqlite:///{path}")
    conn = sqlite3.connect(path)
    conn.execute("UPDATE alembic_version SET version_num = '9999'")
    conn.commit()
    conn.close()
    with pytest.raises(StorageError, match="newer"):
        await open_storage({}, f"sqlite:///{path}")
