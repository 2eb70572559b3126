"""The storage contract: typed store interfaces every backend implements.

Features read ``caps``, never a backend's class. One contract suite (tests/storage) runs against
every backend; a backend is done when it passes.
"""

from __future__ import annotations

import enum
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol, runtime_checkable


class StorageError(Exception):
    """The backend failed; callers answer ``internal-server-error`` and keep the session."""


class ItemNotFound(StorageError):
    """An archive id named in a query (after/before/ids/RSM) is not in that owner's archive."""

    def __init__(self, archive_id: str) -> None:
        super().__init__(f"no archived message with id {archive_id!r}")
        self.archive_id = archive_id


class Conflict(StorageError):
    """A create that must not overwrite found the key taken (e.g. an existing account)."""


# ---------------------------------------------------------------- accounts


@dataclass(frozen=True)
class ScramCredentials:
    """SCRAM salted keys for one hash (RFC 5802); the password itself is never stored."""

    mechanism_hash: str  # "SHA-1" or "SHA-256"
    salt: bytes
    iterations: int
    stored_key: bytes
    server_key: bytes


@dataclass(frozen=True)
class Account:
    username: str  # prepared localpart
    host: str
    credentials: tuple[ScramCredentials, ...]
    created: datetime

    def scram(self, mechanism_hash: str) -> ScramCredentials | None:
        for cred in self.credentials:
            if cred.mechanism_hash == mechanism_hash:
                return cred
        return None


class AccountStore(Protocol):
    async def get(self, host: str, username: str) -> Account | None: ...
    async def create(self, account: Account) -> None: ...  # raises Conflict if it exists
    async def set_credentials(
        self, host: str, username: str, credentials: Sequence[ScramCredentials]
    ) -> bool: ...  # False if no such account
    async def delete(self, host: str, username: str) -> bool: ...
    async def list(self, host: str) -> list[str]: ...


# ---------------------------------------------------------------- key-value


class KeyValueStore(Protocol):
    """Prosody's keyval kind: one JSON value per (host, owner, key). ``owner`` "" is the host."""

    async def get(self, host: str, owner: str, key: str) -> Any | None: ...
    async def set(self, host: str, owner: str, key: str, value: Any) -> None: ...
    async def delete(self, host: str, owner: str, key: str) -> None: ...
    async def items(self, host: str, owner: str) -> dict[str, Any]: ...
    async def delete_owner(self, host: str, owner: str) -> int: ...  # every key of one owner


# ---------------------------------------------------------------- archive


class Direction(enum.Enum):
    OUT = "out"  # the owner sent it
    IN = "in"  # the owner received it


@dataclass(frozen=True)
class NewArchiveItem:
    """One message to archive in ``owner``'s archive (owner: bare JID string)."""

    owner: str
    peer: str  # bare JID of the other party (the owner itself for self-messages)
    peer_resource: str | None  # the other party's resource, for full-JID ``with`` filters
    direction: Direction
    when: datetime  # aware, UTC
    stanza: str  # the <message/> serialised in jabber:client, as stored
    body: str | None  # plain text for full-text search, if any
    msg_type: str  # "chat", "normal", "groupchat", "headline"
    # Idempotency key (sender JID + origin-id or message id + payload digest): an item whose key
    # this owner's archive already holds from about the same time (the same hour or the one
    # before: a resend after a reconnect, a re-import of an export) is not stored again, and the
    # existing id is returned.
    dedup_key: str | None = None


@dataclass(frozen=True)
class ArchivedMessage:
    id: str
    owner: str
    peer: str
    peer_resource: str | None
    direction: Direction
    when: datetime
    stanza: str
    msg_type: str


@dataclass(frozen=True)
class ArchiveQuery:
    """A filter plus a keyset page request. Ids are archive ids as shown to clients.

    The filter (with/start/end/after_id/before_id/ids/fulltext) defines the result set; the page
    (page_after/page_before/last_page, limit) picks a window of it in archive order.
    ``page_after``/``page_before`` need only exist in the owner's archive, not in the filtered set.
    """

    with_bare: str | None = None
    with_resource: str | None = None  # only together with with_bare
    start: datetime | None = None  # inclusive
    end: datetime | None = None  # inclusive
    after_id: str | None = None  # exclusive; must exist (ItemNotFound)
    before_id: str | None = None  # exclusive; must exist (ItemNotFound)
    ids: tuple[str, ...] | None = None  # all must exist (ItemNotFound)
    fulltext: str | None = None  # only if caps.fulltext
    msg_types: frozenset[str] | None = None  # None = any type
    page_after: str | None = None  # RSM <after>: items strictly after this id
    page_before: str | None = None  # RSM <before>id</before>: items strictly before this id
    last_page: bool = False  # RSM empty <before/>: the newest ``limit`` items
    limit: int | None = 20  # None = no limit; 0 = no items (count only)
    want_total: bool = False  # fill ArchivePage.total (may cost a COUNT)


@dataclass(frozen=True)
class ArchivePage:
    items: tuple[ArchivedMessage, ...]  # always oldest first
    # True when no matching item exists beyond this page in the paging direction
    # (after the last item when paging forwards, before the first when paging backwards).
    complete: bool
    total: int | None = None  # size of the whole filtered set, when asked for
    first_index: int | None = None  # position of items[0] in the filtered set, when known


@dataclass(frozen=True)
class ArchiveCaps:
    total: bool = True  # can count a filtered set
    fulltext: bool = False
    wildcard_delete: bool = True  # delete(None, ...) across all owners


@dataclass(frozen=True)
class ArchiveBounds:
    """The metadata query: the first and last message of an archive."""

    first: ArchivedMessage | None
    last: ArchivedMessage | None


@dataclass(frozen=True)
class ArchiveStats:
    owner: str
    count: int
    oldest: datetime | None
    newest: datetime | None
    size_bytes: int  # bytes of stored stanzas


@dataclass(frozen=True)
class DeleteQuery:
    owner: str | None  # None = every owner (expiry)
    with_bare: str | None = None
    before: datetime | None = None  # strictly older than this
    batch_size: int = 1000  # rows per transaction, so other work runs between batches


@runtime_checkable
class ArchiveStore(Protocol):
    caps: ArchiveCaps

    async def append(self, item: NewArchiveItem) -> str:
        """Store one item and return its archive id once it is committed (group commit)."""
        ...

    async def append_many(self, items: Sequence[NewArchiveItem]) -> list[str]: ...
    async def find(self, owner: str, query: ArchiveQuery) -> ArchivePage: ...
    async def get(self, owner: str, archive_id: str) -> ArchivedMessage | None: ...
    async def replace(
        self, owner: str, archive_id: str, *, stanza: str, body: str | None, dedup_key: str | None
    ) -> bool:
        """Rewrite one entry in place (a XEP-0424 tombstone): its stored stanza, full-text body
        and idempotency key change; its id, time, peer and direction stay, so paging across it
        is unchanged (RES-11). The full-text index and the owner's byte count follow, in the
        same transaction. False when ``owner`` has no entry ``archive_id``."""
        ...

    async def bounds(self, owner: str) -> ArchiveBounds: ...
    async def delete(self, query: DeleteQuery) -> int:
        """Delete in batches of ``batch_size``; returns how many rows went."""
        ...

    async def stats(self, owner: str | None) -> list[ArchiveStats]: ...
    async def owners(self) -> list[str]: ...
    async def reclaim_space(self) -> None:
        """Give freed pages back to the file system (SQLite incremental vacuum, PG VACUUM)."""
        ...


@dataclass(frozen=True)
class StoreSet:
    """Everything the storage manager opened, for the core and modules."""

    accounts: AccountStore
    keyval: KeyValueStore
    archive: ArchiveStore
    extra: dict[str, Any] = field(default_factory=dict)
    # What close() runs, in order (the storage manager fills it; hand-built sets need none).
    closers: tuple[Callable[[], Awaitable[None]], ...] = ()

    async def close(self) -> None:
        """Commit every pending write (queued appends included), then release connections."""
        for closer in self.closers:
            await closer()
