"""XML elements for stanzas: ElementTree elements in Clark notation, and an XMPP-style writer.

ElementTree's own serializer invents ``ns0:`` prefixes, which several clients mishandle, so
stanzas are written here with default-namespace declarations only where the namespace changes.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from xml.etree.ElementTree import Element

from garrulus.xmpp import ns

__all__ = ["Element", "child", "children", "el", "qname", "split_tag", "text_of", "to_xml"]

_XML_PREFIX = "{" + ns.XML + "}"


def qname(namespace: str, local: str) -> str:
    """The Clark-notation tag ``{namespace}local``."""
    return "{" + namespace + "}" + local


def split_tag(tag: str) -> tuple[str, str]:
    """``{ns}local`` -> ``(ns, local)``; a tag with no namespace gives ``("", tag)``."""
    if tag[:1] == "{":
        end = tag.index("}")
        return tag[1:end], tag[end + 1 :]
    return "", tag


def el(
    tag: str,
    attrs: Mapping[str, str | None] | None = None,
    *kids: Element,
    text: str | None = None,
) -> Element:
    """Build an element; attributes whose value is None are left out."""
    node = Element(tag, {k: v for k, v in (attrs or {}).items() if v is not None})
    if text is not None:
        node.text = text
    node.extend(kids)
    return node


def child(parent: Element, tag: str) -> Element | None:
    """The first child with this Clark tag, or None."""
    return parent.find(tag)


def children(parent: Element, tag: str) -> list[Element]:
    return parent.findall(tag)


def text_of(parent: Element, tag: str) -> str | None:
    node = parent.find(tag)
    if node is None:
        return None
    return node.text or ""


def _escape_text(value: str) -> str:
    if "&" in value:
        value = value.replace("&", "&amp;")
    if "<" in value:
        value = value.replace("<", "&lt;")
    if ">" in value:
        value = value.replace(">", "&gt;")
    if "\r" in value:
        value = value.replace("\r", "&#13;")  # a raw CR would be normalised to LF by the reader
    return value


def _escape_attr(value: str) -> str:
    value = _escape_text(value)
    if "'" in value:
        value = value.replace("'", "&apos;")
    if '"' in value:
        value = value.replace('"', "&quot;")
    if "\n" in value or "\r" in value or "\t" in value:
        value = value.replace("\n", "&#10;").replace("\r", "&#13;").replace("\t", "&#9;")
    return value


def _attr_name(name: str, prefixes: dict[str, str], decls: list[str]) -> str:
    if name[:1] != "{":
        return name
    if name.startswith(_XML_PREFIX):
        return "xml:" + name[len(_XML_PREFIX) :]
    uri, local = split_tag(name)
    prefix = prefixes.get(uri)
    if prefix is None:
        prefix = f"ns{len(prefixes)}"
        prefixes[uri] = prefix
        decls.append(f" xmlns:{prefix}='{_escape_attr(uri)}'")
    return f"{prefix}:{local}"


_STREAM_NS = ns.STREAM

# (tag, namespace in scope) -> (start of the start tag, end tag, namespace for the children).
# Stanzas use a few dozen tags, so this is small; the cap keeps a client inventing tags from
# growing it.
_Shape = tuple[str, str, str]
_SHAPES: dict[tuple[str, str], _Shape] = {}
_MAX_SHAPES = 4096


def _shape(tag: str, parent_ns: str) -> _Shape:
    uri, local = split_tag(tag)
    if uri == _STREAM_NS:
        # Stream-level elements use the stream: prefix the stream header declared, and leave
        # the default namespace in scope for their children.
        shape = ("<stream:" + local, "</stream:" + local + ">", parent_ns)
    elif uri != parent_ns:
        shape = (f"<{local} xmlns='{_escape_attr(uri)}'", "</" + local + ">", uri)
    else:
        shape = ("<" + local, "</" + local + ">", uri)
    if len(_SHAPES) < _MAX_SHAPES:
        _SHAPES[(tag, parent_ns)] = shape
    return shape


def _write(node: Element, parent_ns: str, out: list[str]) -> None:
    # The hot path of every stanza sent: kept flat, with the per-tag work looked up.
    shape = _SHAPES.get((node.tag, parent_ns)) or _shape(node.tag, parent_ns)
    out.append(shape[0])
    attrib = node.attrib
    if attrib:
        prefixes: dict[str, str] | None = None
        decls: list[str] = []
        for name, value in attrib.items():
            if name[:1] == "{":
                if prefixes is None:
                    prefixes = {}
                name = _attr_name(name, prefixes, decls)
            out.append(f" {name}='{_escape_attr(value)}'")
        if decls:
            out.extend(decls)
    text = node.text
    if text is None and not len(node):
        out.append("/>")
        return
    out.append(">")
    if text:
        out.append(_escape_text(text))
    uri = shape[2]
    for kid in node:
        _write(kid, uri, out)
        if kid.tail:
            out.append(_escape_text(kid.tail))
    out.append(shape[1])


def to_xml(node: Element, parent_ns: str = ns.CLIENT) -> str:
    """Serialise ``node`` as it appears inside a stream whose default namespace is ``parent_ns``."""
    out: list[str] = []
    _write(node, parent_ns, out)
    return "".join(out)


def parse_client_xml(text: str) -> Element:
    """Parse one stanza written by :func:`to_xml` (default namespace jabber:client)."""
    from xml.etree.ElementTree import fromstring

    return fromstring(f"<w xmlns='{ns.CLIENT}'>{text}</w>")[0]


def to_xml_many(nodes: Iterable[Element], parent_ns: str = ns.CLIENT) -> str:
    out: list[str] = []
    for node in nodes:
        _write(node, parent_ns, out)
    return "".join(out)
