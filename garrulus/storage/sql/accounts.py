"""The SQL AccountStore. Credentials are SCRAM salted keys as JSON; never a password."""

from __future__ import annotations

import base64
import functools
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from garrulus.storage.api import Account, Conflict, ScramCredentials
from garrulus.storage.sql.database import SqlDatabase
from garrulus.storage.sql.schema import accounts

_UNIX_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_ONE_US = timedelta(microseconds=1)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def credentials_to_json(credentials: Sequence[ScramCredentials]) -> list[dict[str, Any]]:
    return [
        {
            "hash": c.mechanism_hash,
            "salt": _b64(c.salt),
            "iterations": c.iterations,
            "stored_key": _b64(c.stored_key),
            "server_key": _b64(c.server_key),
        }
        for c in credentials
    ]


def credentials_from_json(data: list[dict[str, Any]]) -> tuple[ScramCredentials, ...]:
    return tuple(
        ScramCredentials(
            mechanism_hash=c["hash"],
            salt=base64.b64decode(c["salt"]),
            iterations=int(c["iterations"]),
            stored_key=base64.b64decode(c["stored_key"]),
            server_key=base64.b64decode(c["server_key"]),
        )
        for c in data
    )


def _to_us(when: datetime) -> int:
    return (when - _UNIX_EPOCH) // _ONE_US


def _from_us(us: int) -> datetime:
    return _UNIX_EPOCH + timedelta(microseconds=us)


def _key(host: str, username: str) -> sa.ColumnElement[bool]:
    return sa.and_(accounts.c.host == host, accounts.c.username == username)


def _get(connection: Connection, host: str, username: str) -> Account | None:
    row = connection.execute(
        sa.select(accounts.c.created_us, accounts.c.credentials).where(_key(host, username))
    ).first()
    if row is None:
        return None
    return Account(username, host, credentials_from_json(row.credentials), _from_us(row.created_us))


def _create(connection: Connection, account: Account) -> None:
    try:
        with connection.begin_nested():
            connection.execute(
                sa.insert(accounts).values(
                    host=account.host,
                    username=account.username,
                    created_us=_to_us(account.created),
                    credentials=credentials_to_json(account.credentials),
                )
            )
    except sa.exc.IntegrityError:
        raise Conflict(f"account {account.username}@{account.host} exists") from None


def _set_credentials(
    connection: Connection, host: str, username: str, credentials: Sequence[ScramCredentials]
) -> bool:
    result = connection.execute(
        sa.update(accounts)
        .where(_key(host, username))
        .values(credentials=credentials_to_json(credentials))
    )
    return result.rowcount > 0


def _delete(connection: Connection, host: str, username: str) -> bool:
    return connection.execute(sa.delete(accounts).where(_key(host, username))).rowcount > 0


def _list(connection: Connection, host: str) -> list[str]:
    statement = (
        sa.select(accounts.c.username).where(accounts.c.host == host).order_by(accounts.c.username)
    )
    return list(connection.execute(statement).scalars())


class SqlAccountStore:
    """Reads on the reader threads; writes through the writer thread, in call order."""

    def __init__(self, db: SqlDatabase) -> None:
        self._db = db

    async def get(self, host: str, username: str) -> Account | None:
        return await self._db.read(functools.partial(_get, host=host, username=username))

    async def create(self, account: Account) -> None:
        await self._db.write(functools.partial(_create, account=account))

    async def set_credentials(
        self, host: str, username: str, credentials: Sequence[ScramCredentials]
    ) -> bool:
        return await self._db.write(
            functools.partial(
                _set_credentials, host=host, username=username, credentials=tuple(credentials)
            )
        )

    async def delete(self, host: str, username: str) -> bool:
        return await self._db.write(functools.partial(_delete, host=host, username=username))

    async def list(self, host: str) -> list[str]:
        return await self._db.read(functools.partial(_list, host=host))
