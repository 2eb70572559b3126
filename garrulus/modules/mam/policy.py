"""Which messages go into a user's archive (XEP-0313 business rules, XEP-0334 hints, XEP-0441).

Two independent questions, each answered with a :class:`Decision` that carries its reason for
the log:

* :func:`should_archive`: is this stanza archivable content at all? The rules are the table in
  section 2 of the MAM checklist (rows cited as ``ARC-n`` below), applied in Prosody's order:
  message type first, then hints, then content.
* :func:`prefs_allow`: does the owner want messages with this contact archived (XEP-0441)?
"""

from __future__ import annotations

import enum
from collections.abc import Collection
from copy import deepcopy
from typing import TYPE_CHECKING, Any, Final, NamedTuple

from garrulus.core.options import Option, OptionValueError
from garrulus.storage.api import Direction
from garrulus.xmpp import ns
from garrulus.xmpp.jid import JID, parse_jid, try_jid
from garrulus.xmpp.xml import Element, qname, split_tag

if TYPE_CHECKING:
    from garrulus.modules.mam.prefs import Prefs

__all__ = [
    "DEFAULT_ARCHIVE_POLICY",
    "DONT_ARCHIVE_NAMESPACES",
    "Decision",
    "DefaultPolicy",
    "needs_roster",
    "parse_default_policy",
    "prefs_allow",
    "should_archive",
    "stored_copy",
]


class DefaultPolicy(enum.Enum):
    """What to archive for a contact on neither list; values are XEP-0441's ``default``."""

    ALWAYS = "always"
    NEVER = "never"
    ROSTER = "roster"


_POLICY_FORMS = 'true, false, "always", "never" or "roster"'


def parse_default_policy(value: Any) -> DefaultPolicy:
    """Parse the ``default_archive_policy`` option as Prosody spells it (true/false/"roster")
    or as XEP-0441 does ("always"/"never"/"roster")."""
    if isinstance(value, DefaultPolicy):
        return value  # already parsed (the declared default goes through here too)
    # bool before anything else: True == 1, and a stray integer must not pass as a policy.
    if isinstance(value, bool):
        return DefaultPolicy.ALWAYS if value else DefaultPolicy.NEVER
    if isinstance(value, str):
        try:
            return DefaultPolicy(value)
        except ValueError:
            pass
    raise OptionValueError(f"default_archive_policy: expected {_POLICY_FORMS}, got {value!r}")


DEFAULT_ARCHIVE_POLICY: Final = Option[DefaultPolicy](
    name="default_archive_policy",
    type=DefaultPolicy,
    default=DefaultPolicy.ALWAYS,
    doc="What to archive for contacts a user has no preference for (XEP-0441 'default').",
    parse=parse_default_policy,
    expected=_POLICY_FORMS,
)

# Prosody's default for its option of the same name: chat states alone are not worth keeping.
DONT_ARCHIVE_NAMESPACES: Final = frozenset({ns.CHATSTATES})


class Decision(NamedTuple):
    """Whether to archive, and why (a short stable word for logs and metrics). A named tuple:
    two are made for every message, and a tuple is the cheapest immutable record."""

    store: bool
    reason: str


_EME = qname("urn:xmpp:eme:0", "encryption")
_MAM_RESULT = qname(ns.MAM, "result")
_CARBON_WRAPPERS = frozenset({qname(ns.CARBONS, "sent"), qname(ns.CARBONS, "received")})
_NO_STORE = qname(ns.HINTS, "no-store")
_NO_PERMANENT_STORE = qname(ns.HINTS, "no-permanent-store")
_STORE = qname(ns.HINTS, "store")
_CONFERENCE_INVITE = qname("jabber:x:conference", "x")
_MUC_USER = qname("http://jabber.org/protocol/muc#user", "x")
_MUC_INVITE = qname("http://jabber.org/protocol/muc#user", "invite")
_JINGLE_MESSAGE = frozenset({"urn:xmpp:jingle-message:0", "urn:xmpp:jingle-message:1"})
_RETRACT = qname("urn:xmpp:message-retract:1", "retract")
# RFC 6121 5.2.2: a missing or unknown type is "normal".
_KNOWN_TYPES = frozenset({"chat", "error", "groupchat", "headline", "normal"})


def _message_type(stanza: Element) -> str:
    raw = stanza.get("type", "normal")
    return raw if raw in _KNOWN_TYPES else "normal"


def _in_stanza_ns(stanza: Element, local: str) -> str:
    # <body/> and <subject/> share the stanza's namespace: jabber:client from a client,
    # jabber:server from another server.
    stanza_ns, _ = split_tag(stanza.tag)
    return qname(stanza_ns, local) if stanza_ns else local


def _content_decision(stanza: Element, kept: list[Element]) -> Decision:
    tags = {node.tag for node in kept}
    if _in_stanza_ns(stanza, "body") in tags:
        return Decision(True, "body")  # ARC-1, ARC-2; ARC-3: an empty <body/> counts too
    if _in_stanza_ns(stanza, "subject") in tags:
        return Decision(True, "subject")  # ARC-16
    if _EME in tags:
        return Decision(True, "encryption")  # ARC-17: content unknown, assume it matters
    namespaces = {split_tag(tag)[0] for tag in tags}
    if ns.RECEIPTS in namespaces:
        return Decision(True, "receipt")  # ARC-10
    if ns.MARKERS in namespaces:
        return Decision(True, "marker")  # ARC-11
    if _CONFERENCE_INVITE in tags or any(
        node.tag == _MUC_USER and node.find(_MUC_INVITE) is not None for node in kept
    ):
        return Decision(True, "invite")  # ARC-18
    if namespaces & _JINGLE_MESSAGE:
        return Decision(True, "jingle-message")  # ARC-19: call history
    if any(node.tag == _RETRACT and node.get("id") for node in kept):
        # ARC-26 / RET-01: XEP-0424 makes archiving the retraction a MUST, body or not; a
        # <retract/> without an id is no retraction (RET-05).
        return Decision(True, "retraction")
    # ARC-8 (chat states only), ARC-31 (OOB, reactions without body or <store/>) and the rest.
    return Decision(False, "no-content")


def should_archive(
    stanza: Element, direction: Direction, dont_archive_namespaces: Collection[str]
) -> Decision:
    """Is this ``<message/>`` archivable in the archive of the user it is ``direction`` for?

    ``dont_archive_namespaces`` are left out of the stored copy (see :func:`stored_copy`), so
    they count for nothing here either: a message whose only content is in them is not stored.
    Preferences (:func:`prefs_allow`) are a separate, later question.
    """
    msg_type = _message_type(stanza)
    # Type rules first: hints never override them (HNT-04, HNT-06).
    if msg_type == "headline":
        return Decision(False, "headline")  # ARC-4, even with <store/>
    if msg_type == "error":
        # ARC-6: a bounce delivered to one of the owner's resources tells them their message
        # failed, so it is kept; ARC-7: an error to the bare JID (e.g. from their own PEP) is
        # noise. An error the owner's client sends out is a protocol reply, not conversation.
        to = try_jid(stanza.get("to"))
        if direction is Direction.IN and to is not None and to.is_full:
            return Decision(True, "bounce")
        return Decision(False, "error")
    if msg_type == "groupchat":
        return Decision(False, "groupchat")  # ARC-5, MUC-11: rooms keep their own archives
    children = list(stanza)
    child_tags = {node.tag for node in children}
    if _MAM_RESULT in child_tags:
        return Decision(False, "mam-result")  # ARC-21, RES-10: archive results never loop back
    if child_tags & _CARBON_WRAPPERS:
        return Decision(False, "carbon")  # ARC-22: the original is archived, never the wrapper
    if _NO_STORE in child_tags:
        return Decision(False, "hint:no-store")  # ARC-13; ARC-15: beats <store/> (HNT-05)
    if _NO_PERMANENT_STORE in child_tags:
        return Decision(False, "hint:no-permanent-store")  # ARC-14
    if _STORE in child_tags:
        return Decision(True, "hint:store")  # ARC-12
    excluded = frozenset(dont_archive_namespaces)
    kept = [node for node in children if split_tag(node.tag)[0] not in excluded]
    return _content_decision(stanza, kept)


def stored_copy(stanza: Element, dont_archive_namespaces: Collection[str]) -> Element:
    """A copy of ``stanza`` without its children in ``dont_archive_namespaces`` (top level only,
    as Prosody does), for the archive; ``stanza`` itself is left untouched for delivery."""
    excluded = frozenset(dont_archive_namespaces)
    copy = deepcopy(stanza)
    for node in list(copy):
        if split_tag(node.tag)[0] in excluded:
            copy.remove(node)
    return copy


def _listed(jids: frozenset[str], target: JID) -> bool:
    # XEP-0441 JID matching: a bare entry matches any resource of the target, a full entry only
    # that exact full JID. Entries are stored prepared, so string equality is JID equality.
    return str(target) in jids or str(target.bare) in jids


def _target(target: JID | str) -> JID:
    return target if isinstance(target, JID) else parse_jid(target)


def prefs_allow(prefs: Prefs, target: JID | str, in_roster: bool) -> Decision:
    """XEP-0441: does ``prefs`` let messages with ``target`` into the archive?

    ``target`` is the contact as the message names it (``to`` of an outgoing message, ``from``
    of an incoming one), full or bare: a full entry on a list matches only that full JID (PRF-06),
    so passing the bare JID makes full entries never apply. A string is prepared first
    (:class:`~garrulus.xmpp.jid.InvalidJID` if it is no JID). ``in_roster`` says whether the
    target's bare JID is in the owner's roster, whatever the subscription (PRF-08). A JID on both
    lists is not archived (PRF-09).
    """
    target = _target(target)
    if _listed(prefs.never, target):
        return Decision(False, "prefs:never")
    if _listed(prefs.always, target):
        return Decision(True, "prefs:always")
    if prefs.default is DefaultPolicy.ALWAYS:
        return Decision(True, "default:always")
    if prefs.default is DefaultPolicy.NEVER:
        return Decision(False, "default:never")
    if in_roster:
        return Decision(True, "default:roster")
    return Decision(False, "default:roster:not-in-roster")


def needs_roster(prefs: Prefs, target: JID | str) -> bool:
    """Whether :func:`prefs_allow` depends on ``in_roster`` for this target, so the caller loads
    the roster only when the answer needs it."""
    target = _target(target)
    return (
        prefs.default is DefaultPolicy.ROSTER
        and not _listed(prefs.never, target)
        and not _listed(prefs.always, target)
    )
