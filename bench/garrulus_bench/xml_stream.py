"""An incremental XMPP stream reader: bytes in, one small tree per top-level stanza out.

expat does the parsing; the trees are deliberately tiny (``Node``) because a receiver in the
throughput workload parses one per delivered message and must not become the bottleneck.
"""

from __future__ import annotations

from collections.abc import Callable
from xml.parsers import expat

SEP = "\x01"  # namespace separator: never appears in a namespace URI or a name


class Node:
    __slots__ = ("_text", "attrs", "kids", "name", "ns")

    def __init__(self, ns: str, name: str, attrs: dict[str, str]) -> None:
        self.ns = ns
        self.name = name
        self.attrs = attrs
        self.kids: list[Node] = []
        self._text: list[str] = []

    @property
    def text(self) -> str:
        return "".join(self._text)

    def get(self, attr: str, default: str | None = None) -> str | None:
        return self.attrs.get(attr, default)

    def child(self, name: str, ns: str | None = None) -> Node | None:
        for kid in self.kids:
            if kid.name == name and (ns is None or kid.ns == ns):
                return kid
        return None

    def children(self, name: str, ns: str | None = None) -> list[Node]:
        return [k for k in self.kids if k.name == name and (ns is None or k.ns == ns)]

    def child_text(self, name: str, ns: str | None = None) -> str | None:
        kid = self.child(name, ns)
        return None if kid is None else kid.text

    def __repr__(self) -> str:
        return f"<Node {{{self.ns}}}{self.name} {self.attrs!r} kids={len(self.kids)}>"


def _split(qualified: str) -> tuple[str, str]:
    ns, sep, local = qualified.partition(SEP)
    return (ns, local) if sep else ("", qualified)


class StreamReader:
    """Feed it bytes; it calls ``on_open(attrs)`` for ``<stream:stream>``, ``on_stanza(node)``
    for every complete depth-1 element and ``on_close()`` for ``</stream:stream>``."""

    def __init__(
        self,
        on_open: Callable[[dict[str, str]], None],
        on_stanza: Callable[[Node], None],
        on_close: Callable[[], None],
    ) -> None:
        parser = expat.ParserCreate(namespace_separator=SEP)
        parser.buffer_text = True
        parser.StartElementHandler = self._start
        parser.EndElementHandler = self._end
        parser.CharacterDataHandler = self._text
        self._parser = parser
        self._open = False
        self._stack: list[Node] = []
        self._on_open, self._on_stanza, self._on_close = on_open, on_stanza, on_close

    def feed(self, data: bytes) -> None:
        self._parser.Parse(data, False)

    def _start(self, qname: str, attrs: dict[str, str]) -> None:
        if not self._open:
            self._open = True
            self._on_open(attrs)
            return
        ns, name = _split(qname)
        node = Node(ns, name, attrs)
        stack = self._stack
        if stack:
            stack[-1].kids.append(node)
        stack.append(node)

    def _end(self, _qname: str) -> None:
        stack = self._stack
        if not stack:
            self._on_close()
            return
        node = stack.pop()
        if not stack:
            self._on_stanza(node)

    def _text(self, data: str) -> None:
        if self._stack:
            self._stack[-1]._text.append(data)
