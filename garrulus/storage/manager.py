"""Opens the configured backend for each store kind and hands them over as one StoreSet."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping

from garrulus.storage.api import AccountStore, ArchiveStore, KeyValueStore, StoreSet
from garrulus.storage.ids import Clock, IdGenerator, utc_now
from garrulus.storage.memory import MemoryAccountStore, MemoryArchiveStore, MemoryKeyValueStore
from garrulus.storage.sql.accounts import SqlAccountStore
from garrulus.storage.sql.archive import SqlArchiveStore
from garrulus.storage.sql.database import SqlDatabase
from garrulus.storage.sql.keyval import SqlKeyValueStore

STORE_KINDS = ("accounts", "keyval", "archive")
BACKENDS = ("sql", "memory")  # the names Prosody uses for the same two


class StorageConfigError(ValueError):
    """The storage configuration names something that doesn't exist."""


def _choose(backend_for: Mapping[str, str], sql_url: str | None) -> dict[str, str]:
    unknown = set(backend_for) - set(STORE_KINDS)
    if unknown:
        raise StorageConfigError(
            f"unknown store kind(s) {sorted(unknown)}; known: {', '.join(STORE_KINDS)}"
        )
    default = "sql" if sql_url else "memory"
    chosen = {kind: backend_for.get(kind, default) for kind in STORE_KINDS}
    for kind, backend in chosen.items():
        if backend not in BACKENDS:
            raise StorageConfigError(
                f"storage backend {backend!r} for {kind!r}: use one of {', '.join(BACKENDS)}"
            )
        if backend == "sql" and not sql_url:
            raise StorageConfigError(f"{kind!r} is stored in SQL but no SQL database is set")
    return chosen


async def open_storage(
    backend_for: Mapping[str, str],
    sql_url: str | None,
    clock: Clock = utc_now,
    *,
    sql_readers: int = 4,
) -> StoreSet:
    """Open every store kind ("accounts", "keyval", "archive") with its backend.

    ``backend_for`` maps a kind to "sql" or "memory"; a kind left out uses "sql" when a
    ``sql_url`` is given, else "memory". SQL databases are migrated to the newest schema first.
    ``clock`` stamps live archive ids. Close the result with ``await stores.close()``.
    """
    chosen = _choose(backend_for, sql_url)
    ids = IdGenerator(clock)
    closers: list[Callable[[], Awaitable[None]]] = []
    extra: dict[str, object] = {}
    db: SqlDatabase | None = None
    if "sql" in chosen.values():
        assert sql_url is not None
        db = await SqlDatabase.open(sql_url, readers=sql_readers)
        closers.append(db.close)
        extra["sql"] = db

    accounts: AccountStore
    keyval: KeyValueStore
    archive: ArchiveStore
    try:
        accounts = (
            MemoryAccountStore()
            if db is None or chosen["accounts"] == "memory"
            else (SqlAccountStore(db))
        )
        keyval = (
            MemoryKeyValueStore()
            if db is None or chosen["keyval"] == "memory"
            else (SqlKeyValueStore(db))
        )
        if db is None or chosen["archive"] == "memory":
            archive = MemoryArchiveStore(ids)
        else:
            archive = await SqlArchiveStore.open(db, ids)
    except BaseException:
        for closer in closers:
            await closer()
        raise
    return StoreSet(
        accounts=accounts, keyval=keyval, archive=archive, extra=extra, closers=tuple(closers)
    )
