"""The idempotency key of an archived message: stable across versions (rows keep their keys)."""

from __future__ import annotations

import hashlib
from xml.etree.ElementTree import fromstring

from garrulus.modules.mam.archiver import dedup_key
from garrulus.xmpp.jid import parse_jid

STANZA = (
    "<message xmlns='jabber:client' from='alice@h/phone' to='bob@h' type='chat' id='m1'>"
    "<body>hi &gt; there</body>\n  <origin-id xmlns='urn:xmpp:sid:0' id='o1'/>"
    "<active xmlns='http://jabber.org/protocol/chatstates'/></message>"
)


def _children_digest(children: list[str]) -> str:
    # The definition rows were stored under since the first release: each child written on its
    # own with its namespace, whitespace between children not counted.
    digest = hashlib.blake2b(digest_size=12)
    for child in children:
        digest.update(child.encode())
    return digest.hexdigest()


def test_key_of_a_message_with_origin_id() -> None:
    expected = _children_digest(
        [
            "<body xmlns='jabber:client'>hi &gt; there</body>",
            "<origin-id xmlns='urn:xmpp:sid:0' id='o1'/>",
            "<active xmlns='http://jabber.org/protocol/chatstates'/>",
        ]
    )
    key = dedup_key(fromstring(STANZA), parse_jid("alice@h/phone"))
    assert key == f"o|alice@h|o1|{expected}"


def test_key_of_a_message_with_only_an_id_names_the_resource() -> None:
    stanza = fromstring(
        "<message xmlns='jabber:client' id='m2' type='chat'><body>x</body></message>"
    )
    expected = _children_digest(["<body xmlns='jabber:client'>x</body>"])
    assert dedup_key(stanza, parse_jid("alice@h/phone")) == f"i|alice@h/phone|m2|{expected}"


def test_no_id_no_key_and_the_payload_counts() -> None:
    sender = parse_jid("alice@h/phone")
    assert (
        dedup_key(fromstring("<message xmlns='jabber:client'><body>x</body></message>"), sender)
        is None
    )
    a = fromstring("<message xmlns='jabber:client' id='m'><body>one</body></message>")
    b = fromstring("<message xmlns='jabber:client' id='m'><body>two</body></message>")
    assert dedup_key(a, sender) != dedup_key(b, sender)
