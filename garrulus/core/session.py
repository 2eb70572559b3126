"""A bound client session as the core and modules see it; net/ provides the transport."""

from __future__ import annotations

import abc
from typing import TYPE_CHECKING, Any
from xml.etree.ElementTree import Element

from mypy_extensions import mypyc_attr

from garrulus.xmpp.errors import StreamError
from garrulus.xmpp.jid import JID

if TYPE_CHECKING:
    from garrulus.core.host import Host


# Compiled (setup.py), yet other transports and the tests' fake sessions subclass it.
@mypyc_attr(allow_interpreted_subclasses=True)
class Session(abc.ABC):
    """One resource of one user. Mutable by design: presence and module state change."""

    jid: JID  # full JID once bound
    host: Host

    def __init__(self) -> None:
        self.priority = 0
        self.presence: Element | None = None  # last broadcast available presence
        self.available = False  # sent initial presence and not unavailable since
        self.interested = False  # fetched the roster (RFC 6121 2.1.3)
        self.bound = False
        self.closing = False
        # Per-module state (carbons enabled, archive queried ...), keyed by module name.
        self.state: dict[str, Any] = {}

    @abc.abstractmethod
    def send(self, stanza: Element) -> None:
        """Queue a stanza for this client; never blocks."""

    def send_text(self, text: str) -> None:
        """Queue an already serialised stanza (jabber:client as the default namespace)."""
        from garrulus.xmpp.xml import parse_client_xml

        self.send(parse_client_xml(text))

    @abc.abstractmethod
    def close(self, error: StreamError | None = None) -> None:
        """Close the stream, with a stream error if given."""

    @property
    def bare(self) -> JID:
        return self.jid.bare

    def __repr__(self) -> str:
        return f"<Session {self.jid}>"
