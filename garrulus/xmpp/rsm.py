"""XEP-0059 Result Set Management: the request a client sends and the ``<set/>`` we answer with.

Parsing follows the schema (``<max/>`` and ``<index/>`` are ``xs:int``) and the MAM checklist:
a negative or non-integer number is ``bad-request`` (RSM-04); an empty ``<after/>`` means no
``after`` (RSM-12); an empty ``<before/>`` asks for the last page (RSM-07); ``<after/>`` and
``<before/>`` together are kept both, for the caller to page backwards inside the range (RSM-13).
Whether ``<index/>`` is supported is the caller's decision; it is parsed here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from garrulus.xmpp import ns
from garrulus.xmpp.errors import StanzaError
from garrulus.xmpp.xml import Element, el, qname

__all__ = ["RsmRequest", "build_rsm_result", "parse_rsm", "rsm_in"]

SET = qname(ns.RSM, "set")
# The top of xs:int: a larger <max/> is still a valid request for "as many as you allow", so it
# is clamped here rather than refused; the server's own cap applies after that anyway.
MAX_INT = 2**31 - 1
_XML_SPACE = " \t\r\n"
_UNSIGNED = re.compile(r"\+?([0-9]+)")


@dataclass(frozen=True)
class RsmRequest:
    """A parsed ``<set xmlns='http://jabber.org/protocol/rsm'>`` request.

    ``last_page`` is the empty ``<before/>``; ``before`` is only ever a non-empty id, so the two
    never hold at once. ``RsmRequest()`` is "no <set/> at all".
    """

    max: int | None = None
    after: str | None = None
    before: str | None = None
    last_page: bool = False
    index: int | None = None

    def __post_init__(self) -> None:
        if self.last_page and self.before is not None:
            raise ValueError("last_page is the empty <before/>; it cannot carry an id")
        for name, value in (("max", self.max), ("index", self.index)):
            if value is not None and value < 0:
                raise ValueError(f"RSM {name} must not be negative")
        for name, ident in (("after", self.after), ("before", self.before)):
            if ident == "":
                raise ValueError(f"RSM {name} is None, not empty, when absent")

    @property
    def backwards(self) -> bool:
        """True when the page is taken from the end of the range (``<before/>``, with or without
        an id), so completeness is judged towards older items."""
        return self.last_page or self.before is not None


def _only_child(parent: Element, local: str) -> Element | None:
    found = parent.findall(qname(ns.RSM, local))
    if len(found) > 1:
        raise StanzaError("bad-request", f"RSM <{local}/> appears more than once")
    return found[0] if found else None


def _unsigned(node: Element | None, local: str) -> int | None:
    if node is None:
        return None
    text = (node.text or "").strip(_XML_SPACE)
    match = _UNSIGNED.fullmatch(text)
    if match is None:
        raise StanzaError(
            "bad-request", f"RSM <{local}/> must be a non-negative integer, not {text!r}"
        )
    digits = match[1].lstrip("0") or "0"
    # Compare lengths first: int() of thousands of digits is slow, and refused past 4300.
    if len(digits) > len(str(MAX_INT)):
        return MAX_INT
    return min(int(digits), MAX_INT)


def _ident(node: Element | None) -> str | None:
    if node is None:
        return None
    text = (node.text or "").strip(_XML_SPACE)
    return text or None


def parse_rsm(set_el: Element) -> RsmRequest:
    """Parse an RSM request ``<set/>``; raise ``bad-request`` StanzaErrors for bad numbers."""
    if set_el.tag != SET:
        raise StanzaError("bad-request", "Expected <set xmlns='http://jabber.org/protocol/rsm'/>")
    before_node = _only_child(set_el, "before")
    before = _ident(before_node)
    return RsmRequest(
        max=_unsigned(_only_child(set_el, "max"), "max"),
        after=_ident(_only_child(set_el, "after")),
        before=before,
        last_page=before_node is not None and before is None,
        index=_unsigned(_only_child(set_el, "index"), "index"),
    )


def rsm_in(parent: Element) -> RsmRequest:
    """The RSM request inside ``parent`` (e.g. a MAM ``<query/>``); ``RsmRequest()`` if none."""
    found = parent.findall(SET)
    if len(found) > 1:
        raise StanzaError("bad-request", "More than one RSM <set/>")
    return parse_rsm(found[0]) if found else RsmRequest()


def build_rsm_result(
    first: str | None, last: str | None, count: int | None, first_index: int | None
) -> Element:
    """The ``<set/>`` answering a page (XEP-0059 2.x).

    A page with items has both ``first`` and ``last`` (equal for a one-item page); an empty page
    has neither, and then no ``index`` either, since it is an attribute of ``<first/>``.
    """
    if (first is None) != (last is None):
        raise ValueError("an RSM result has both <first/> and <last/>, or neither")
    result = el(SET)
    if first is not None and last is not None:
        index = None if first_index is None else str(first_index)
        result.append(el(qname(ns.RSM, "first"), {"index": index}, text=first))
        result.append(el(qname(ns.RSM, "last"), text=last))
    if count is not None:
        result.append(el(qname(ns.RSM, "count"), text=str(count)))
    return result
