"""Checklist 1.10 (ACL): only the owner reads an archive, and failures are errors, not halves."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

from garrulus.core.clock import FakeClock
from garrulus.storage.api import (
    ArchivePage,
    ArchiveQuery,
    ArchiveStore,
    NewArchiveItem,
    StorageError,
)
from tests.harness import Transcript, login, send
from tests.transcript.test_mam_support import (
    MAM,
    archive_of,
    error_of,
    iq,
    query,
    start_server_wrapping_archive,
)


async def test_acl_01_other_users_archive_is_forbidden(tmp_path: Path) -> None:
    a = await archive_of(tmp_path, 3)
    for raw in (
        f"<query xmlns='{MAM}' queryid='peek'/>",
        f"<query xmlns='{MAM}'><set xmlns='http://jabber.org/protocol/rsm'><before/></set><flip-page/></query>",
    ):
        page = await query(a.server, a.bob, raw=raw, to="alice@localhost")
        assert page.results == [] and page.other == []  # nothing leaks
        Transcript().match(
            page.iq,
            """<iq type='error' id='q1' to='bob@localhost/b' from='alice@localhost'>
            <error type='auth'><forbidden xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/>
            <text xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'>*</text></error></iq>""",
        )
    assert a.alice.take() == []  # and the owner is not bothered either
    await a.stop()


async def test_acl_02_missing_account_is_service_unavailable(tmp_path: Path) -> None:
    a = await archive_of(tmp_path, 1)
    for payload in (
        f"<query xmlns='{MAM}'/>",
        f"<prefs xmlns='{MAM}' default='always'/>",
    ):
        reply = await iq(
            a.server, a.alice, f"<iq type='set' id='x' to='nobody@localhost'>{payload}</iq>"
        )
        assert error_of(reply) == ("cancel", "service-unavailable")
    for payload in (
        f"<query xmlns='{MAM}'/>",
        f"<metadata xmlns='{MAM}'/>",
        f"<prefs xmlns='{MAM}'/>",
    ):
        reply = await iq(
            a.server, a.alice, f"<iq type='get' id='x' to='nobody@localhost'>{payload}</iq>"
        )
        assert error_of(reply) == ("cancel", "service-unavailable")
    await a.stop()


async def test_acl_04_form_metadata_prefs_of_others_forbidden(tmp_path: Path) -> None:
    a = await archive_of(tmp_path, 1)
    for iq_type, payload in (
        ("get", f"<query xmlns='{MAM}'/>"),
        ("get", f"<metadata xmlns='{MAM}'/>"),
        ("set", f"<metadata xmlns='{MAM}'/>"),
        ("get", f"<prefs xmlns='{MAM}'/>"),
        ("set", f"<prefs xmlns='{MAM}' default='never'/>"),
    ):
        reply = await iq(
            a.server, a.bob, f"<iq type='{iq_type}' id='x' to='alice@localhost'>{payload}</iq>"
        )
        assert error_of(reply) == ("auth", "forbidden"), payload
        assert "alice@localhost/a" not in "".join(reply.itertext())
    # Bob's attempt changed nothing: Alice still archives everything.
    prefs = await iq(a.server, a.alice, f"<iq type='get' id='p'><prefs xmlns='{MAM}'/></iq>")
    assert prefs.find(f"{{{MAM}}}prefs").get("default") == "always"  # type: ignore[union-attr]
    await a.stop()


class FailingStore:
    """An archive store whose reads fail (as a database gone away would), writes optionally."""

    def __init__(self, inner: ArchiveStore) -> None:
        self._inner = inner
        self.caps = inner.caps
        self.fail_reads = False
        self.fail_writes = False

    async def find(self, owner: str, query: ArchiveQuery) -> ArchivePage:
        if self.fail_reads:
            raise StorageError("database is locked")
        return await self._inner.find(owner, query)

    async def bounds(self, owner: str) -> Any:
        if self.fail_reads:
            raise StorageError("database is locked")
        return await self._inner.bounds(owner)

    async def append(self, item: NewArchiveItem) -> str:
        if self.fail_writes:
            raise StorageError("disk full")
        return await self._inner.append(item)

    async def append_many(self, items: Sequence[NewArchiveItem]) -> list[str]:
        if self.fail_writes:
            raise StorageError("disk full")
        return await self._inner.append_many(items)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


async def test_acl_05_storage_failure_is_internal_server_error(tmp_path: Path) -> None:
    server = await start_server_wrapping_archive(tmp_path, FailingStore)
    store = server.storage.archive
    assert isinstance(store, FailingStore)
    alice = await login(server, "alice@localhost/a")
    bob = await login(server, "bob@localhost/b")
    await send(server, bob, "<message to='alice@localhost' type='chat'><body>kept</body></message>")
    alice.take()
    store.fail_reads = True
    page = await query(server, alice, queryid="x")
    assert page.results == []  # no partial result before the error
    assert page.error() == ("cancel", "internal-server-error")
    reply = await iq(server, alice, f"<iq type='get' id='m'><metadata xmlns='{MAM}'/></iq>")
    assert error_of(reply) == ("cancel", "internal-server-error")
    # The session goes on: once the store is back, so is the archive.
    store.fail_reads = False
    page = await query(server, alice)
    assert page.bodies == ["kept"]
    # A failed write loses the archive entry, never the message: it is still delivered (with
    # no stanza-id, since it has no archive id).
    store.fail_writes = True
    await send(
        server, bob, "<message to='alice@localhost' type='chat' id='w'><body>live</body></message>"
    )
    (got,) = alice.take()
    Transcript().match(
        got,
        """<message to='alice@localhost' type='chat' id='w' from='bob@localhost/b'>
        <body>live</body></message>""",
    )
    await server.stop()


async def test_acl_06_a_flood_of_queries_is_refused_with_resource_constraint(
    tmp_path: Path,
) -> None:
    clock = FakeClock()
    a = await archive_of(
        tmp_path,
        2,
        extra="archive_query_burst = 3\narchive_query_rate = 1.0\n",
        clock=clock,
    )
    carol = await login(a.server, "carol@localhost/c")
    # archive_of's own paging spent one query of Alice's burst: two left, then refusals. Every
    # query gets an answer (none is silently dropped), and a refusal carries no results.
    answers = [await a.query(iq_id=f"f{n}") for n in range(4)]
    assert [p.ok for p in answers] == [True, True, False, False]
    assert all(p.results == [] for p in answers[2:])
    Transcript().match(
        answers[2].iq,
        """<iq type='error' id='f2' to='alice@localhost/a' from='alice@localhost'>
        <error type='wait'><resource-constraint xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/>
        <text xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'>*</text></error></iq>""",
    )
    # The metadata query counts too; another account is not affected.
    meta = await iq(a.server, a.alice, f"<iq type='get' id='m'><metadata xmlns='{MAM}'/></iq>")
    assert error_of(meta) == ("wait", "resource-constraint")
    assert (await query(a.server, carol)).ok
    # One second later one more token has come back.
    clock.advance(timedelta(seconds=1))
    again = await a.query(iq_id="later")
    assert again.ok and len(again.results) == 2
    assert not (await a.query(iq_id="next")).ok
    await a.stop()


async def test_acl_06_a_rate_of_zero_means_no_limit(tmp_path: Path) -> None:
    a = await archive_of(tmp_path, 1, extra="archive_query_burst = 1\narchive_query_rate = 0\n")
    assert all([(await a.query(iq_id=f"n{n}")).ok for n in range(20)])
    await a.stop()
