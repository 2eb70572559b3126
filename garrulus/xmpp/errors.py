"""Errors as values carrying their XMPP condition (RFC 6120 sections 4.9 and 8.3)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

ErrorType = Literal["auth", "cancel", "continue", "modify", "wait"]

# RFC 6120 8.3.3: the default error type of each stanza error condition.
DEFAULT_TYPE: dict[str, ErrorType] = {
    "bad-request": "modify",
    "conflict": "cancel",
    "feature-not-implemented": "cancel",
    "forbidden": "auth",
    "gone": "cancel",
    "internal-server-error": "cancel",
    "item-not-found": "cancel",
    "jid-malformed": "modify",
    "not-acceptable": "modify",
    "not-allowed": "cancel",
    "not-authorized": "auth",
    "policy-violation": "modify",
    "recipient-unavailable": "wait",
    "redirect": "modify",
    "registration-required": "auth",
    "remote-server-not-found": "cancel",
    "remote-server-timeout": "wait",
    "resource-constraint": "wait",
    "service-unavailable": "cancel",
    "subscription-required": "auth",
    "undefined-condition": "cancel",
    "unexpected-request": "wait",
}


@dataclass(frozen=True)
class StanzaError(Exception):
    """A stanza-level error; the session that caused it goes on."""

    condition: str
    text: str | None = None
    type: ErrorType | None = None
    # An application-specific condition element, as (namespace, local name).
    app_condition: tuple[str, str] | None = None

    @property
    def error_type(self) -> ErrorType:
        return self.type or DEFAULT_TYPE.get(self.condition, "cancel")

    def __str__(self) -> str:
        return f"{self.condition}: {self.text}" if self.text else self.condition


@dataclass(frozen=True)
class StreamError(Exception):
    """A stream-level error; the connection is closed after it is sent."""

    condition: str
    text: str | None = None

    def __str__(self) -> str:
        return f"{self.condition}: {self.text}" if self.text else self.condition
