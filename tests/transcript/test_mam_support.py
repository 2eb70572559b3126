"""Shared helpers for the MAM transcript tests (this file holds no tests of its own).

Archives are built through the server (clients send messages), so every id a test pages with is a
real client-visible id. ``Archive`` names the ids of Alice's archive ``id1``, ``id2`` ... in
archive order and keeps them as Transcript captures, so expected XML can say ``{id7}``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any
from xml.etree.ElementTree import Element

from garrulus.core.clock import FakeClock
from garrulus.core.config import load_config
from garrulus.core.core_options import CORE_OPTIONS
from garrulus.core.modules import known_option_sets
from garrulus.core.server import Server
from garrulus.xmpp.xml import to_xml
from tests.harness import FakeSession, Transcript, login, send, start_server, write_config

MODULES = ["disco", "mam"]
MAM = "urn:xmpp:mam:2"
RSM = "http://jabber.org/protocol/rsm"
FWD = "urn:xmpp:forward:0"
DELAY = "urn:xmpp:delay"
STANZAS = "urn:ietf:params:xml:ns:xmpp-stanzas"


def q(ns: str, local: str) -> str:
    return "{" + ns + "}" + local


async def start_sql_server(
    tmp_path: Path, modules: Iterable[str] = MODULES, extra: str = "", clock: Any = None
) -> Server:
    """Like ``tests.harness.start_server`` but on SQLite: the harness writes ``storage =
    "memory"`` itself, and TOML refuses a key given twice, so this writes its own config."""
    path = tmp_path / "garrulus-sql.toml"
    mods = ", ".join(f'"{m}"' for m in modules)
    path.write_text(
        f'data_path = "{tmp_path / "data"}"\n'
        f"modules_enabled = [{mods}]\n"
        'storage = "sql"\n'
        'sql = { driver = "SQLite3", database = "t.sqlite" }\n'
        f"{extra}\n"
        '[virtualhosts."localhost"]\n'
        '[virtualhosts."example.org"]\n'
    )
    config = load_config(path, {"core": CORE_OPTIONS, **known_option_sets()})
    server = Server(config, clock=clock)
    await server.start(listen=False)
    return server


def xml(node: Element) -> str:
    return to_xml(node, "")


# -- sending ------------------------------------------------------------------------------------


async def chat(
    server: Server,
    sender: FakeSession,
    to: str,
    body: str,
    msg_id: str | None = None,
    *,
    extra: str = "",
    msg_type: str = "chat",
) -> None:
    id_attr = f" id='{msg_id}'" if msg_id else ""
    await send(
        server,
        sender,
        f"<message to='{to}' type='{msg_type}'{id_attr}><body>{body}</body>{extra}</message>",
    )


def mam_form(fields: Mapping[str, str | Sequence[str]], *, form_type: str = MAM) -> str:
    """A submit form; a sequence value gives one ``<value/>`` each (``ids``)."""
    out = [
        "<x xmlns='jabber:x:data' type='submit'>"
        f"<field var='FORM_TYPE' type='hidden'><value>{form_type}</value></field>"
    ]
    for var, value in fields.items():
        values = [value] if isinstance(value, str) else list(value)
        out.append(f"<field var='{var}'>" + "".join(f"<value>{v}</value>" for v in values))
        out.append("</field>")
    out.append("</x>")
    return "".join(out)


def rsm_set(
    *,
    max: int | None = None,
    after: str | None = None,
    before: str | None = None,
    last_page: bool = False,
) -> str:
    parts = []
    if max is not None:
        parts.append(f"<max>{max}</max>")
    if after is not None:
        parts.append(f"<after>{after}</after>")
    if before is not None:
        parts.append(f"<before>{before}</before>")
    if last_page:
        parts.append("<before/>")
    return f"<set xmlns='{RSM}'>" + "".join(parts) + "</set>" if parts else ""


@dataclass
class Page:
    """What one query produced: the result messages (in arrival order) and the final IQ."""

    results: list[Element]
    iq: Element
    # Anything else the session got meanwhile (there should be nothing).
    other: list[Element] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.iq.get("type") == "result"

    @property
    def fin(self) -> Element:
        fin = self.iq.find(q(MAM, "fin"))
        assert fin is not None, xml(self.iq)
        return fin

    @property
    def ids(self) -> list[str]:
        return [r.find(q(MAM, "result")).get("id", "") for r in self.results]  # type: ignore[union-attr]

    def inner(self, n: int) -> Element:
        found = self.results[n].find(
            f"{q(MAM, 'result')}/{q(FWD, 'forwarded')}/{{jabber:client}}message"
        )
        assert found is not None
        return found

    @property
    def bodies(self) -> list[str]:
        return [
            self.inner(i).findtext("{jabber:client}body") or "" for i in range(len(self.results))
        ]

    @property
    def complete(self) -> bool:
        value = self.fin.get("complete")
        assert value in (None, "true", "false"), value
        return value == "true"

    def _rsm(self, local: str) -> Element | None:
        return self.fin.find(f"{q(RSM, 'set')}/{q(RSM, local)}")

    @property
    def first(self) -> str | None:
        node = self._rsm("first")
        return None if node is None else node.text

    @property
    def last(self) -> str | None:
        node = self._rsm("last")
        return None if node is None else node.text

    @property
    def first_index(self) -> int | None:
        node = self._rsm("first")
        return None if node is None or node.get("index") is None else int(node.get("index", ""))

    @property
    def count(self) -> int | None:
        node = self._rsm("count")
        return None if node is None else int(node.text or "")

    def error(self) -> tuple[str, str]:
        """(error type, condition) of an error reply."""
        assert self.iq.get("type") == "error", xml(self.iq)
        err = self.iq.find("{jabber:client}error")
        assert err is not None
        conditions = [c.tag.split("}")[1] for c in err if c.tag.startswith("{" + STANZAS + "}")]
        conditions = [c for c in conditions if c != "text"]
        return err.get("type", ""), conditions[0]


async def query(
    server: Server,
    session: FakeSession,
    *,
    form: Mapping[str, str | Sequence[str]] | None = None,
    rsm: str = "",
    queryid: str | None = None,
    flip: bool = False,
    to: str | None = None,
    iq_id: str = "q1",
    raw: str | None = None,
) -> Page:
    """Send one MAM query and split what came back into results and the final IQ."""
    session.take()
    if raw is None:
        qid = f" queryid='{queryid}'" if queryid is not None else ""
        body = (mam_form(form) if form is not None else "") + rsm + ("<flip-page/>" if flip else "")
        raw = f"<query xmlns='{MAM}'{qid}>{body}</query>"
    to_attr = f" to='{to}'" if to else ""
    await send(server, session, f"<iq type='set' id='{iq_id}'{to_attr}>{raw}</iq>")
    got = session.take()
    iqs = [i for i, s in enumerate(got) if s.tag == "{jabber:client}iq" and s.get("id") == iq_id]
    assert len(iqs) == 1, [xml(s) for s in got]
    end = iqs[0]
    results = [s for s in got[:end] if s.find(q(MAM, "result")) is not None]
    other = [s for s in got if s is not got[end] and s not in results]
    # MAM-03: nothing belonging to the query may follow its IQ result.
    assert all(s.find(q(MAM, "result")) is None for s in got[end + 1 :])
    return Page(results, got[end], other)


async def count_of(
    server: Server,
    session: FakeSession,
    *,
    form: Mapping[str, str | Sequence[str]] | None = None,
    after: str | None = None,
    before: str | None = None,
) -> int:
    """The size of a query's set, asked the way a client must ask for a filtered one: a
    ``<max>0</max>`` query (RSM-16). Filtered pages carry no ``<count/>`` (counting a filtered
    set costs a scan, so it happens only when asked, RSM-24); this always gets one, and nothing
    else: no results, no ``<first/>``/``<last/>``."""
    page = await query(server, session, form=form, rsm=rsm_set(max=0, after=after, before=before))
    assert page.ok, xml(page.iq)
    assert page.results == [] and page.first is None and page.last is None, xml(page.iq)
    assert page.count is not None, xml(page.iq)
    return page.count


async def iq(server: Server, session: FakeSession, stanza: str) -> Element:
    """Send an IQ and return the one reply."""
    session.take()
    await send(server, session, stanza)
    (reply,) = session.take()
    return reply


def error_of(reply: Element) -> tuple[str, str]:
    return Page([], reply).error()


# -- archives built through the server ------------------------------------------------------


@dataclass
class Archive:
    """Alice's archive filled with messages from Bob (or anyone), and the names of their ids."""

    server: Server
    alice: FakeSession
    bob: FakeSession
    clock: FakeClock | None = None
    ids: list[str] = field(default_factory=list)  # ids[0] is message 1
    t: Transcript = field(default_factory=Transcript)

    def id(self, n: int) -> str:
        """The archive id of message ``n`` (1-based, as the checklist counts)."""
        return self.ids[n - 1]

    def numbers(self, ids: Iterable[str | None]) -> list[int]:
        """Message numbers of ids, for readable assertions."""
        return [self.ids.index(i) + 1 for i in ids if i is not None]

    async def refresh(self) -> None:
        # Page forwards: the archive may be larger than the server's page cap.
        ids: list[str] = []
        while True:
            after = ids[-1] if ids else None
            page = await query(self.server, self.alice, rsm=rsm_set(max=1000, after=after))
            assert page.ok
            ids += page.ids
            if page.complete:
                break
        self.ids = ids
        for n, archive_id in enumerate(self.ids, start=1):
            self.t.vars[f"id{n}"] = archive_id

    async def query(self, **kwargs: Any) -> Page:
        return await query(self.server, self.alice, **kwargs)

    async def count(self, **kwargs: Any) -> int:
        """:func:`count_of` on Alice's archive."""
        return await count_of(self.server, self.alice, **kwargs)

    def match_fin(self, page: Page, expected: str) -> None:
        self.t.match(page.iq, expected)

    async def stop(self) -> None:
        await self.server.stop()


async def archive_of(
    tmp_path: Path,
    n: int,
    *,
    modules: Iterable[str] = MODULES,
    extra: str = "",
    clock: FakeClock | None = None,
    step: timedelta | None = None,
    sql: bool = False,
) -> Archive:
    """A server where Bob sent Alice ``n`` chat messages with bodies "1" .. "n" (message k is
    archive item k of Alice's archive); with ``clock`` and ``step`` the clock moves by ``step``
    after each message."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    starter = start_sql_server if sql else start_server
    server = await starter(tmp_path, modules, extra, clock)
    alice = await login(server, "alice@localhost/a")
    bob = await login(server, "bob@localhost/b")
    for k in range(1, n + 1):
        await chat(server, bob, "alice@localhost/a", str(k), f"m{k}")
        if clock is not None and step is not None:
            clock.advance(step)
    alice.take()
    bob.take()
    archive = Archive(server, alice, bob, clock)
    await archive.refresh()
    assert len(archive.ids) == n
    return archive


class _WrappedStoreServer(Server):
    wrap: Any = None

    async def open_storage(self) -> None:
        await super().open_storage()
        self.storage = dataclasses.replace(self.storage, archive=self.wrap(self.storage.archive))


async def start_server_wrapping_archive(
    tmp_path: Path, wrap: Any, modules: Iterable[str] = MODULES, extra: str = ""
) -> Server:
    """A memory-store server whose archive store is ``wrap(store)`` from the start, so modules
    see the wrapper (and its ``caps``) at setup: a seam for stores with other caps or faults."""
    path = write_config(tmp_path, modules, extra)
    config = load_config(path, {"core": CORE_OPTIONS, **known_option_sets()})
    server = _WrappedStoreServer(config)
    server.wrap = wrap
    await server.start(listen=False)
    return server
