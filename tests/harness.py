"""An in-process server for transcript tests: sessions are fakes, stanzas are literal XML.

``Transcript`` compares what a session received with expected XML where attribute values and
texts may be ``{name}`` captures (bound on first sight, compared after) or ``*`` (anything).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any
from xml.etree.ElementTree import Element, fromstring

from garrulus.core.config import load_config
from garrulus.core.core_options import CORE_OPTIONS
from garrulus.core.event_types import SessionEvent
from garrulus.core.modules import known_option_sets
from garrulus.core.routes import RESOURCE_BOUND, RESOURCE_UNBOUND
from garrulus.core.server import Server
from garrulus.core.session import Session
from garrulus.xmpp.errors import StreamError
from garrulus.xmpp.jid import parse_jid
from garrulus.xmpp.xml import to_xml

DEFAULT_MODULES = ["disco", "ping", "version", "time", "register"]


def parse_stanza(text: str) -> Element:
    """Parse literal XML as a stanza in jabber:client (the stream's default namespace)."""
    wrapped = f"<wrap xmlns='jabber:client'>{text}</wrap>"
    root = fromstring(wrapped)
    assert len(root) == 1, "one stanza per call"
    return root[0]


class FakeSession(Session):
    def __init__(self, server: Server, jid: str) -> None:
        super().__init__()
        self.jid = parse_jid(jid)
        self.host = server.hosts[self.jid.domain]
        self.received: list[Element] = []
        self.closed_with: StreamError | None = None
        self.was_closed = False

    def send(self, stanza: Element) -> None:
        # Copy through XML so later mutation by the server cannot change what we saw.
        self.received.append(fromstring(to_xml(stanza, "")))

    def close(self, error: StreamError | None = None) -> None:
        self.was_closed = True
        self.closed_with = error
        self.closing = True

    def take(self) -> list[Element]:
        out, self.received = self.received, []
        return out


def write_config(tmp_path: Path, modules: Iterable[str] = DEFAULT_MODULES, extra: str = "") -> Path:
    path = tmp_path / "garrulus.toml"
    mods = ", ".join(f'"{m}"' for m in modules)
    path.write_text(
        f'data_path = "{tmp_path / "data"}"\n'
        f"modules_enabled = [{mods}]\n"
        'storage = "memory"\n'
        f"{extra}\n"
        '[virtualhosts."localhost"]\n'
        '[virtualhosts."example.org"]\n'
    )
    return path


async def start_server(
    tmp_path: Path, modules: Iterable[str] = DEFAULT_MODULES, extra: str = "", clock: Any = None
) -> Server:
    path = write_config(tmp_path, modules, extra)
    config = load_config(path, {"core": CORE_OPTIONS, **known_option_sets()})
    server = Server(config, clock=clock)
    await server.start(listen=False)
    return server


async def login(
    server: Server, full_jid: str, password: str = "secret", *, create: bool = True
) -> FakeSession:
    jid = parse_jid(full_jid)
    if create and not await server.accounts.exists(jid.domain, jid.local or ""):
        await server.accounts.create(str(jid.bare), password)
    session = FakeSession(server, full_jid)
    session.bound = True
    old = session.host.add_session(session)
    assert old is None
    await session.host.events.fire(RESOURCE_BOUND, SessionEvent(session))
    return session


async def logout(session: FakeSession) -> None:
    if session.host.remove_session(session):
        session.bound = False
        await session.host.events.fire(RESOURCE_UNBOUND, SessionEvent(session))


async def send(server: Server, session: FakeSession, xml: str) -> None:
    await server.router.route_from_client(session, parse_stanza(xml))


_CAPTURE = re.compile(r"^\{(\w+)\}$")


class Transcript:
    """Holds captures across steps; ``match`` asserts and binds."""

    def __init__(self) -> None:
        self.vars: dict[str, str] = {}

    def _value(self, expected: str, actual: str | None, where: str) -> None:
        if expected == "*":
            assert actual is not None, f"{where}: expected a value, got none"
            return
        m = _CAPTURE.match(expected)
        if m:
            name = m.group(1)
            assert actual is not None, f"{where}: expected a value for {{{name}}}"
            if name in self.vars:
                assert actual == self.vars[name], (
                    f"{where}: {{{name}}} was {self.vars[name]!r}, now {actual!r}"
                )
            else:
                self.vars[name] = actual
            return
        assert actual == expected, f"{where}: expected {expected!r}, got {actual!r}"

    def match(self, actual: Element, expected_xml: str, *, exact_children: bool = True) -> None:
        expected = (
            parse_stanza(expected_xml)
            if not expected_xml.lstrip().startswith("<?")
            else fromstring(expected_xml)
        )
        self._match(actual, expected, expected.tag, exact_children)

    def _match(self, actual: Element, expected: Element, path: str, exact: bool) -> None:
        assert actual.tag == expected.tag, f"{path}: expected <{expected.tag}>, got <{actual.tag}>"
        for name, value in expected.attrib.items():
            self._value(value, actual.get(name), f"{path}@{name}")
        extra = set(actual.attrib) - set(expected.attrib)
        assert not extra, f"{path}: unexpected attributes {sorted(extra)}"
        if expected.text and expected.text.strip():
            self._value(expected.text.strip(), (actual.text or "").strip(), f"{path} text")
        if exact:
            assert len(actual) == len(expected), (
                f"{path}: expected children {[c.tag for c in expected]}, got {[c.tag for c in actual]}"
            )
            for a, e in zip(actual, expected, strict=True):
                self._match(a, e, f"{path}/{e.tag}", exact)
        else:
            for e in expected:
                found = actual.find(e.tag)
                assert found is not None, f"{path}: missing child <{e.tag}>"
                self._match(found, e, f"{path}/{e.tag}", exact)


def expect(t: Transcript, session: FakeSession, *stanzas: str) -> None:
    """Assert that ``session`` received exactly these stanzas, in order (and consume them)."""
    got = session.take()
    shown = [to_xml(g, "") for g in got]
    assert len(got) == len(stanzas), f"{session.jid} got {shown}"
    for actual, expected in zip(got, stanzas, strict=True):
        t.match(actual, expected)
