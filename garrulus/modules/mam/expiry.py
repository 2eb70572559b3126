"""Retention (``archive_expires_after``): delete old messages in bounded batches, give disk back.

One pass per server, not per host: hosts sharing one retention share one ranged delete over the
whole archive; a host with its own retention has its owners' archives trimmed one by one.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from garrulus.storage.api import ArchiveStore, DeleteQuery

if TYPE_CHECKING:
    from garrulus.core.server import Server

log = logging.getLogger("garrulus.mam.expiry")

Progress = Callable[[int], None]


def retention_by_host(server: Server) -> dict[str, timedelta | None]:
    return {
        name: server.config.get("archive_expires_after", name)
        for name, host in server.hosts.items()
        if "mam" in host.modules
    }


async def expire(
    server: Server,
    now: datetime | None = None,
    *,
    batch_size: int = 1000,
    progress: Progress | None = None,
) -> int:
    """Delete every archived message older than its host's retention; returns how many went."""
    now = now or server.clock.now()
    store = server.storage.archive
    retention = retention_by_host(server)
    kept = set(retention.values())
    deleted = 0
    if len(kept) == 1 and len(retention) == len(server.hosts):
        (period,) = kept
        if period is not None:
            deleted = await _delete(
                store, DeleteQuery(None, before=now - period, batch_size=batch_size), progress
            )
    else:
        owners = await store.owners()
        for owner in owners:
            domain = owner.rsplit("@", 1)[-1]
            period = retention.get(domain)
            if period is None:
                continue
            deleted += await _delete(
                store, DeleteQuery(owner, before=now - period, batch_size=batch_size), progress
            )
    if deleted:
        await store.reclaim_space()
    log.info("archive expiry removed %d messages", deleted)
    return deleted


async def _delete(store: ArchiveStore, query: DeleteQuery, progress: Progress | None) -> int:
    # The store deletes batch by batch, each batch its own short transaction, so the server
    # keeps serving in between.
    gone = await store.delete(query)
    if progress is not None and gone:
        progress(gone)
    return gone
