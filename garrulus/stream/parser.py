"""Sans-I/O incremental parser for XMPP XML streams (RFC 6120 sections 4 and 11).

Bytes go in through :meth:`StreamParser.feed`, events come out: the stream header, each
top-level child of the stream root as an ElementTree element in Clark notation, and the end of
the stream. Anything a server must refuse ends in a :class:`StreamError` carrying the RFC 6120
4.9.3 condition.

Decisions that the RFC leaves to us:

* CDATA sections are accepted and read as ordinary character data. RFC 6120 11.1 prohibits
  comments, processing instructions, DTD subsets and non-predefined entity references; CDATA is
  not in that list, and since stanzas are re-serialised (escaped) before being routed, nothing
  unescaped is ever passed on.
* The "unescaped characters that map to the predefined entities" rule of RFC 6120 11.1 is not
  enforced on input beyond what XML itself requires (``<`` and ``&``): clients routinely send a
  literal ``'`` or ``>`` in text, and refusing them would only break interoperability.
* An XML declaration anywhere but at the very start is a processing instruction in the
  reserved ``xml`` target, so it is ``restricted-xml`` like any other.
* Expat has no DTD to look at (a DOCTYPE ends the stream before its internal subset is read),
  so an undefined entity reference is reported by expat as "undefined entity"; it is mapped
  to ``restricted-xml``, not ``not-well-formed``.
* Text between stanzas other than XML whitespace (RFC 6120 11.7) is ``not-well-formed``, as is
  anything but whitespace after ``</stream:stream>``.
* A stanza's size runs from the ``<`` of its start tag to the ``>`` of its end tag; whitespace
  between stanzas counts towards nothing. Passing ``max_stanza_size``, nesting deeper than
  :data:`MAX_DEPTH` or a header longer than :data:`MAX_HEADER_SIZE` is ``policy-violation``,
  raised by the ``feed`` call that brings the offending byte even if the stanza is unfinished.
* Events produced earlier in the same ``feed`` call as an error are dropped with it: a stream
  error is unrecoverable (RFC 6120 4.9.1.1), and the caller only needs the condition to send.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final
from xml.etree.ElementTree import Element, SubElement
from xml.parsers import expat

from garrulus.xmpp import ns
from garrulus.xmpp.errors import StreamError

__all__ = [
    "MAX_DEPTH",
    "MAX_HEADER_SIZE",
    "StanzaReceived",
    "StreamClosed",
    "StreamEvent",
    "StreamOpened",
    "StreamParser",
]

# Nesting allowed inside a stanza (the stanza itself is depth 1). Real stanzas stay below 10;
# the cap keeps a hostile peer from driving deep recursion in later tree walkers.
MAX_DEPTH: Final = 100
# Bytes allowed from the start of the stream up to the end of the stream header's start tag.
MAX_HEADER_SIZE: Final = 8192


@dataclass(frozen=True, slots=True)
class StreamOpened:
    """The stream header (RFC 6120 4.7): its attributes, namespaced ones in Clark notation."""

    attrs: dict[str, str]


@dataclass(frozen=True, slots=True)
class StanzaReceived:
    """A top-level child of the stream; ``size`` counts its bytes on the wire, tags included."""

    element: Element
    size: int


@dataclass(frozen=True, slots=True)
class StreamClosed:
    """The peer sent ``</stream:stream>`` (RFC 6120 4.4)."""


StreamEvent = StreamOpened | StanzaReceived | StreamClosed

# Expat joins namespace and local name with this separator; prefixing "{" then gives Clark
# notation with a single concatenation.
_SEP: Final = "}"
_STREAM_TAG: Final = ns.STREAM + _SEP + "stream"
_STREAM_NS_PREFIX: Final = ns.STREAM + _SEP
_WHITESPACE: Final = " \t\r\n"
_WHITESPACE_BYTES: Final = b" \t\r\n"

# Expat name -> Clark name, shared by all parsers since nearly every stream uses the same few
# dozen names. Bounded so that a peer inventing names cannot grow it without limit.
_NAMES: dict[str, str] = {}
_NAMES_MAX: Final = 4096

# The end of a start tag: quoted attribute values may hold a raw ">" but never a "<".
_TAG_END: Final = re.compile(rb"""(?:[^>"']|"[^"]*"|'[^']*')*>""")


def _code(name: str) -> int:
    message: str = getattr(expat.errors, name, "")
    return expat.errors.codes.get(message, -1)


# Expat errors that can only come from entity or DTD machinery, i.e. restricted XML rather than
# broken XML (RFC 6120 11.1).
_RESTRICTED_CODES: Final = frozenset(
    _code(name)
    for name in (
        "XML_ERROR_UNDEFINED_ENTITY",
        "XML_ERROR_PARAM_ENTITY_REF",
        "XML_ERROR_RECURSIVE_ENTITY_REF",
        "XML_ERROR_ASYNC_ENTITY",
        "XML_ERROR_BINARY_ENTITY_REF",
        "XML_ERROR_ATTRIBUTE_EXTERNAL_ENTITY_REF",
        "XML_ERROR_EXTERNAL_ENTITY_HANDLING",
        "XML_ERROR_NOT_STANDALONE",
        "XML_ERROR_ENTITY_DECLARED_IN_PE",
        "XML_ERROR_INCOMPLETE_PE",
        "XML_ERROR_AMPLIFICATION_LIMIT_BREACH",
        "XML_ERROR_MISPLACED_XML_PI",
    )
) - {-1}
_NO_MEMORY: Final = _code("XML_ERROR_NO_MEMORY")


def _clark(name: str) -> str:
    tag = _NAMES.get(name)
    if tag is None:
        tag = "{" + name if _SEP in name else name
        if len(_NAMES) < _NAMES_MAX:
            _NAMES[name] = tag
    return tag


def _clark_attrs(attrs: dict[str, str]) -> dict[str, str]:
    for key in attrs:
        if _SEP in key:
            return {_clark(k): v for k, v in attrs.items()}
    return attrs


def _restricted(what: str) -> StreamError:
    return StreamError("restricted-xml", f"{what} is not allowed in XMPP (RFC 6120 11.1)")


class StreamParser:
    """Turns the bytes of one XML stream into :data:`StreamEvent` values.

    One instance parses one stream; the caller makes a new one at every stream restart
    (RFC 6120 4.3.3). ``feed`` raises :class:`StreamError` on anything RFC 6120
    forbids; the parser is then dead and every later ``feed`` raises the same error.
    """

    __slots__ = (
        "_closed_end",
        "_content_ns",
        "_data",
        "_default_ns",
        "_error",
        "_events",
        "_expat",
        "_head",
        "_idle_from",
        "_level",
        "_max",
        "_offset",
        "_opened",
        "_pending",
        "_prev",
        "_stack",
        "_stanza_start",
        "_text_el",
        "_text_is_tail",
        "_total",
    )

    def __init__(self, max_stanza_size: int = 262144, content_namespace: str = ns.CLIENT) -> None:
        self._max = max_stanza_size
        self._content_ns = content_namespace
        self._error: StreamError | None = None
        self._events: list[StreamEvent] = []
        # Open elements, root included: 0 before the header, 1 between stanzas.
        self._level = 0
        self._opened = False
        self._default_ns: str | None = None
        # Elements of the stanza being built, outermost first.
        self._stack: list[Element] = []
        # Where the next character data goes: the text of the element just opened, or the
        # tail of the element just closed.
        self._text_el: Element | None = None
        self._text_is_tail = False
        # Absolute byte positions, so that sizes survive any split of the input.
        self._total = 0
        self._offset = 0
        self._data = b""
        self._prev = b""  # the last non-empty chunk fed before ``_data``
        self._stanza_start = 0
        self._idle_from = 0  # after the last stanza (or header): only whitespace may follow
        self._pending = -1  # start of a tag expat holds back while no stanza is open
        self._closed_end = -1  # just past </stream:stream>, once it has come
        # The stream so far, kept only until the header is parsed (bounded by MAX_HEADER_SIZE).
        self._head = bytearray()

        # The encoding is fixed: RFC 6120 11.6 allows UTF-8 only, and a declared encoding must
        # not switch expat to anything else.
        p = expat.ParserCreate("UTF-8", _SEP)
        self._expat = p
        # Entities stay unexpanded and nothing external is ever fetched; a DOCTYPE is refused
        # before its internal subset is read, so entity amplification cannot happen either.
        p.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
        p.UseForeignDTD(False)
        # Reparse deferral (expat >= 2.6) would hold a complete stanza back until more bytes
        # arrive, which a chat server cannot afford.
        set_deferral = getattr(p, "SetReparseDeferralEnabled", None)
        if set_deferral is not None:
            set_deferral(False)
        p.buffer_text = True
        p.ordered_attributes = False
        p.specified_attributes = True
        p.StartElementHandler = self._on_start
        p.EndElementHandler = self._on_end
        p.CharacterDataHandler = self._on_text
        p.StartNamespaceDeclHandler = self._on_namespace
        p.XmlDeclHandler = self._on_xml_decl
        p.StartDoctypeDeclHandler = self._on_doctype
        p.EntityDeclHandler = self._on_entity_decl
        p.UnparsedEntityDeclHandler = self._on_entity_decl
        p.ExternalEntityRefHandler = self._on_external_entity
        p.SkippedEntityHandler = self._on_skipped_entity
        p.CommentHandler = self._on_comment
        p.ProcessingInstructionHandler = self._on_pi

    def feed(self, data: bytes) -> list[StreamEvent]:
        """Parse the next bytes of the stream and return the events they complete."""
        if self._error is not None:
            raise self._error
        if self._closed_end >= 0:
            # Past the end of the stream expat would still buffer an unfinished comment or PI
            # without limit, so nothing but whitespace reaches it.
            if data.strip(_WHITESPACE_BYTES):
                self._fail(StreamError("not-well-formed", "data after the end of the stream"))
            return []
        events: list[StreamEvent] = []
        self._events = events
        offset = self._total
        total = offset + len(data)
        self._offset = offset
        self._total = total
        self._data = data
        if not self._opened:
            self._head += data
        try:
            self._expat.Parse(data, False)
            level = self._level
            if level > 1:
                # Every byte fed since the stanza began belongs to it, complete or not.
                if total - self._stanza_start > self._max:
                    raise self._too_big()
            elif level == 1:
                # Expat keeps an unfinished tag to itself; find where it started so that a
                # peer cannot grow it without bound before any callback fires.
                if self._pending < 0 and self._idle_from < total:
                    rel = self._idle_from - offset
                    at = data.find(b"<", rel if rel > 0 else 0)
                    if at >= 0:
                        self._pending = offset + at
                if self._pending >= 0 and total - self._pending > self._max:
                    raise self._too_big()
            elif not self._opened:
                if total > MAX_HEADER_SIZE:
                    raise StreamError("policy-violation", "stream header too large")
            elif data[max(self._closed_end - offset, 0) :].strip(_WHITESPACE_BYTES):
                raise StreamError("not-well-formed", "data after the end of the stream")
        except StreamError as exc:
            self._fail(exc)
        except expat.ExpatError as expat_error:
            # A name of its own: compiled (mypyc), one variable has one type.
            self._fail(self._translate(expat_error))
        finally:
            if data:
                self._prev = data
        return events

    def _fail(self, error: StreamError) -> None:
        self._error = error
        self._data = b""
        self._stack = []
        self._head = bytearray()
        raise error

    @staticmethod
    def _translate(exc: expat.ExpatError) -> StreamError:
        message = expat.errors.messages.get(exc.code, str(exc))
        if exc.code in _RESTRICTED_CODES:
            return StreamError("restricted-xml", f"{message} (RFC 6120 11.1)")
        if exc.code == _NO_MEMORY:
            return StreamError("resource-constraint", message)
        return StreamError("not-well-formed", message)

    def _too_big(self) -> StreamError:
        return StreamError("policy-violation", f"stanza larger than {self._max} bytes")

    # Expat callbacks. They run inside ``Parse`` and raise StreamError to stop it.

    def _on_start(self, name: str, attrs: dict[str, str]) -> None:
        level = self._level
        if level > 1:
            if level > MAX_DEPTH:
                raise StreamError("policy-violation", f"stanza nested deeper than {MAX_DEPTH}")
            if self._expat.CurrentByteIndex - self._stanza_start > self._max:
                raise self._too_big()
            tag = _NAMES.get(name) or _clark(name)
            node = SubElement(self._stack[-1], tag, _clark_attrs(attrs) if attrs else attrs)
            self._stack.append(node)
        elif level == 1:
            tag = _NAMES.get(name) or _clark(name)
            node = Element(tag, _clark_attrs(attrs) if attrs else attrs)
            self._stack = [node]
            self._stanza_start = self._expat.CurrentByteIndex
            self._pending = -1
        else:
            self._open_stream(name, attrs)
            self._level = 1
            return
        self._text_el = node
        self._text_is_tail = False
        self._level = level + 1

    def _open_stream(self, name: str, attrs: dict[str, str]) -> None:
        if name != _STREAM_TAG:
            if name.startswith(_STREAM_NS_PREFIX):
                raise StreamError("invalid-namespace", "the stream root must be <stream:stream/>")
            raise StreamError("invalid-namespace", f"the stream root must be in {ns.STREAM}")
        if self._default_ns != self._content_ns:
            raise StreamError(
                "invalid-namespace", f"the default namespace must be {self._content_ns}"
            )
        start = self._expat.CurrentByteIndex
        match = _TAG_END.match(self._head, start + 1)
        end = match.end() if match is not None else len(self._head)
        if end > MAX_HEADER_SIZE:
            raise StreamError("policy-violation", "stream header too large")
        self._opened = True
        self._head = bytearray()
        # Namespace declarations inside stanzas need no checking, so stop paying for them.
        self._expat.StartNamespaceDeclHandler = None
        # A "<" cannot occur inside the start tag, so the next one after the tag's first byte
        # starts the first stanza.
        self._idle_from = start + 1
        self._events.append(StreamOpened(_clark_attrs(attrs)))

    def _on_end(self, name: str) -> None:
        level = self._level - 1
        self._level = level
        if level > 1:
            self._text_el = self._stack.pop()
            self._text_is_tail = True
        elif level == 1:
            node = self._stack[0]
            self._stack = []
            self._text_el = None
            offset = self._offset
            data = self._data
            rel = self._expat.CurrentByteIndex - offset
            # For an empty-element tag expat reports the end event just past its "/>"; for an
            # end tag, at its "</". Only a stanza without content can be either, and then the
            # two bytes before the position tell them apart. The ">" of an empty-element tag
            # came in this call, the "/" at worst in the previous one.
            if (
                node.text is None
                and not len(node)
                and rel > 0
                and data[rel - 1] == 0x3E  # >
                and (data[rel - 2 : rel - 1] if rel > 1 else self._prev[-1:]) == b"/"
            ):
                end = offset + rel
            else:
                # An end tag holds no ">" before its last byte, and expat reports it in the
                # call that delivered that byte: the first ">" from its start (or from the
                # start of this chunk) closes it.
                gt = data.find(b">", rel if rel > 0 else 0)
                end = offset + gt + 1 if gt >= 0 else self._total
            size = end - self._stanza_start
            if size > self._max:
                raise self._too_big()
            self._idle_from = end
            self._events.append(StanzaReceived(node, size))
        else:
            gt = self._data.find(b">", max(self._expat.CurrentByteIndex - self._offset, 0))
            self._closed_end = self._offset + gt + 1 if gt >= 0 else self._total
            # Whatever follows the end of the stream is refused as not-well-formed, however it
            # happens to be split into reads.
            self._expat.CommentHandler = None
            self._expat.ProcessingInstructionHandler = None
            self._events.append(StreamClosed())

    def _on_text(self, text: str) -> None:
        node = self._text_el
        if node is not None:
            if self._text_is_tail:
                node.tail = text if node.tail is None else node.tail + text
            else:
                node.text = text if node.text is None else node.text + text
        elif self._level == 1 and text.strip(_WHITESPACE):
            raise StreamError("not-well-formed", "text between stanzas")

    def _on_namespace(self, prefix: str | None, uri: str) -> None:
        if prefix is None and self._level == 0:
            self._default_ns = uri

    def _on_xml_decl(self, version: str | None, encoding: str | None, standalone: int) -> None:
        if encoding is not None and encoding.upper() not in ("UTF-8", "UTF8"):
            raise StreamError("unsupported-encoding", "only UTF-8 is allowed (RFC 6120 11.6)")

    def _on_doctype(
        self, name: str, sysid: str | None, pubid: str | None, has_internal_subset: int
    ) -> None:
        raise _restricted("a document type declaration")

    def _on_entity_decl(self, *args: object) -> None:
        raise _restricted("an entity declaration")

    def _on_external_entity(self, *args: object) -> int:
        raise _restricted("an external entity")

    def _on_skipped_entity(self, name: str, is_parameter_entity: int) -> None:
        raise _restricted(f"the entity reference &{name};")

    def _on_comment(self, data: str) -> None:
        raise _restricted("a comment")

    def _on_pi(self, target: str, data: str) -> None:
        raise _restricted("a processing instruction")
