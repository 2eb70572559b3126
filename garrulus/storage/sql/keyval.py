"""The SQL KeyValueStore: one JSON value per (host, owner, key), written by upsert."""

from __future__ import annotations

import functools
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from garrulus.storage.sql.database import SqlDatabase
from garrulus.storage.sql.dialect import upsert
from garrulus.storage.sql.schema import keyval


def _owner_is(host: str, owner: str) -> sa.ColumnElement[bool]:
    return sa.and_(keyval.c.host == host, keyval.c.owner == owner)


def _get(connection: Connection, host: str, owner: str, key: str) -> Any | None:
    row = connection.execute(
        sa.select(keyval.c.value).where(_owner_is(host, owner), keyval.c.key == key)
    ).first()
    return None if row is None else row.value


def _set(connection: Connection, host: str, owner: str, key: str, value: Any) -> None:
    statement = upsert(
        connection.dialect.name,
        keyval,
        ["host", "owner", "key"],
        lambda excluded: {"value": excluded.value},
    )
    connection.execute(statement, {"host": host, "owner": owner, "key": key, "value": value})


def _delete(connection: Connection, host: str, owner: str, key: str) -> None:
    connection.execute(sa.delete(keyval).where(_owner_is(host, owner), keyval.c.key == key))


def _items(connection: Connection, host: str, owner: str) -> dict[str, Any]:
    rows = connection.execute(sa.select(keyval.c.key, keyval.c.value).where(_owner_is(host, owner)))
    return {key: value for key, value in rows}


def _delete_owner(connection: Connection, host: str, owner: str) -> int:
    return connection.execute(sa.delete(keyval).where(_owner_is(host, owner))).rowcount


class SqlKeyValueStore:
    """Reads on the reader threads; writes through the writer thread, in call order."""

    def __init__(self, db: SqlDatabase) -> None:
        self._db = db

    async def get(self, host: str, owner: str, key: str) -> Any | None:
        return await self._db.read(functools.partial(_get, host=host, owner=owner, key=key))

    async def set(self, host: str, owner: str, key: str, value: Any) -> None:
        await self._db.write(functools.partial(_set, host=host, owner=owner, key=key, value=value))

    async def delete(self, host: str, owner: str, key: str) -> None:
        await self._db.write(functools.partial(_delete, host=host, owner=owner, key=key))

    async def items(self, host: str, owner: str) -> dict[str, Any]:
        return await self._db.read(functools.partial(_items, host=host, owner=owner))

    async def delete_owner(self, host: str, owner: str) -> int:
        return await self._db.write(functools.partial(_delete_owner, host=host, owner=owner))
