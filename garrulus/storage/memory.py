"""In-memory stores: the reference semantics of the contract, fast enough for tests.

Nothing survives the process. Values go through JSON (key-value) and ids through the same
:class:`IdGenerator` as the SQL backend, so what passes here behaves the same there.
"""

from __future__ import annotations

import dataclasses
import json
from bisect import bisect_left, bisect_right, insort
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from garrulus.storage.api import (
    Account,
    ArchiveBounds,
    ArchiveCaps,
    ArchivedMessage,
    ArchivePage,
    ArchiveQuery,
    ArchiveStats,
    Conflict,
    DeleteQuery,
    ItemNotFound,
    NewArchiveItem,
    ScramCredentials,
)
from garrulus.storage.archive_query import QueryPlan, first_missing, fulltext_words, plan_query
from garrulus.storage.ids import IdGenerator, decode_id, encode_id, id_floor, id_time

# ---------------------------------------------------------------- accounts


class MemoryAccountStore:
    def __init__(self) -> None:
        self._accounts: dict[tuple[str, str], Account] = {}

    async def get(self, host: str, username: str) -> Account | None:
        return self._accounts.get((host, username))

    async def create(self, account: Account) -> None:
        key = (account.host, account.username)
        if key in self._accounts:
            raise Conflict(f"account {account.username}@{account.host} exists")
        self._accounts[key] = account

    async def set_credentials(
        self, host: str, username: str, credentials: Sequence[ScramCredentials]
    ) -> bool:
        account = self._accounts.get((host, username))
        if account is None:
            return False
        self._accounts[host, username] = Account(
            account.username, account.host, tuple(credentials), account.created
        )
        return True

    async def delete(self, host: str, username: str) -> bool:
        return self._accounts.pop((host, username), None) is not None

    async def list(self, host: str) -> list[str]:
        return sorted(user for (h, user) in self._accounts if h == host)


# ---------------------------------------------------------------- key-value


class MemoryKeyValueStore:
    def __init__(self) -> None:
        # Stored as JSON text so callers can't alias stored values, and non-JSON fails here too.
        self._values: dict[tuple[str, str], dict[str, str]] = {}

    async def get(self, host: str, owner: str, key: str) -> Any | None:
        text = self._values.get((host, owner), {}).get(key)
        return None if text is None else json.loads(text)

    async def set(self, host: str, owner: str, key: str, value: Any) -> None:
        self._values.setdefault((host, owner), {})[key] = json.dumps(value)

    async def delete(self, host: str, owner: str, key: str) -> None:
        self._values.get((host, owner), {}).pop(key, None)

    async def items(self, host: str, owner: str) -> dict[str, Any]:
        return {k: json.loads(v) for k, v in self._values.get((host, owner), {}).items()}

    async def delete_owner(self, host: str, owner: str) -> int:
        return len(self._values.pop((host, owner), {}))


# ---------------------------------------------------------------- archive


@dataclass(frozen=True)
class _Row:
    item: NewArchiveItem
    size: int  # bytes of the stanza, for stats


@dataclass
class _OwnerArchive:
    ids: list[int] = field(default_factory=list)  # sorted
    rows: dict[int, _Row] = field(default_factory=dict)
    dedup: dict[str, int] = field(default_factory=dict)
    size: int = 0


def _matches(plan: QueryPlan, archive_id: int, item: NewArchiveItem) -> bool:
    if plan.with_bare is not None and item.peer != plan.with_bare:
        return False
    if plan.with_resource is not None and item.peer_resource != plan.with_resource:
        return False
    if plan.ids is not None and archive_id not in plan.ids:
        return False
    if plan.msg_types is not None and item.msg_type not in plan.msg_types:
        return False
    if plan.words:
        body_words = set(fulltext_words(item.body or ""))
        if not body_words.issuperset(plan.words):
            return False
    return True


class MemoryArchiveStore:
    caps = ArchiveCaps(total=True, fulltext=True, wildcard_delete=True)

    def __init__(self, ids: IdGenerator | None = None) -> None:
        self._ids = ids or IdGenerator()
        self._archives: dict[str, _OwnerArchive] = {}

    async def append(self, item: NewArchiveItem) -> str:
        return self._append(item)

    async def append_many(self, items: Sequence[NewArchiveItem]) -> list[str]:
        return [self._append(item) for item in items]

    def _append(self, item: NewArchiveItem) -> str:
        archive = self._archives.setdefault(item.owner, _OwnerArchive())
        if item.dedup_key is not None and item.dedup_key in archive.dedup:
            return encode_id(archive.dedup[item.dedup_key])
        archive_id = self._ids.id_for(item.when)
        while archive_id in archive.rows:  # only an import into a used millisecond can collide
            archive_id = self._ids.id_at(id_time(archive_id))
        row = _Row(item, len(item.stanza.encode()))
        insort(archive.ids, archive_id)
        archive.rows[archive_id] = row
        archive.size += row.size
        if item.dedup_key is not None:
            archive.dedup[item.dedup_key] = archive_id
        return encode_id(archive_id)

    async def find(self, owner: str, query: ArchiveQuery) -> ArchivePage:
        plan = plan_query(query)
        archive = self._archives.get(owner, _OwnerArchive())
        missing = first_missing(plan, archive.rows.keys() & {v for _, v in plan.references})
        if missing is not None:
            raise ItemNotFound(missing)
        matches: list[int] = []
        if not plan.matches_nothing:
            start = bisect_left(archive.ids, plan.lo)
            stop = bisect_right(archive.ids, plan.hi)
            rows = archive.rows
            matches = [i for i in archive.ids[start:stop] if _matches(plan, i, rows[i].item)]
        page_lo, page_hi = plan.page_lo, plan.page_hi
        window = matches[bisect_left(matches, page_lo) : bisect_right(matches, page_hi)]
        if plan.limit is None:
            chosen, complete = window, True
        elif plan.backward:
            chosen = window[max(0, len(window) - plan.limit) :] if plan.limit else []
            complete = len(window) <= plan.limit
        else:
            chosen, complete = window[: plan.limit], len(window) <= plan.limit
        return ArchivePage(
            items=tuple(self._message(owner, i, archive.rows[i]) for i in chosen),
            complete=complete,
            total=len(matches) if plan.want_total else None,
            first_index=bisect_left(matches, chosen[0]) if chosen else None,
        )

    @staticmethod
    def _message(owner: str, archive_id: int, row: _Row) -> ArchivedMessage:
        item = row.item
        return ArchivedMessage(
            id=encode_id(archive_id),
            owner=owner,
            peer=item.peer,
            peer_resource=item.peer_resource,
            direction=item.direction,
            when=id_time(archive_id),
            stanza=item.stanza,
            msg_type=item.msg_type,
        )

    async def get(self, owner: str, archive_id: str) -> ArchivedMessage | None:
        try:
            page = await self.find(owner, ArchiveQuery(ids=(archive_id,), limit=1))
        except ItemNotFound:
            return None
        return page.items[0]

    async def replace(
        self, owner: str, archive_id: str, *, stanza: str, body: str | None, dedup_key: str | None
    ) -> bool:
        archive = self._archives.get(owner)
        value = decode_id(archive_id)
        row = None if archive is None or value is None else archive.rows.get(value)
        if archive is None or value is None or row is None:
            return False
        item = dataclasses.replace(row.item, stanza=stanza, body=body, dedup_key=dedup_key)
        new_row = _Row(item, len(stanza.encode()))
        archive.rows[value] = new_row
        archive.size += new_row.size - row.size
        old_key = row.item.dedup_key
        if old_key is not None and archive.dedup.get(old_key) == value:
            del archive.dedup[old_key]
        if dedup_key is not None:
            archive.dedup[dedup_key] = value
        return True

    async def bounds(self, owner: str) -> ArchiveBounds:
        archive = self._archives.get(owner)
        if archive is None or not archive.ids:
            return ArchiveBounds(None, None)
        first, last = archive.ids[0], archive.ids[-1]
        return ArchiveBounds(
            self._message(owner, first, archive.rows[first]),
            self._message(owner, last, archive.rows[last]),
        )

    async def delete(self, query: DeleteQuery) -> int:
        owners = list(self._archives) if query.owner is None else [query.owner]
        hi = id_floor(query.before) if query.before is not None else None
        deleted = 0
        for owner in owners:
            archive = self._archives.get(owner)
            if archive is None:
                continue
            stop = len(archive.ids) if hi is None else bisect_left(archive.ids, hi)
            gone = [
                i
                for i in archive.ids[:stop]
                if query.with_bare is None or archive.rows[i].item.peer == query.with_bare
            ]
            if not gone:
                continue
            gone_set = set(gone)
            archive.ids = [i for i in archive.ids if i not in gone_set]
            for i in gone:
                row = archive.rows.pop(i)
                archive.size -= row.size
                if row.item.dedup_key is not None:
                    archive.dedup.pop(row.item.dedup_key, None)
            if not archive.ids:
                del self._archives[owner]
            deleted += len(gone)
        return deleted

    async def stats(self, owner: str | None) -> list[ArchiveStats]:
        owners = sorted(self._archives) if owner is None else [owner]
        out = []
        for name in owners:
            archive = self._archives.get(name)
            if archive is None or not archive.ids:
                out.append(ArchiveStats(name, 0, None, None, 0))
                continue
            out.append(
                ArchiveStats(
                    owner=name,
                    count=len(archive.ids),
                    oldest=id_time(archive.ids[0]),
                    newest=id_time(archive.ids[-1]),
                    size_bytes=archive.size,
                )
            )
        return out

    async def owners(self) -> list[str]:
        return sorted(owner for owner, archive in self._archives.items() if archive.ids)

    async def reclaim_space(self) -> None:
        return None

    async def close(self) -> None:
        return None
