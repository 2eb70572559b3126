"""open_storage: backend choice per store kind, configuration errors, database URLs."""

from __future__ import annotations

from pathlib import Path

import pytest

from garrulus.storage.manager import StorageConfigError, open_storage
from garrulus.storage.memory import MemoryAccountStore, MemoryArchiveStore
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
