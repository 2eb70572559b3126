"""Checklist 1.19 (RTN): retention (``archive_expires_after``) with an injected clock, and
deletion with the account. Expiry runs through ``garrulus.modules.mam.expiry.expire``, as the
module's timer does."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from garrulus.core.clock import FakeClock
from garrulus.modules.mam.expiry import expire
from tests.harness import login, start_server
from tests.transcript.test_mam_support import MAM, MODULES, archive_of, chat, iq, query, rsm_set

T0 = datetime(2026, 2, 1, 8, 0, 0, tzinfo=UTC)


@pytest.mark.parametrize("sql", [False, True], ids=["memory", "sqlite"])
async def test_rtn_01_expiry_removes_only_the_oldest(tmp_path: Path, sql: bool) -> None:
    clock = FakeClock(T0)
    # One message every 12 hours for 10 days: messages 1..20.
    a = await archive_of(tmp_path, 20, clock=clock, step=timedelta(hours=12), sql=sql)
    old_ids = list(a.ids)
    # Now is T0 + 10 days; a week's retention keeps what is not older than T0 + 3 days, i.e.
    # messages 7..20 (message k was sent at (k-1) * 12 hours).
    assert await expire(a.server, batch_size=4) == 6 * 2  # Alice's and Bob's copies
    page = await a.query(rsm=rsm_set(max=50))
    assert page.bodies == [str(k) for k in range(7, 21)]
    assert page.ids == old_ids[6:]  # no holes, ids unchanged
    assert page.complete and page.count == 14 and page.first_index == 0
    # Running it again removes nothing more.
    assert await expire(a.server) == 0
    await a.stop()


async def test_rtn_03_ids_of_expired_messages_are_item_not_found(tmp_path: Path) -> None:
    clock = FakeClock(T0)
    a = await archive_of(tmp_path, 4, clock=clock, step=timedelta(days=3))
    clock.set(T0 + timedelta(days=11))  # messages 1 and 2 (days 0 and 3) go; 3 and 4 stay
    assert await expire(a.server) == 4
    gone = a.id(1)
    for kwargs in (
        {"rsm": rsm_set(after=gone)},
        {"rsm": rsm_set(before=gone, max=5)},
        {"form": {"after-id": gone}},
        {"form": {"before-id": gone}},
        {"form": {"ids": [a.id(3), gone]}},
    ):
        page = await a.query(**kwargs)
        assert page.results == []
        assert page.error() == ("cancel", "item-not-found"), kwargs
    # Gajim's recovery: restart from a timestamp.
    page = await a.query(form={"start": "2026-02-01T00:00:00Z"})
    assert page.bodies == ["3", "4"]
    await a.stop()


async def test_rtn_04_default_is_a_week_with_an_exact_cut(tmp_path: Path) -> None:
    clock = FakeClock(T0)
    a = await archive_of(tmp_path, 3, clock=clock, step=timedelta(milliseconds=1))
    # Messages at T0, T0+1ms, T0+2ms. Exactly a week after message 2: message 1 is older than
    # the cut and goes; message 2 sits on it and stays.
    clock.set(T0 + timedelta(weeks=1, milliseconds=1))
    assert await expire(a.server) == 2
    assert (await a.query()).bodies == ["2", "3"]
    await a.stop()


async def test_rtn_04_never_keeps_everything(tmp_path: Path) -> None:
    clock = FakeClock(T0)
    a = await archive_of(tmp_path, 3, clock=clock, extra='archive_expires_after = "never"')
    clock.advance(timedelta(days=3650))
    assert await expire(a.server) == 0
    assert len((await a.query()).results) == 3
    await a.stop()


async def test_rtn_04_per_host_retention(tmp_path: Path) -> None:
    # A host with its own retention: archives are trimmed owner by owner, each by its host's.
    clock = FakeClock(T0)
    extra = '[virtualhosts."keep.test"]\narchive_expires_after = "never"\n'
    server = await start_server(tmp_path, MODULES, extra, clock=clock)
    alice = await login(server, "alice@localhost/a")
    kim = await login(server, "kim@keep.test/k")
    kat = await login(server, "kat@keep.test/k")
    await chat(server, kat, "kim@keep.test", "kept")
    await chat(server, alice, "alice@localhost", "expires")
    clock.advance(timedelta(days=30))
    assert await expire(server) == 1
    assert (await query(server, kim)).bodies == ["kept"]
    assert (await query(server, kat)).bodies == ["kept"]
    assert (await query(server, alice)).bodies == []
    await server.stop()


async def test_rtn_05_account_deletion_removes_archive_and_prefs(tmp_path: Path) -> None:
    a = await archive_of(tmp_path, 3)
    await iq(
        a.server, a.alice, f"<iq type='set' id='p'><prefs xmlns='{MAM}' default='never'/></iq>"
    )
    await a.server.accounts.delete("alice@localhost")
    assert a.alice.was_closed
    (stats,) = await a.server.storage.archive.stats("alice@localhost")
    assert stats.count == 0
    # Bob's archive is his own and stays.
    assert len((await query(a.server, a.bob)).results) == 3
    # A new account of the same name starts empty, with the default prefs.
    again = await login(a.server, "alice@localhost/new")
    assert (await query(a.server, again)).results == []
    prefs = await iq(a.server, again, f"<iq type='get' id='p'><prefs xmlns='{MAM}'/></iq>")
    assert prefs.find(f"{{{MAM}}}prefs").get("default") == "always"  # type: ignore[union-attr]
    await chat(a.server, a.bob, "alice@localhost", "welcome back")
    assert (await query(a.server, again)).bodies == ["welcome back"]
    await a.stop()
