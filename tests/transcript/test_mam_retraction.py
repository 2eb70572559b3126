"""Checklist 1.17 (RET), RES-11 and DSC-08: XEP-0424 retractions turn the original into a tombstone.

Alice and Bob talk on one server; each test looks at both archives (the sender's and the local
recipient's), on the memory store and on SQLite, with a clock that moves only when told to so
stamps can be compared.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from xml.etree.ElementTree import Element

import pytest

from garrulus.core.clock import FakeClock
from garrulus.core.config import DEFAULT_CONFIG_PATH, ConfigError, load_config
from garrulus.core.core_options import CORE_OPTIONS
from garrulus.core.modules import known_option_sets
from garrulus.core.server import Server
from garrulus.modules.mam import OPTIONS, retraction
from garrulus.storage.api import ArchiveQuery, ArchiveStore, StorageError
from garrulus.xmpp.datetime import format_datetime
from tests.harness import FakeSession, Transcript, login, send, start_server
from tests.transcript.test_mam_support import (
    DELAY,
    FWD,
    MAM,
    MODULES,
    Page,
    q,
    query,
    rsm_set,
    start_server_wrapping_archive,
    start_sql_server,
    xml,
)

RETRACT_NS = "urn:xmpp:message-retract:1"
SID = "urn:xmpp:sid:0"
FULLTEXT = "{urn:xmpp:fulltext:0}fulltext"
START = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
ALICE = "alice@localhost"
BOB = "bob@localhost"


@dataclass
class Chat:
    server: Server
    clock: FakeClock
    alice: FakeSession
    bob: FakeSession
    t: Transcript = field(default_factory=Transcript)

    async def say(
        self, sender: FakeSession, to: str, msg_id: str, body: str, extra: str = ""
    ) -> None:
        self.clock.advance(timedelta(seconds=1))
        await send(
            self.server,
            sender,
            f"<message to='{to}' type='chat' id='{msg_id}'><body>{body}</body>{extra}</message>",
        )
        self.drain()

    async def retract(self, sender: FakeSession, to: str, msg_id: str | None, target: str) -> None:
        """The retraction as XEP-0424 shows it: fallback body and <store/> hint."""
        self.clock.advance(timedelta(minutes=5))
        id_attr = "" if msg_id is None else f" id='{msg_id}'"
        await send(
            self.server,
            sender,
            f"<message to='{to}' type='chat'{id_attr}>"
            f"<retract xmlns='{RETRACT_NS}' id='{target}'/>"
            f"<fallback xmlns='urn:xmpp:fallback:0' for='{RETRACT_NS}'/>"
            "<body>/me retracted a previous message, but it's unsupported by your client.</body>"
            "<store xmlns='urn:xmpp:hints'/></message>",
        )
        self.drain()

    def drain(self) -> None:
        self.alice.take()
        self.bob.take()

    async def page(self, session: FakeSession, **kwargs: Any) -> Page:
        if "rsm" not in kwargs:
            kwargs["rsm"] = rsm_set(max=50)
        page = await query(self.server, session, **kwargs)
        assert page.ok, xml(page.iq)
        return page

    async def stored(self, owner: str) -> list[str]:
        """Owner's stored stanzas, oldest first, as the store holds them."""
        found = await self.server.storage.archive.find(owner, ArchiveQuery(limit=None))
        return [m.stanza for m in found.items]


def stamps(page: Page) -> list[str]:
    out = []
    for result in page.results:
        delay = result.find(f"{q(MAM, 'result')}/{q(FWD, 'forwarded')}/{q(DELAY, 'delay')}")
        assert delay is not None
        out.append(delay.get("stamp", ""))
    return out


def ids_attr(page: Page) -> list[str]:
    """The ``id`` attribute of each archived message (the client's message id)."""
    return [page.inner(i).get("id", "") for i in range(len(page.results))]


def retracted(message: Element) -> Element | None:
    return message.find(q(RETRACT_NS, "retracted"))


async def open_chat(tmp_path: Path, backend: str, extra: str = "") -> Chat:
    clock = FakeClock(START)
    starter = start_sql_server if backend == "sql" else start_server
    server = await starter(tmp_path, MODULES, extra, clock)
    alice = await login(server, f"{ALICE}/a")
    bob = await login(server, f"{BOB}/b")
    return Chat(server, clock, alice, bob)


@pytest.fixture(params=["memory", "sql"])
async def chat(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Chat]:
    opened = await open_chat(tmp_path, request.param)
    yield opened
    await opened.server.stop()


# ---------------------------------------------------------------- RET-02: the tombstone


async def test_ret_02_tombstone_in_the_originals_place_then_the_retraction(chat: Chat) -> None:
    origin = "<origin-id xmlns='urn:xmpp:sid:0' id='orig'/>"
    await chat.say(chat.alice, BOB, "m0", "good morning")
    await chat.say(chat.alice, BOB, "orig", "the secret plans", origin)
    await chat.say(chat.bob, ALICE, "m2", "what plans?")
    before = {name: await chat.page(s) for name, s in (("alice", chat.alice), ("bob", chat.bob))}
    await chat.retract(chat.alice, BOB, "r1", "orig")
    when = format_datetime(chat.clock.now())

    for name, session in (("alice", chat.alice), ("bob", chat.bob)):
        owner = f"{name}@localhost"
        page = await chat.page(session)
        old = before[name]
        # Same archive ids and delay stamps in the same order, the retraction after them.
        assert page.ids[:3] == old.ids and len(page.ids) == 4
        assert stamps(page)[:3] == stamps(old) and stamps(page)[3] == when
        assert ids_attr(page) == ["m0", "orig", "m2", "r1"]
        assert page.bodies[0] == "good morning" and page.bodies[2] == "what plans?"
        chat.t.match(
            page.inner(1),
            f"""<message from='alice@localhost/a' to='{BOB}' type='chat' id='orig'>
              <retracted xmlns='{RETRACT_NS}' id='r1' stamp='{when}'/>
              <stanza-id xmlns='urn:xmpp:sid:0' by='{owner}' id='{old.ids[1]}'/>
            </message>""",
        )
        retract = page.inner(3).find(q(RETRACT_NS, "retract"))
        assert retract is not None and retract.get("id") == "orig"  # RET-01: still archived
        # The retracted words are gone from full-text search; the retraction's own are there.
        assert (await chat.page(session, form={FULLTEXT: "secret"})).ids == []
        assert (await chat.page(session, form={FULLTEXT: "plans"})).bodies == ["what plans?"]
        assert (await chat.page(session, form={FULLTEXT: "retracted"})).ids == [page.ids[3]]
        # The stored form is exactly the original's attributes around <retracted/>.
        assert (await chat.stored(owner))[1] == (
            f"<message xmlns='jabber:client' to='{BOB}' type='chat' id='orig'"
            " from='alice@localhost/a'>"
            f"<retracted xmlns='{RETRACT_NS}' id='r1' stamp='{when}'/></message>"
        )


async def test_ret_02_retracting_twice_changes_nothing_more(chat: Chat) -> None:
    await chat.say(chat.bob, ALICE, "orig", "oops")
    await chat.retract(chat.bob, ALICE, "r1", "orig")
    first = {owner: await chat.stored(owner) for owner in (ALICE, BOB)}
    # The same retraction resent, and a second retraction of the (now) tombstone.
    await chat.retract(chat.bob, ALICE, "r2", "orig")
    for owner in (ALICE, BOB):
        now = await chat.stored(owner)
        assert now[:2] == first[owner][:2], owner
        assert len(now) == 3 and "id='r2'" in now[2]
        assert f"<retracted xmlns='{RETRACT_NS}' id='r1'" in now[0]


async def test_ret_02_retraction_without_an_id_of_its_own_keeps_the_original(chat: Chat) -> None:
    # The tombstone MUST name the retraction's id; without one it cannot, so nothing changes
    # (the retraction itself is archived all the same).
    await chat.say(chat.bob, ALICE, "orig", "keep me")
    await chat.retract(chat.bob, ALICE, None, "orig")
    for session in (chat.alice, chat.bob):
        page = await chat.page(session)
        assert page.bodies[0] == "keep me" and len(page.ids) == 2


# ---------------------------------------------------------------- RET-03: the same sender


async def test_ret_03_bob_retracting_alices_message_changes_nothing(chat: Chat) -> None:
    await chat.say(chat.alice, BOB, "alices", "mine, not yours")
    before = {owner: await chat.stored(owner) for owner in (ALICE, BOB)}
    await chat.retract(chat.bob, ALICE, "r1", "alices")
    for owner, session in ((ALICE, chat.alice), (BOB, chat.bob)):
        assert (await chat.stored(owner))[0] == before[owner][0]
        page = await chat.page(session)
        assert page.bodies[0] == "mine, not yours"
        assert ids_attr(page) == ["alices", "r1"]  # Bob's retraction is archived as it is
        assert page.inner(1).find(q(RETRACT_NS, "retract")) is not None


async def test_ret_03_another_resource_of_the_sender_may_retract(chat: Chat) -> None:
    # The same bare JID is what counts (XEP-0424 business rules), not the resource.
    await chat.say(chat.bob, ALICE, "orig", "from my phone")
    laptop = await login(chat.server, f"{BOB}/laptop")
    await chat.retract(laptop, ALICE, "r1", "orig")
    for session in (chat.alice, chat.bob):
        page = await chat.page(session)
        assert retracted(page.inner(0)) is not None
        assert page.bodies[0] == ""


# ---------------------------------------------------------------- RET-04: which message


async def test_ret_04_reused_id_only_the_most_recent_is_tombstoned(chat: Chat) -> None:
    await chat.say(chat.bob, ALICE, "dup", "first with this id")
    await chat.say(chat.alice, BOB, "dup", "alice uses it too")
    await chat.say(chat.bob, ALICE, "dup", "second with this id")
    await chat.say(chat.bob, ALICE, "other", "unrelated")
    await chat.retract(chat.bob, ALICE, "r1", "dup")
    for session in (chat.alice, chat.bob):
        page = await chat.page(session)
        assert page.bodies == [
            "first with this id",
            "alice uses it too",  # RET-03: not Bob's
            "",
            "unrelated",
            "/me retracted a previous message, but it's unsupported by your client.",
        ]
        tomb = retracted(page.inner(2))
        assert tomb is not None and tomb.get("id") == "r1"
        assert [retracted(page.inner(i)) for i in (0, 1, 3)] == [None, None, None]


async def test_ret_04_origin_id_names_the_original_too(chat: Chat) -> None:
    # Clients written to XEP-0424 before 0.4 name the <origin-id/>; most set both the same.
    await chat.say(chat.bob, ALICE, "m1", "hello", "<origin-id xmlns='urn:xmpp:sid:0' id='o-1'/>")
    await chat.retract(chat.bob, ALICE, "r1", "o-1")
    for session in (chat.alice, chat.bob):
        page = await chat.page(session)
        tomb = retracted(page.inner(0))
        assert tomb is not None and tomb.get("id") == "r1"
        assert page.inner(0).get("id") == "m1"
        # Nothing of the original is left inside: not even its origin-id.
        assert [c.tag for c in page.inner(0)] == [q(RETRACT_NS, "retracted"), q(SID, "stanza-id")]


async def test_ret_04_a_message_to_oneself_can_be_retracted(chat: Chat) -> None:
    await chat.say(chat.alice, ALICE, "note", "note to self")
    await chat.retract(chat.alice, ALICE, "r1", "note")
    page = await chat.page(chat.alice)
    assert ids_attr(page) == ["note", "r1"]
    assert retracted(page.inner(0)) is not None


async def test_ret_04_only_the_conversation_of_the_retraction(chat: Chat) -> None:
    nurse = await login(chat.server, "nurse@localhost/n")
    await chat.say(chat.bob, "nurse@localhost", "same", "to the nurse")
    await chat.say(chat.bob, ALICE, "same", "to alice")
    await chat.say(chat.bob, "nurse@localhost", "late", "to the nurse again")
    nurse.take()
    # Bob retracts "same" towards the nurse: Alice's copy stays.
    await chat.retract(chat.bob, "nurse@localhost", "r1", "same")
    nurse.take()
    assert (await chat.page(chat.alice)).bodies == ["to alice"]
    bob_page = await chat.page(chat.bob)
    assert bob_page.bodies[:3] == ["", "to alice", "to the nurse again"]
    assert (await chat.page(nurse)).bodies[:2] == ["", "to the nurse again"]


async def test_ret_04_only_a_bounded_window_of_recent_messages(
    chat: Chat, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The search never reads more than SEARCH_WINDOW entries of the conversation (shrunk here).
    monkeypatch.setattr(retraction, "SEARCH_WINDOW", 3)
    await chat.say(chat.bob, ALICE, "old", "too old to find")
    for n in range(3):
        await chat.say(chat.bob, ALICE, f"n{n}", f"newer {n}")
    await chat.say(chat.bob, ALICE, "near", "recent enough")
    await chat.retract(chat.bob, ALICE, "r1", "old")
    # Before r2: n2, "near" and r1 are the newest three.
    await chat.retract(chat.bob, ALICE, "r2", "n2")
    page = await chat.page(chat.alice)
    assert page.bodies[:5] == ["too old to find", "newer 0", "newer 1", "", "recent enough"]


# ---------------------------------------------------------------- RET-05: unknown target


async def test_ret_05_unknown_target_changes_nothing(chat: Chat) -> None:
    await chat.say(chat.bob, ALICE, "orig", "keep")
    before = {owner: await chat.stored(owner) for owner in (ALICE, BOB)}
    await chat.retract(chat.bob, ALICE, "r1", "nope")
    for owner in (ALICE, BOB):
        now = await chat.stored(owner)
        assert now[0] == before[owner][0] and len(now) == 2


# ---------------------------------------------------------------- RET-06 / RES-11: paging


async def test_res_11_paging_across_a_tombstone_is_unchanged(chat: Chat) -> None:
    # RET-06: tombstoned, not deleted (ejabberd deletes), so ids, order and count stay.
    for n in range(1, 11):
        await chat.say(chat.bob, ALICE, f"m{n}", f"message {n}")
    whole = await chat.page(chat.alice)
    assert whole.count == 10
    await chat.retract(chat.bob, ALICE, "r1", "m5")
    expected = [*whole.ids, (await chat.page(chat.alice)).ids[-1]]

    # Forwards, three at a time, from the start.
    forwards: list[str] = []
    after: str | None = None
    while True:
        page = await chat.page(chat.alice, rsm=rsm_set(max=3, after=after))
        assert page.count == 11
        forwards += page.ids
        if page.complete:
            break
        after = page.last
    assert forwards == expected
    # Backwards, three at a time, from the end.
    backwards: list[str] = []
    page = await chat.page(chat.alice, rsm=rsm_set(max=3, last_page=True))
    while True:
        backwards = page.ids + backwards
        if page.complete:
            break
        page = await chat.page(chat.alice, rsm=rsm_set(max=3, before=page.first))
    assert backwards == expected
    # The tombstone's id still works as an RSM bound and in the id filters (#extended).
    tomb = whole.ids[4]
    page = await chat.page(chat.alice, rsm=rsm_set(max=2, after=tomb))
    assert page.ids == whole.ids[5:7]
    page = await chat.page(chat.alice, form={"ids": [tomb]})
    assert page.ids == [tomb] and retracted(page.inner(0)) is not None
    page = await chat.page(chat.alice, form={"after-id": whole.ids[3], "before-id": whole.ids[5]})
    assert page.ids == [tomb]


# ---------------------------------------------------------------- the option


async def test_tombstones_off_keeps_originals(tmp_path: Path) -> None:
    chat = await open_chat(tmp_path, "memory", "archive_retraction_tombstones = false")
    await chat.say(chat.bob, ALICE, "orig", "stays as it was")
    before = {owner: await chat.stored(owner) for owner in (ALICE, BOB)}
    await chat.retract(chat.bob, ALICE, "r1", "orig")
    for owner, session in ((ALICE, chat.alice), (BOB, chat.bob)):
        assert (await chat.stored(owner))[0] == before[owner][0]
        assert ids_attr(await chat.page(session)) == ["orig", "r1"]  # RET-01 all the same
        found = await chat.page(session, form={FULLTEXT: "stays"})
        assert found.bodies == ["stays as it was"]
    await chat.server.stop()


async def test_each_archive_follows_its_own_hosts_option(tmp_path: Path) -> None:
    # Alice on localhost keeps tombstones, Bob on example.org does not.
    path = tmp_path / "garrulus.toml"
    path.write_text(
        f'data_path = "{tmp_path / "data"}"\n'
        'modules_enabled = ["disco", "mam"]\n'
        'storage = "memory"\n'
        '[virtualhosts."localhost"]\n'
        '[virtualhosts."example.org"]\n'
        "archive_retraction_tombstones = false\n"
    )
    config = load_config(path, {"core": CORE_OPTIONS, **known_option_sets()})
    clock = FakeClock(START)
    server = Server(config, clock=clock)
    await server.start(listen=False)
    alice = await login(server, f"{ALICE}/a")
    bob = await login(server, "bob@example.org/b")
    chat = Chat(server, clock, alice, bob)
    for sender, to in ((alice, "bob@example.org"), (bob, ALICE)):
        await chat.say(sender, to, "orig", "a message")
        await chat.retract(sender, to, "r1", "orig")
    alice_page, bob_page = await chat.page(alice), await chat.page(bob)
    assert ids_attr(alice_page) == ids_attr(bob_page) == ["orig", "r1", "orig", "r1"]
    assert [retracted(alice_page.inner(i)) is not None for i in (0, 2)] == [True, True]
    assert [retracted(bob_page.inner(i)) is not None for i in (0, 2)] == [False, False]
    await server.stop()


# ---------------------------------------------------------------- failures


class NoReplace:
    """An archive store whose rewrites fail (as a database gone away would)."""

    def __init__(self, inner: ArchiveStore) -> None:
        self._inner = inner
        self.caps = inner.caps

    async def replace(self, *args: Any, **kwargs: Any) -> bool:
        raise StorageError("disk full")

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


async def test_a_failed_tombstone_still_delivers_and_archives_the_retraction(
    tmp_path: Path,
) -> None:
    server = await start_server_wrapping_archive(tmp_path, NoReplace)
    alice = await login(server, f"{ALICE}/a")
    bob = await login(server, f"{BOB}/b")
    chat = Chat(server, FakeClock(START), alice, bob)
    await chat.say(bob, ALICE, "orig", "still here")
    await send(
        server,
        bob,
        f"<message to='{ALICE}' type='chat' id='r1'><retract xmlns='{RETRACT_NS}' id='orig'/>"
        "<store xmlns='urn:xmpp:hints'/></message>",
    )
    (delivered,) = alice.take()
    assert delivered.find(q(RETRACT_NS, "retract")) is not None
    for session in (alice, bob):
        page = await chat.page(session)
        assert ids_attr(page) == ["orig", "r1"] and page.bodies[0] == "still here"
    await server.stop()


# ---------------------------------------------------------------- export and import


async def test_export_holds_the_tombstone_and_a_reimport_adds_nothing(tmp_path: Path) -> None:
    chat = await open_chat(tmp_path, "sql")
    await chat.say(
        chat.bob, ALICE, "orig", "the secret", "<origin-id xmlns='urn:xmpp:sid:0' id='o'/>"
    )
    await chat.retract(chat.bob, ALICE, "r1", "orig")
    stored = await chat.stored(ALICE)
    await chat.server.stop()

    config = str(tmp_path / "garrulus-sql.toml")
    cli = [sys.executable, "-m", "garrulus.cli.main", "mam"]

    def run(*args: str) -> str:
        proc = subprocess.run(
            [*cli, *args, "-c", config], capture_output=True, text=True, timeout=60
        )
        assert proc.returncode == 0, proc.stderr
        return proc.stdout

    exported = run("export", ALICE)
    records = [json.loads(line) for line in exported.splitlines()]
    assert [r["stanza"] for r in records] == stored  # as stored: the tombstone, then r1
    assert "<retracted" in records[0]["stanza"] and "secret" not in records[0]["stanza"]
    dump = tmp_path / "alice.jsonl"
    dump.write_text(exported)
    run("import", str(dump))  # into the same archive: every record is already there
    assert run("export", ALICE) == exported


def test_the_option_is_declared_checked_and_documented(tmp_path: Path) -> None:
    (option,) = [o for o in OPTIONS if o.name == "archive_retraction_tombstones"]
    assert option.type is bool and option.default is True and option.per_host
    # The config check (`garrulus check`, and every start) takes a boolean only ...
    path = tmp_path / "garrulus.toml"
    path.write_text('modules_enabled = ["mam"]\narchive_retraction_tombstones = "yes"\n')
    with pytest.raises(ConfigError, match="archive_retraction_tombstones"):
        load_config(path, {"core": CORE_OPTIONS, **known_option_sets()})
    # ... and the shipped config and the README show it with its default.
    shown = DEFAULT_CONFIG_PATH.read_text(encoding="utf-8")
    assert "# archive_retraction_tombstones = true" in shown
    readme = Path(__file__).resolve().parents[2] / "README.md"
    assert "`archive_retraction_tombstones`" in readme.read_text(encoding="utf-8")
