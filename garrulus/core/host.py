"""A virtual host: its sessions, its event bus, its disco features and its modules."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from garrulus.core.events import EventBus
from garrulus.core.session import Session
from garrulus.xmpp.jid import JID

if TYPE_CHECKING:
    from garrulus.core.modules import LoadedModule
    from garrulus.core.server import Server


@dataclass(frozen=True)
class Identity:
    category: str
    type: str
    name: str | None = None


class Host:
    def __init__(self, name: str, server: Server) -> None:
        self.name = name
        self.jid = JID(None, name)
        self.server = server
        self.events = EventBus()
        self.log = logging.getLogger(f"garrulus.host.{name}")
        # bare JID string -> resource -> session
        self.sessions: dict[str, dict[str, Session]] = {}
        self.features: dict[str, int] = {}  # host disco features, refcounted by modules
        self.account_features: dict[str, int] = {}  # features of every user's bare JID
        self.identities: dict[Identity, int] = {}
        self.modules: dict[str, LoadedModule] = {}

    def option(self, name: str) -> Any:
        return self.server.config.get(name, self.name)

    def user_sessions(self, bare: JID | str) -> dict[str, Session]:
        return self.sessions.get(str(bare), {})

    def session(self, full: JID) -> Session | None:
        return self.sessions.get(str(full.bare), {}).get(full.resource or "")

    def all_sessions(self) -> Iterator[Session]:
        for by_resource in self.sessions.values():
            yield from by_resource.values()

    def add_session(self, session: Session) -> Session | None:
        """Register a bound session; returns the session it replaces, if any."""
        by_resource = self.sessions.setdefault(str(session.jid.bare), {})
        resource = session.jid.resource or ""
        old = by_resource.get(resource)
        by_resource[resource] = session
        return old

    def remove_session(self, session: Session) -> bool:
        bare = str(session.jid.bare)
        by_resource = self.sessions.get(bare)
        if not by_resource or by_resource.get(session.jid.resource or "") is not session:
            return False
        del by_resource[session.jid.resource or ""]
        if not by_resource:
            del self.sessions[bare]
        return True

    def feature_list(self) -> list[str]:
        return sorted(self.features)

    def __repr__(self) -> str:
        return f"<Host {self.name}>"
