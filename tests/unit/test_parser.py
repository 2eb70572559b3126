"""Tests of the incremental XML stream parser against RFC 6120 sections 4 and 11."""

from __future__ import annotations

from typing import Any
from xml.etree.ElementTree import Element

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from garrulus.stream.parser import (
    MAX_DEPTH,
    MAX_HEADER_SIZE,
    StanzaReceived,
    StreamClosed,
    StreamEvent,
    StreamOpened,
    StreamParser,
)
from garrulus.xmpp import ns
from garrulus.xmpp.errors import StreamError
from garrulus.xmpp.xml import to_xml

ROOT = (
    b"<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'"
    b" to='example.com' version='1.0' xml:lang='en'>"
)
HEADER = b"<?xml version='1.0'?>" + ROOT
CLOSE = b"</stream:stream>"
XML_LANG = "{" + ns.XML + "}lang"


# Helpers


Snapshot = tuple[str, tuple[tuple[str, str], ...], str, str, tuple[Any, ...]]


def snapshot(node: Element, *, tail: bool = True) -> Snapshot:
    """Everything that makes two elements equal, with absent and empty text made alike."""
    return (
        node.tag,
        tuple(sorted(node.attrib.items())),
        node.text or "",
        (node.tail or "") if tail else "",
        tuple(snapshot(kid) for kid in node),
    )


def event_key(event: StreamEvent) -> tuple[Any, ...]:
    if isinstance(event, StanzaReceived):
        return ("stanza", snapshot(event.element), event.size)
    if isinstance(event, StreamOpened):
        return ("opened", tuple(sorted(event.attrs.items())))
    return ("closed",)


def feed_chunks(chunks: list[bytes], parser: StreamParser | None = None) -> list[StreamEvent]:
    parser = parser or StreamParser()
    events: list[StreamEvent] = []
    for chunk in chunks:
        events.extend(parser.feed(chunk))
    return events


def bytewise(data: bytes) -> list[bytes]:
    return [data[i : i + 1] for i in range(len(data))]


def stanzas_of(events: list[StreamEvent]) -> list[StanzaReceived]:
    return [e for e in events if isinstance(e, StanzaReceived)]


def error_of(data: bytes, **kwargs: Any) -> StreamError:
    """The error for ``data`` fed whole, checked to be the same when fed byte by byte."""
    with pytest.raises(StreamError) as whole:
        StreamParser(**kwargs).feed(data)
    parser = StreamParser(**kwargs)
    with pytest.raises(StreamError) as split:
        for chunk in bytewise(data):
            parser.feed(chunk)
    assert split.value.condition == whole.value.condition
    return whole.value


def message(body: str = "hi") -> bytes:
    return f"<message to='juliet@example.com' type='chat'><body>{body}</body></message>".encode()


# The stream header and the end of the stream


def test_stream_header_attributes_in_clark_notation() -> None:
    events = StreamParser().feed(HEADER)
    assert events == [
        StreamOpened({"to": "example.com", "version": "1.0", XML_LANG: "en"}),
    ]


def test_header_without_xml_declaration() -> None:
    assert StreamParser().feed(ROOT) == [
        StreamOpened({"to": "example.com", "version": "1.0", XML_LANG: "en"})
    ]


def test_stanzas_and_close() -> None:
    presence = b"<presence/>"
    iq = b"<iq type='get' id='r1'><query xmlns='jabber:iq:roster'/></iq>"
    events = StreamParser().feed(HEADER + message() + presence + iq + CLOSE)
    assert [type(e) for e in events] == [
        StreamOpened,
        StanzaReceived,
        StanzaReceived,
        StanzaReceived,
        StreamClosed,
    ]
    msg, pres, query = stanzas_of(events)
    assert msg.element.tag == "{jabber:client}message"
    assert msg.element.attrib == {"to": "juliet@example.com", "type": "chat"}
    assert msg.element[0].tag == "{jabber:client}body"
    assert msg.element[0].text == "hi"
    assert msg.size == len(message())
    assert pres.element.tag == "{jabber:client}presence"
    assert pres.size == len(presence)
    assert query.element[0].tag == "{jabber:iq:roster}query"
    assert query.size == len(iq)


def test_whitespace_keepalives_are_ignored() -> None:
    parser = StreamParser(max_stanza_size=100)
    events = parser.feed(HEADER + b"\n")
    # Far more whitespace than a stanza may hold: keepalives are not part of any stanza.
    for _ in range(500):
        events += parser.feed(b" ")
    events += parser.feed(b"\r\n\t" + message() + b"  \n" + message("again") + b" ")
    assert [s.element[0].text for s in stanzas_of(events)] == ["hi", "again"]


def test_whitespace_after_close_is_ignored() -> None:
    parser = StreamParser()
    events = parser.feed(HEADER + CLOSE + b" \n")
    assert isinstance(events[-1], StreamClosed)
    assert parser.feed(b"\r\n  ") == []


@pytest.mark.parametrize(
    "after",
    [b"<presence/>", b"x", b"<!-- bye -->", b"<?pi x?>", b"<!--"],
    ids=["element", "text", "comment", "pi", "unfinished-comment"],
)
def test_data_after_close_is_not_well_formed(after: bytes) -> None:
    assert error_of(HEADER + CLOSE + after).condition == "not-well-formed"
    parser = StreamParser()
    parser.feed(HEADER + CLOSE)
    with pytest.raises(StreamError) as raised:
        parser.feed(after)
    assert raised.value.condition == "not-well-formed"


def test_second_root_is_not_well_formed() -> None:
    assert error_of(HEADER + CLOSE + ROOT).condition == "not-well-formed"


def test_parser_is_dead_after_an_error() -> None:
    parser = StreamParser()
    with pytest.raises(StreamError) as first:
        parser.feed(HEADER + b"<message><!-- no --></message>")
    for data in (b" ", message(), b""):
        with pytest.raises(StreamError) as again:
            parser.feed(data)
        assert again.value is first.value


# Restricted XML (RFC 6120 11.1)


@pytest.mark.parametrize(
    "data",
    [
        b"<?xml version='1.0'?><!DOCTYPE stream:stream>" + ROOT,
        b"<!DOCTYPE stream:stream SYSTEM 'http://example.com/evil.dtd'>" + ROOT,
        b"<!DOCTYPE stream:stream PUBLIC '-//X//Y' 'http://example.com/y.dtd'>" + ROOT,
        b"<!DOCTYPE stream:stream [<!ELEMENT stream:stream ANY>]>" + ROOT,
        b"<!DOCTYPE stream:stream [<!ENTITY x 'y'>]>" + ROOT + b"<message>&x;</message>",
        b"<!DOCTYPE s [<!ENTITY % ext SYSTEM 'file:///etc/passwd'> %ext;]>" + ROOT,
        b"<!DOCTYPE s [<!ENTITY ext SYSTEM 'file:///etc/passwd'>]>" + ROOT + b"<a>&ext;</a>",
        # Billion laughs: refused before a single entity is declared, let alone expanded.
        b"<?xml version='1.0'?><!DOCTYPE lolz [<!ENTITY lol 'lol'>"
        + b"".join(
            f"<!ENTITY lol{i} '{('&lol' + str(i - 1) + ';') * 10}'>".encode() for i in range(1, 10)
        ).replace(b"&lol0;", b"&lol;")
        + b"]>"
        + ROOT
        + b"<message><body>&lol9;</body></message>",
    ],
    ids=[
        "doctype",
        "doctype-system",
        "doctype-public",
        "internal-subset",
        "entity-declaration",
        "external-parameter-entity",
        "external-entity",
        "billion-laughs",
    ],
)
def test_dtd_is_restricted(data: bytes) -> None:
    assert error_of(data).condition == "restricted-xml"


@pytest.mark.parametrize(
    "data",
    [
        HEADER + b"<message><body>&nbsp;</body></message>",
        HEADER + b"<message to='&foo;'/>",
        HEADER + b"<message><body>a &copy; b</body></message>",
        HEADER + b"&amp2;",
    ],
    ids=["in-text", "in-attribute", "html-entity", "between-stanzas"],
)
def test_undefined_entity_reference_is_restricted(data: bytes) -> None:
    assert error_of(data).condition == "restricted-xml"


@pytest.mark.parametrize(
    "data",
    [
        b"<?xml version='1.0'?><?xml-stylesheet href='a.xsl'?>" + ROOT,
        HEADER + b"<?php echo 1; ?>",
        HEADER + b"<message><?target data?></message>",
        HEADER + b"<message><body>x<?target?></body></message>",
        # Only the very first bytes may hold the XML declaration.
        HEADER + b"<?xml version='1.0'?>",
        b" <?xml version='1.0'?>" + ROOT,
    ],
    ids=["prolog", "between-stanzas", "in-stanza", "nested", "xml-decl-mid", "xml-decl-late"],
)
def test_processing_instruction_is_restricted(data: bytes) -> None:
    assert error_of(data).condition == "restricted-xml"


@pytest.mark.parametrize(
    "data",
    [
        b"<?xml version='1.0'?><!-- hello -->" + ROOT,
        HEADER + b"<!-- keepalive -->",
        HEADER + b"<message><!-- x --><body>a</body></message>",
        HEADER + b"<message><body>a<!---->b</body></message>",
    ],
    ids=["prolog", "between-stanzas", "in-stanza", "empty-in-text"],
)
def test_comment_is_restricted(data: bytes) -> None:
    assert error_of(data).condition == "restricted-xml"


def test_predefined_entities_and_character_references_are_allowed() -> None:
    data = (
        HEADER
        + b"<message to='a&amp;b&apos;&quot;&lt;&gt;'>"
        + b"<body>&lt;&gt;&amp;&quot;&apos; &#233;&#xe9;&#x1F600;&#10;</body></message>"
    )
    (stanza,) = stanzas_of(StreamParser().feed(data))
    assert stanza.element.attrib == {"to": "a&b'\"<>"}
    assert stanza.element[0].text == "<>&\"' \xe9\xe9\U0001f600\n"


def test_cdata_section_is_read_as_text() -> None:
    # RFC 6120 11.1 does not list CDATA sections among the prohibited features; they are
    # accepted and merged into the text around them.
    data = HEADER + b"<message><body>a<![CDATA[<b>&amp;</b>]]>z</body></message>"
    (stanza,) = stanzas_of(feed_chunks(bytewise(data)))
    assert stanza.element[0].text == "a<b>&amp;</b>z"
    assert stanza.size == len(data) - len(HEADER)


def test_whitespace_only_cdata_between_stanzas_is_a_keepalive() -> None:
    events = StreamParser().feed(HEADER + b"<![CDATA[ \n ]]>" + message())
    assert len(stanzas_of(events)) == 1


def test_cdata_text_between_stanzas_is_not_well_formed() -> None:
    assert error_of(HEADER + b"<![CDATA[x]]>").condition == "not-well-formed"


@pytest.mark.parametrize(
    "declaration",
    [b"<?xml version='1.0' encoding='ISO-8859-1'?>", b"<?xml version='1.0' encoding='UTF-16'?>"],
    ids=["latin-1", "utf-16"],
)
def test_encoding_other_than_utf8_is_unsupported(declaration: bytes) -> None:
    assert error_of(declaration + ROOT).condition == "unsupported-encoding"


def test_declared_utf8_is_accepted() -> None:
    events = StreamParser().feed(b"<?xml version='1.0' encoding='utf-8'?>" + ROOT)
    assert isinstance(events[0], StreamOpened)


# Malformed XML


@pytest.mark.parametrize(
    "data",
    [
        HEADER + b"<message><body>x</message>",
        HEADER + b"<message></presence>",
        HEADER + b"</message>",
        HEADER + b"<message>\xff</message>",
        HEADER + b"<message>\xc0\xaf</message>",  # overlong "/"
        HEADER + b"<message>\xed\xa0\x80</message>",  # an encoded surrogate
        HEADER + b"<message>\xe2\x82</message>",  # truncated sequence
        HEADER + b"<message>\x01</message>",
        HEADER + b"<message>&#0;</message>",
        HEADER + b"<message a='1' a='2'/>",
        HEADER + b"<message a=1/>",
        HEADER + b"<message>a < b</message>",
        HEADER + b"<message>a & b</message>",
        HEADER + b"<foo:message/>",
        HEADER + b"<message foo:to='x'/>",
        HEADER + b"<message xmlns:p=''/>",
        HEADER + b"hello",
        HEADER + "\u00a0".encode(),  # not XML whitespace
        HEADER + b"<presence/>stray<presence/>",
        b"hello" + ROOT,
        b"<stream:stream xmlns='jabber:client'>",  # the stream prefix is unbound
    ],
    ids=[
        "mismatched",
        "mismatched-stanza",
        "unopened",
        "bad-byte",
        "overlong-utf8",
        "surrogate-utf8",
        "truncated-utf8",
        "control-char",
        "bad-char-ref",
        "duplicate-attribute",
        "unquoted-attribute",
        "raw-lt",
        "raw-amp",
        "undefined-prefix",
        "undefined-attribute-prefix",
        "undeclared-prefix",
        "text-between-stanzas",
        "nbsp-between-stanzas",
        "text-after-stanza",
        "text-before-root",
        "unbound-root-prefix",
    ],
)
def test_malformed_xml(data: bytes) -> None:
    assert error_of(data).condition == "not-well-formed"


# Namespaces (RFC 6120 4.8 and 4.9.3.10)


@pytest.mark.parametrize(
    "root",
    [
        b"<stream:stream xmlns='jabber:client' xmlns:stream='http://example.com/streams'>",
        b"<stream:features xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>",
        b"<stream xmlns='jabber:client'>",
        b"<stream>",
        b"<stream:stream xmlns:stream='http://etherx.jabber.org/streams'>",
        b"<stream:stream xmlns='jabber:server' xmlns:stream='http://etherx.jabber.org/streams'>",
        b"<stream:stream xmlns='urn:other' xmlns:stream='http://etherx.jabber.org/streams'>",
        b"<stream xmlns='http://etherx.jabber.org/streams'>",
    ],
    ids=[
        "wrong-stream-namespace",
        "wrong-root-name",
        "root-in-content-namespace",
        "root-in-no-namespace",
        "no-default-namespace",
        "server-namespace-on-client-stream",
        "unknown-default-namespace",
        "default-namespace-is-streams",
    ],
)
def test_invalid_namespace(root: bytes) -> None:
    assert error_of(root).condition == "invalid-namespace"


def test_content_namespace_is_configurable() -> None:
    root = b"<stream:stream xmlns='jabber:server' xmlns:stream='http://etherx.jabber.org/streams'>"
    events = StreamParser(content_namespace=ns.SERVER).feed(root + b"<message/>")
    assert stanzas_of(events)[0].element.tag == "{jabber:server}message"
    with pytest.raises(StreamError) as raised:
        StreamParser(content_namespace=ns.SERVER).feed(ROOT)
    assert raised.value.condition == "invalid-namespace"


def test_stream_prefix_is_not_fixed() -> None:
    root = b"<s:stream xmlns='jabber:client' xmlns:s='http://etherx.jabber.org/streams'>"
    events = StreamParser().feed(root + b"<presence/></s:stream>")
    assert [type(e) for e in events] == [StreamOpened, StanzaReceived, StreamClosed]


def test_stanza_namespaces_are_reported_not_judged() -> None:
    data = (
        HEADER
        + b"<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>"
        + b"<stream:error><host-unknown xmlns='urn:ietf:params:xml:ns:xmpp-streams'/>"
        + b"</stream:error>"
        + b"<odd xmlns=''/>"
        + b"<x:message xmlns:x='jabber:client' x:type='chat' xml:lang='fr'/>"
    )
    tls, error, odd, msg = (s.element for s in stanzas_of(StreamParser().feed(data)))
    assert tls.tag == "{urn:ietf:params:xml:ns:xmpp-tls}starttls"
    assert error.tag == "{http://etherx.jabber.org/streams}error"
    assert error[0].tag == "{urn:ietf:params:xml:ns:xmpp-streams}host-unknown"
    assert odd.tag == "odd"
    assert msg.tag == "{jabber:client}message"
    assert msg.attrib == {"{jabber:client}type": "chat", XML_LANG: "fr"}


# Size limits


def sized_message(size: int) -> bytes:
    data = message("")
    data = message("x" * (size - len(data)))
    assert len(data) == size
    return data


def sized_presence(size: int) -> bytes:
    data = b"<presence id=''/>"
    data = b"<presence id='" + b">" * (size - len(data)) + b"'/>"
    assert len(data) == size
    return data


@pytest.mark.parametrize("make", [sized_message, sized_presence], ids=["message", "empty"])
@pytest.mark.parametrize("split", [False, True], ids=["whole", "bytewise"])
def test_stanza_of_exactly_the_limit_passes(make: Any, split: bool) -> None:
    limit = 200
    stanza = make(limit)
    data = HEADER + stanza + b" " + stanza + CLOSE
    events = feed_chunks(bytewise(data) if split else [data], StreamParser(limit))
    assert [s.size for s in stanzas_of(events)] == [limit, limit]
    assert isinstance(events[-1], StreamClosed)


@pytest.mark.parametrize("make", [sized_message, sized_presence], ids=["message", "empty"])
def test_stanza_one_byte_over_the_limit_fails(make: Any) -> None:
    limit = 200
    error = error_of(HEADER + make(limit + 1) + CLOSE, max_stanza_size=limit)
    assert error.condition == "policy-violation"


@pytest.mark.parametrize(
    "prefix",
    [b"<message><body>", b"<message to='", b"<mess", b"<"],
    ids=["in-text", "in-start-tag", "in-name", "bare-lt"],
)
def test_oversized_stanza_fails_as_soon_as_the_limit_is_passed(prefix: bytes) -> None:
    limit = 100
    parser = StreamParser(limit)
    parser.feed(HEADER + b"  " + message() + b" ")
    parser.feed(prefix)
    # The stanza reaches exactly the limit without an error...
    for _ in range(limit - len(prefix)):
        parser.feed(b"a")
    # ...and the first byte past it is refused, though the stanza is still unfinished.
    with pytest.raises(StreamError) as raised:
        parser.feed(b"a")
    assert raised.value.condition == "policy-violation"


def test_oversized_stanza_in_one_chunk_fails() -> None:
    assert (
        error_of(HEADER + sized_message(1000), max_stanza_size=999).condition == "policy-violation"
    )


def test_depth_limit() -> None:
    def nested(depth: int) -> bytes:
        return b"<a>" * depth + b"</a>" * depth

    events = StreamParser().feed(HEADER + nested(MAX_DEPTH))
    assert len(stanzas_of(events)) == 1
    assert error_of(HEADER + nested(MAX_DEPTH + 1)).condition == "policy-violation"


def padded_root(size: int) -> bytes:
    data = ROOT[:-1] + b" id=''>"
    data = ROOT[:-1] + b" id='" + b"x" * (size - len(data)) + b"'>"
    assert len(data) == size
    return data


def test_header_of_exactly_the_limit_passes() -> None:
    data = padded_root(MAX_HEADER_SIZE)
    for chunks in ([data + message()], bytewise(data + message())):
        events = feed_chunks(chunks)
        assert [type(e) for e in events] == [StreamOpened, StanzaReceived]


def test_header_over_the_limit_fails() -> None:
    assert error_of(padded_root(MAX_HEADER_SIZE + 1) + message()).condition == "policy-violation"


def test_endless_header_fails_once_past_the_limit() -> None:
    parser = StreamParser()
    fed = ROOT[:-1] + b" id='"
    parser.feed(fed)
    with pytest.raises(StreamError) as raised:
        while len(fed) <= MAX_HEADER_SIZE:
            fed += b"x"
            parser.feed(b"x")
    assert raised.value.condition == "policy-violation"
    assert len(fed) == MAX_HEADER_SIZE + 1


# Reads split anywhere

SPLIT_STANZAS = [
    message("caf\xe9 \u20ac \U0001f99c &amp; &lt;x&gt; &#x1F600;"),
    b"<presence/>",
    b"<presence status='a&gt;b' extra=\"x>y/\"/>",
    "<message xml:lang='fr'><body>d\xe9j\xe0 vu</body><thread>t</thread>tail\u20ac"
    "</message  >".encode(),
    b"<iq type='result' id='1'><query xmlns='jabber:iq:roster'><item jid='\xe2\x82\xac@x'/>"
    b"<item jid='b@x' name='\xf0\x9f\x98\x80'>\n  <group>G</group>\n</item></query></iq>",
    b"<message><body>a<![CDATA[<\xc3\xa9>]]>b</body></message>",
    b"<a></a>",
]
SPLIT_STREAM = HEADER + b"\n" + b" ".join(SPLIT_STANZAS) + b"\n \n" + CLOSE


def test_split_stream_reference() -> None:
    events = StreamParser().feed(SPLIT_STREAM)
    assert [s.size for s in stanzas_of(events)] == [len(s) for s in SPLIT_STANZAS]
    assert isinstance(events[0], StreamOpened)
    assert isinstance(events[-1], StreamClosed)
    assert len(events) == len(SPLIT_STANZAS) + 2


def test_split_at_every_offset_gives_identical_events() -> None:
    expected = [event_key(e) for e in StreamParser().feed(SPLIT_STREAM)]
    for cut in range(len(SPLIT_STREAM) + 1):
        events = feed_chunks([SPLIT_STREAM[:cut], SPLIT_STREAM[cut:]])
        assert [event_key(e) for e in events] == expected, cut


def test_split_at_every_pair_of_offsets_in_a_stanza() -> None:
    stanza = SPLIT_STANZAS[3]
    start = SPLIT_STREAM.index(stanza)
    expected = [event_key(e) for e in StreamParser().feed(SPLIT_STREAM)]
    for first in range(start, start + len(stanza) + 1):
        for second in range(first, start + len(stanza) + 2):
            chunks = [SPLIT_STREAM[:first], SPLIT_STREAM[first:second], SPLIT_STREAM[second:]]
            assert [event_key(e) for e in feed_chunks(chunks)] == expected, (first, second)


def test_byte_by_byte_gives_identical_events() -> None:
    expected = [event_key(e) for e in StreamParser().feed(SPLIT_STREAM)]
    assert [event_key(e) for e in feed_chunks(bytewise(SPLIT_STREAM))] == expected


def test_events_come_as_soon_as_a_stanza_is_complete() -> None:
    parser = StreamParser()
    parser.feed(HEADER)
    stanza = message()
    for i, byte in enumerate(bytewise(stanza)):
        events = parser.feed(byte)
        assert len(events) == (1 if i == len(stanza) - 1 else 0)


# Round trip of random stanzas through the XMPP writer

NAMESPACES = [ns.CLIENT, "urn:example:a", "urn:example:b", ns.CHATSTATES, ""]
ATTR_NAMESPACES = ["urn:example:attr", ns.XML, "urn:example:b"]


xml_text = st.text(
    st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters="\ufffe\uffff")
    | st.sampled_from("<>&'\"\r\n\t ]"),
    max_size=12,
)
names = st.text(st.sampled_from("abcXYZ_\xe9\u4e2d"), min_size=1, max_size=3).map(
    lambda s: s + "-0."
) | st.sampled_from(["body", "to", "id", "x"])
attr_names = names | st.builds(
    lambda uri, local: "{" + uri + "}" + local, st.sampled_from(ATTR_NAMESPACES), names
)


@st.composite
def elements(draw: st.DrawFn, depth: int = 0) -> Element:
    uri = draw(st.sampled_from(NAMESPACES))
    local = draw(names)
    node = Element(
        "{" + uri + "}" + local if uri else local,
        draw(st.dictionaries(attr_names, xml_text, max_size=3)),
    )
    node.text = draw(st.none() | xml_text)
    if depth < 2:
        for kid in draw(st.lists(elements(depth + 1), max_size=2)):
            kid.tail = draw(st.none() | xml_text)
            node.append(kid)
    return node


def parsed_form(node: Element, *, top: bool = True) -> Snapshot:
    """What a conforming parser must give back: exactly the original text.

    ``to_xml`` escapes CR (as ``&#13;``) in text and attributes, so XML's line-end
    normalisation (XML 2.11) cannot turn it into LF on the way.
    """

    def norm(text: str | None) -> str:
        return text or ""

    return (
        node.tag,
        tuple(sorted(node.attrib.items())),
        norm(node.text),
        "" if top else norm(node.tail),
        tuple(parsed_form(kid, top=False) for kid in node),
    )


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    stanzas=st.lists(elements(), min_size=1, max_size=5),
    gaps=st.lists(st.sampled_from(["", " ", "\n", "\r\n\t "]), min_size=5, max_size=5),
    data=st.data(),
)
def test_random_stanzas_round_trip_in_any_chunks(
    stanzas: list[Element], gaps: list[str], data: st.DataObject
) -> None:
    wire = [to_xml(s).encode() for s in stanzas]
    stream = HEADER + b"".join(gaps[i].encode() + w for i, w in enumerate(wire)) + CLOSE
    cuts = sorted(data.draw(st.lists(st.integers(0, len(stream)), max_size=12)))
    chunks = [stream[a:b] for a, b in zip([0, *cuts], [*cuts, len(stream)], strict=True)]
    events = feed_chunks(chunks)
    received = stanzas_of(events)
    assert [snapshot(r.element, tail=False) for r in received] == [parsed_form(s) for s in stanzas]
    assert [r.size for r in received] == [len(w) for w in wire]
    assert isinstance(events[-1], StreamClosed)
