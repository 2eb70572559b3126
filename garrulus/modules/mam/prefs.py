"""XEP-0441 archiving preferences: ``<prefs xmlns='urn:xmpp:mam:2'>`` in and out, and storage.

JIDs in ``<always/>`` and ``<never/>`` are kept as sent, prepared (RFC 7622), full JIDs included:
XEP-0441 matches a full entry against the exact full target, so reducing it to its bare JID would
widen the rule. An entry that is not a valid JID is dropped rather than refused (checklist PRF-05,
after Prosody); the reply carries the applied prefs, so the client sees what was kept.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from garrulus.modules.mam.policy import DefaultPolicy
from garrulus.xmpp import ns
from garrulus.xmpp.errors import StanzaError
from garrulus.xmpp.jid import InvalidJID, parse_jid
from garrulus.xmpp.xml import Element, el, qname

__all__ = ["PREFS", "Prefs", "build_prefs", "from_json", "parse_prefs", "to_json"]

PREFS = qname(ns.MAM, "prefs")
_XML_SPACE = " \t\r\n"
_POLICY_TEXT = "always, never or roster"


@dataclass(frozen=True)
class Prefs:
    """A user's archiving preferences; ``always``/``never`` hold prepared JID strings."""

    default: DefaultPolicy
    always: frozenset[str] = frozenset()
    never: frozenset[str] = frozenset()


def _prepare(text: str) -> str | None:
    try:
        return str(parse_jid(text.strip(_XML_SPACE)))
    except InvalidJID:
        return None


def _jid_list(prefs_el: Element, local: str) -> frozenset[str]:
    found = prefs_el.findall(qname(ns.MAM, local))
    if len(found) > 1:
        raise StanzaError("bad-request", f"<{local}/> appears more than once in <prefs/>")
    if not found:
        return frozenset()  # PRF-03: a missing list is an empty one
    # Text between the <jid/> elements (pretty printing) is ignored (PRF-05, MongooseIM#263).
    prepared = (_prepare(node.text or "") for node in found[0].iterfind(qname(ns.MAM, "jid")))
    return frozenset(jid for jid in prepared if jid is not None)


def parse_prefs(prefs_el: Element) -> Prefs:
    """Parse a ``<prefs/>`` set request; a missing or unknown ``default`` is ``bad-request``."""
    if prefs_el.tag != PREFS:
        raise StanzaError("bad-request", "Expected <prefs xmlns='urn:xmpp:mam:2'/>")
    raw = prefs_el.get("default")
    if raw is None:
        raise StanzaError("bad-request", f"<prefs/> needs a 'default' attribute: {_POLICY_TEXT}")
    try:
        default = DefaultPolicy(raw)
    except ValueError:
        raise StanzaError(
            "bad-request", f"Invalid 'default' {raw!r} in <prefs/>: expected {_POLICY_TEXT}"
        ) from None
    return Prefs(
        default=default, always=_jid_list(prefs_el, "always"), never=_jid_list(prefs_el, "never")
    )


def build_prefs(prefs: Prefs) -> Element:
    """The ``<prefs/>`` reply; ``<always/>`` and ``<never/>`` are there even when empty (PRF-01)."""

    def jid_list(local: str, jids: frozenset[str]) -> Element:
        return el(
            qname(ns.MAM, local), None, *(el(qname(ns.MAM, "jid"), text=j) for j in sorted(jids))
        )

    return el(
        PREFS,
        {"default": prefs.default.value},
        jid_list("always", prefs.always),
        jid_list("never", prefs.never),
    )


def to_json(prefs: Prefs) -> dict[str, Any]:
    """A JSON-ready value for the key-value store (sorted, so equal prefs serialise equally)."""
    return {
        "default": prefs.default.value,
        "always": sorted(prefs.always),
        "never": sorted(prefs.never),
    }


def _json_jids(data: dict[str, Any], key: str) -> frozenset[str]:
    value = data.get(key, [])
    if not isinstance(value, list) or not all(isinstance(j, str) for j in value):
        raise ValueError(f"stored prefs: {key!r} must be a list of strings")
    # Prepared again: a newer PRECIS/IDNA library may normalise differently than the one that
    # stored them, and matching relies on string equality.
    prepared = (_prepare(j) for j in value)
    return frozenset(j for j in prepared if j is not None)


def from_json(data: Any) -> Prefs:
    """Read back what :func:`to_json` wrote; ValueError if it is not that shape."""
    if not isinstance(data, dict):
        raise ValueError("stored prefs must be a JSON object")
    raw = data.get("default")
    if not isinstance(raw, str):
        raise ValueError("stored prefs: 'default' must be a string")
    return Prefs(
        default=DefaultPolicy(raw),
        always=_json_jids(data, "always"),
        never=_json_jids(data, "never"),
    )
