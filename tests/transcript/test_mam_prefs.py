"""Checklist 1.15 (PRF): XEP-0441 preferences, set and get, and their effect on archiving."""

from __future__ import annotations

from pathlib import Path

import pytest

from garrulus.core.server import Server
from tests.harness import FakeSession, Transcript, login, start_server
from tests.transcript.test_mam_support import MODULES, chat, error_of, iq, query

PREFS_NS = "urn:xmpp:mam:2"


def prefs_xml(default: str | None, always: list[str] | None, never: list[str] | None) -> str:
    def jids(local: str, items: list[str] | None) -> str:
        if items is None:
            return ""
        return f"<{local}>" + "".join(f"<jid>{j}</jid>" for j in items) + f"</{local}>"

    attr = f" default='{default}'" if default is not None else ""
    return f"<prefs xmlns='{PREFS_NS}'{attr}>{jids('always', always)}{jids('never', never)}</prefs>"


async def set_prefs(
    server: Server,
    session: FakeSession,
    default: str | None,
    always: list[str] | None = None,
    never: list[str] | None = None,
) -> object:
    return await iq(
        server, session, f"<iq type='set' id='p1'>{prefs_xml(default, always, never)}</iq>"
    )


async def get_prefs(server: Server, session: FakeSession) -> object:
    return await iq(server, session, f"<iq type='get' id='p2'><prefs xmlns='{PREFS_NS}'/></iq>")


async def add_to_roster(server: Server, session: FakeSession, jid: str) -> None:
    """A roster item with no subscription (PRF-08: any item counts)."""
    reply = await iq(
        server,
        session,
        f"<iq type='set' id='r'><query xmlns='jabber:iq:roster'><item jid='{jid}'/></query></iq>",
    )
    assert reply.get("type") == "result"


async def users(
    tmp_path: Path, extra: str = "", modules: list[str] = MODULES
) -> tuple[Server, FakeSession, FakeSession, FakeSession]:
    server = await start_server(tmp_path, modules, extra)
    alice = await login(server, "alice@localhost/a")
    bob = await login(server, "bob@localhost/b")
    kate = await login(server, "kate@localhost/k")
    return server, alice, bob, kate


# ---------------------------------------------------------------- get / set


async def test_prf_01_get_default_prefs(tmp_path: Path) -> None:
    server, alice, _, _ = await users(tmp_path)
    Transcript().match(
        await get_prefs(server, alice),  # type: ignore[arg-type]
        """<iq type='result' id='p2' to='alice@localhost/a' from='alice@localhost'>
        <prefs xmlns='urn:xmpp:mam:2' default='always'><always/><never/></prefs></iq>""",
    )
    await server.stop()


async def test_prf_02_set_returns_applied_and_get_agrees(tmp_path: Path) -> None:
    server, alice, _, _ = await users(tmp_path)
    reply = await set_prefs(server, alice, "roster", ["bob@localhost"], ["kate@localhost", "x@y/z"])
    expected = """<iq type='result' id='{iq}' to='alice@localhost/a' from='alice@localhost'>
        <prefs xmlns='urn:xmpp:mam:2' default='roster'>
          <always><jid>bob@localhost</jid></always>
          <never><jid>kate@localhost</jid><jid>x@y/z</jid></never>
        </prefs></iq>"""
    Transcript().match(reply, expected.replace("{iq}", "p1"))  # type: ignore[arg-type]
    Transcript().match(await get_prefs(server, alice), expected.replace("{iq}", "p2"))  # type: ignore[arg-type]
    # Every default x empty/non-empty lists round-trips (ejabberd's get_set_prefs).
    for default in ("always", "never", "roster"):
        for always in ([], ["bob@localhost"]):
            for never in ([], ["kate@localhost"]):
                await set_prefs(server, alice, default, always, never)
                got = await get_prefs(server, alice)
                prefs = got.find(f"{{{PREFS_NS}}}prefs")  # type: ignore[attr-defined]
                assert prefs.get("default") == default
                assert [
                    j.text for j in prefs.iter(f"{{{PREFS_NS}}}jid") if j is not None
                ] == always + never
    await server.stop()


async def test_prf_03_missing_lists_are_empty(tmp_path: Path) -> None:
    server, alice, _, _ = await users(tmp_path)
    await set_prefs(server, alice, "never", ["bob@localhost"], ["kate@localhost"])
    reply = await set_prefs(server, alice, "always")  # Monal sends only this
    Transcript().match(
        reply,  # type: ignore[arg-type]
        """<iq type='result' id='p1' to='alice@localhost/a' from='alice@localhost'>
        <prefs xmlns='urn:xmpp:mam:2' default='always'><always/><never/></prefs></iq>""",
    )
    await server.stop()


async def test_prf_04_missing_or_invalid_default_is_bad_request(tmp_path: Path) -> None:
    server, alice, _, _ = await users(tmp_path)
    for default in (None, "sometimes", ""):
        reply = await set_prefs(server, alice, default, [], [])
        assert error_of(reply) == ("modify", "bad-request"), default  # type: ignore[arg-type]
    # Nothing changed.
    got = await get_prefs(server, alice)
    assert got.find(f"{{{PREFS_NS}}}prefs").get("default") == "always"  # type: ignore[attr-defined]
    await server.stop()


async def test_prf_05_jids_normalised_invalid_dropped_whitespace_ok(tmp_path: Path) -> None:
    server, alice, _, _ = await users(tmp_path)
    reply = await iq(
        server,
        alice,
        f"""<iq type='set' id='p1'><prefs xmlns='{PREFS_NS}' default='roster'>
          <always>
            <jid>JULIET@MONTAGUE.LIT</jid>
            <jid> romeo@montague.lit/Balcony </jid>
            <jid>@invalid</jid>
          </always>
          <never>
            <jid>a@b@c</jid>
          </never>
        </prefs></iq>""",
    )
    Transcript().match(
        reply,
        """<iq type='result' id='p1' to='alice@localhost/a' from='alice@localhost'>
        <prefs xmlns='urn:xmpp:mam:2' default='roster'>
          <always><jid>juliet@montague.lit</jid><jid>romeo@montague.lit/Balcony</jid></always>
          <never/>
        </prefs></iq>""",
    )
    await server.stop()


# ---------------------------------------------------------------- effect on archiving


async def exchange(
    server: Server, alice: FakeSession, bob: FakeSession, kate: FakeSession, tag: str
) -> None:
    """M's four messages: Bob->Alice, Alice->Bob, Kate->Alice, Alice->Kate."""
    await chat(server, bob, "alice@localhost", f"{tag} 1")
    await chat(server, alice, "bob@localhost", f"{tag} 2")
    await chat(server, kate, "alice@localhost", f"{tag} 3")
    await chat(server, alice, "kate@localhost", f"{tag} 4")


async def test_prf_06_full_jid_entry_matches_only_that_resource(tmp_path: Path) -> None:
    server, alice, bob, _ = await users(tmp_path)
    bob2 = await login(server, "bob@localhost/r2")
    await set_prefs(server, alice, "always", [], ["bob@localhost/b"])
    await chat(server, bob, "alice@localhost", "from b")  # incoming: matched on 'from'
    await chat(server, bob2, "alice@localhost", "from r2")
    await chat(server, alice, "bob@localhost/b", "to b")  # outgoing: matched on 'to'
    await chat(server, alice, "bob@localhost/r2", "to r2")
    await chat(server, alice, "bob@localhost", "to bare")
    assert (await query(server, alice)).bodies == ["from r2", "to r2", "to bare"]
    # A bare entry matches every resource.
    await set_prefs(server, alice, "always", [], ["bob@localhost"])
    await chat(server, bob2, "alice@localhost", "r2 again")
    await chat(server, alice, "bob@localhost/r2", "to r2 again")
    assert len((await query(server, alice)).bodies) == 3
    await server.stop()


# M's prefs_cases2(): Bob is in Alice's roster, Kate is not; expected archived state of
# [Bob->Alice, Alice->Bob, Kate->Alice, Alice->Kate].
PREFS_CASES: list[tuple[str, list[str], list[str], list[bool]]] = [
    ("roster", [], [], [True, True, False, False]),
    ("roster", ["bob"], [], [True, True, False, False]),
    ("roster", ["kate"], [], [True, True, True, True]),
    ("roster", ["kate", "bob"], [], [True, True, True, True]),
    ("roster", [], ["bob"], [False, False, False, False]),
    ("roster", [], ["kate"], [True, True, False, False]),
    ("roster", [], ["bob", "kate"], [False, False, False, False]),
    ("never", [], [], [False, False, False, False]),
    ("never", ["bob"], [], [True, True, False, False]),
    ("never", ["kate"], [], [False, False, True, True]),
    ("never", ["kate", "bob"], [], [True, True, True, True]),
    ("never", [], ["bob"], [False, False, False, False]),
    ("never", [], ["kate"], [False, False, False, False]),
    ("never", [], ["bob", "kate"], [False, False, False, False]),
    ("always", [], [], [True, True, True, True]),
    ("always", ["bob"], [], [True, True, True, True]),
    ("always", ["kate"], [], [True, True, True, True]),
    ("always", ["kate", "bob"], [], [True, True, True, True]),
    ("always", [], ["bob"], [False, False, True, True]),
    ("always", [], ["kate"], [True, True, False, False]),
    ("always", [], ["bob", "kate"], [False, False, False, False]),
]


async def test_prf_07_mongooseim_prefs_matrix(tmp_path: Path) -> None:
    server, alice, bob, kate = await users(tmp_path, modules=["disco", "roster", "mam"])
    await add_to_roster(server, alice, "bob@localhost")
    expected: list[str] = []
    for n, (default, always, never, archived) in enumerate(PREFS_CASES):
        reply = await set_prefs(
            server,
            alice,
            default,
            [f"{u}@localhost" for u in always],
            [f"{u}@localhost" for u in never],
        )
        assert reply.get("type") == "result"  # type: ignore[attr-defined]
        await exchange(server, alice, bob, kate, f"case{n}")
        expected += [f"case{n} {k}" for k, keep in enumerate(archived, start=1) if keep]
    got: list[str] = []
    after: str | None = None
    while True:
        rsm = "<set xmlns='http://jabber.org/protocol/rsm'><max>50</max>"
        rsm += (f"<after>{after}</after>" if after else "") + "</set>"
        page = await query(server, alice, rsm=rsm)
        got += page.bodies
        if page.complete:
            break
        after = page.last
    assert got == expected
    await server.stop()


async def test_prf_07_roster_default_without_roster_archives_only_always(tmp_path: Path) -> None:
    server, alice, bob, kate = await users(tmp_path)
    await set_prefs(server, alice, "roster", ["kate@localhost"], [])
    await exchange(server, alice, bob, kate, "x")
    assert (await query(server, alice)).bodies == ["x 3", "x 4"]
    await server.stop()


async def test_prf_08_any_roster_item_counts(tmp_path: Path) -> None:
    # The roster policy asks whether the contact is in the roster at all: an item added by a
    # roster set, with no subscription either way, counts. (test_mam_im.py has the same with
    # the whole IM stack loaded.)
    server, alice, bob, kate = await users(tmp_path, modules=["disco", "roster", "mam"])
    await add_to_roster(server, alice, "kate@localhost")
    await set_prefs(server, alice, "roster")
    await exchange(server, alice, bob, kate, "y")
    assert (await query(server, alice)).bodies == ["y 3", "y 4"]
    await server.stop()


async def test_prf_09_both_lists_never_wins(tmp_path: Path) -> None:
    server, alice, bob, kate = await users(tmp_path)
    await set_prefs(server, alice, "always", ["bob@localhost"], ["bob@localhost"])
    await exchange(server, alice, bob, kate, "z")
    assert (await query(server, alice)).bodies == ["z 3", "z 4"]
    await server.stop()


async def test_prf_11_prefs_never_delete_or_reveal(tmp_path: Path) -> None:
    server, alice, bob, kate = await users(tmp_path)
    await exchange(server, alice, bob, kate, "before")
    await set_prefs(server, alice, "never")
    await exchange(server, alice, bob, kate, "during")
    await set_prefs(server, alice, "always")
    await exchange(server, alice, bob, kate, "after")
    bodies = (await query(server, alice)).bodies
    assert bodies == [f"before {k}" for k in range(1, 5)] + [f"after {k}" for k in range(1, 5)]
    await server.stop()


@pytest.mark.parametrize("smart", [False, True])
async def test_prf_12_activate_on_first_use(tmp_path: Path, smart: bool) -> None:
    extra = "mam_smart_enable = true" if smart else ""
    server, alice, bob, kate = await users(tmp_path, extra)
    await exchange(server, alice, bob, kate, "early")
    first = await query(server, alice)  # the first use
    await exchange(server, alice, bob, kate, "later")
    second = await query(server, alice)
    if smart:
        assert first.bodies == []
        assert second.bodies == [f"later {k}" for k in range(1, 5)]
        # Kate had never used hers: nothing was kept for her, in either direction.
        assert (await query(server, kate)).bodies == []
    else:
        assert first.bodies == [f"early {k}" for k in range(1, 5)]
        assert len(second.bodies) == 8
    # Reading or setting prefs is a use too.
    fresh = await login(server, "dora@localhost/d")
    await get_prefs(server, fresh)
    await chat(server, bob, "dora@localhost", "hi dora")
    assert (await query(server, fresh)).bodies == ["hi dora"]
    await server.stop()
