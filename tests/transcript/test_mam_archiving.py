"""Checklist section 2 (which messages are archived, rows ARC-1..31) end to end, with the lines
that lean on it: HNT (hints), CRB-03/04 (forking, no-copy), RET (retractions), OFF (offline).

The policy itself has unit tests (tests/unit/test_mam_policy.py); here each row is a message sent
through the server and looked for in both archives.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from xml.etree.ElementTree import Element, fromstring

import pytest

from garrulus.core.server import Server
from garrulus.modules.mam.archiver import dedup_key
from garrulus.storage.api import ArchiveQuery, NewArchiveItem
from garrulus.xmpp.jid import parse_jid
from tests.harness import FakeSession, Transcript, login, logout, send, start_server
from tests.transcript.test_mam_support import MAM, MODULES, query

SID = "urn:xmpp:sid:0"
CHATSTATES = "http://jabber.org/protocol/chatstates"


@dataclass
class Pair:
    server: Server
    alice: FakeSession
    bob: FakeSession
    live: list[Element] = field(default_factory=list)  # what Alice's session was sent

    async def bob_sends(self, stanza: str) -> list[str]:
        """Bob sends ``stanza`` (to Alice); returns what each archive holds now, as
        ``["alice:<id attr>", "bob:<id attr>"]`` entries."""
        await send(self.server, self.bob, stanza)
        self.live += self.alice.take()
        return await self.archived()

    async def archived(self) -> list[str]:
        out = []
        for name, session in (("alice", self.alice), ("bob", self.bob)):
            page = await query(
                self.server,
                session,
                rsm="<set xmlns='http://jabber.org/protocol/rsm'><max>50</max></set>",
            )
            out += [f"{name}:{page.inner(i).get('id')}" for i in range(len(page.results))]
        return out


@pytest.fixture
async def pair(tmp_path: Path) -> AsyncIterator[Pair]:
    server = await start_server(tmp_path, MODULES)
    p = Pair(
        server, await login(server, "alice@localhost/a"), await login(server, "bob@localhost/b")
    )
    yield p
    await server.stop()


BOTH = ["alice:m", "bob:m"]
NONE: list[str] = []


# ---------------------------------------------------------------- content rows


async def test_arc_01_chat_with_body(pair: Pair) -> None:
    got = await pair.bob_sends(
        "<message to='alice@localhost' type='chat' id='m'><body>hi</body></message>"
    )
    assert got == BOTH


async def test_arc_02_normal_or_untyped_with_body(pair: Pair) -> None:
    await pair.bob_sends(
        "<message to='alice@localhost' type='normal' id='m'><body>hi</body></message>"
    )
    got = await pair.bob_sends("<message to='alice@localhost' id='n'><body>hi</body></message>")
    assert got == ["alice:m", "alice:n", "bob:m", "bob:n"]


async def test_arc_03_empty_body(pair: Pair) -> None:
    assert (
        await pair.bob_sends("<message to='alice@localhost' type='chat' id='m'><body/></message>")
        == BOTH
    )


async def test_arc_04_headline_never(pair: Pair) -> None:
    # HNT-06: <store/> does not override the type rule.
    got = await pair.bob_sends(
        "<message to='alice@localhost' type='headline' id='m'><body>news</body>"
        "<store xmlns='urn:xmpp:hints'/></message>"
    )
    assert got == NONE
    assert len(pair.live) == 1  # still delivered


async def test_arc_05_groupchat_not_in_user_archives(pair: Pair) -> None:
    got = await pair.bob_sends(
        "<message to='alice@localhost/a' type='groupchat' id='m'><body>room talk</body>"
        "<store xmlns='urn:xmpp:hints'/></message>"
    )
    assert got == NONE


async def test_arc_06_error_to_full_jid_is_kept_as_bounce(pair: Pair) -> None:
    got = await pair.bob_sends(
        "<message to='alice@localhost/a' type='error' id='m'><body>hi</body>"
        "<error type='cancel'><service-unavailable xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/>"
        "</error></message>"
    )
    assert got == ["alice:m"]  # the sender of an error reply keeps no copy of it


async def test_arc_07_error_to_bare_jid_is_not_kept(pair: Pair) -> None:
    # HNT-04: hints inside an error are ignored; the error rule decides.
    got = await pair.bob_sends(
        "<message to='alice@localhost' type='error' id='m'><store xmlns='urn:xmpp:hints'/>"
        "<error type='cancel'><item-not-found xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/>"
        "</error></message>"
    )
    assert got == NONE


async def test_arc_08_chat_state_only_is_not_kept(pair: Pair) -> None:
    got = await pair.bob_sends(
        f"<message to='alice@localhost' type='chat' id='m'><composing xmlns='{CHATSTATES}'/>"
        "</message>"
    )
    assert got == NONE
    (live,) = pair.live
    assert live.find(f"{{{CHATSTATES}}}composing") is not None


async def test_arc_09_body_with_chat_state_kept_without_the_state(pair: Pair) -> None:
    got = await pair.bob_sends(
        "<message to='alice@localhost' type='chat' id='m'><body>hi</body>"
        f"<active xmlns='{CHATSTATES}'/></message>"
    )
    assert got == BOTH
    (live,) = pair.live
    assert live.find(f"{{{CHATSTATES}}}active") is not None  # delivered whole
    stored = (await query(pair.server, pair.alice)).inner(0)
    assert stored.find(f"{{{CHATSTATES}}}active") is None  # archived without it


async def test_arc_10_receipts_are_kept(pair: Pair) -> None:
    got = await pair.bob_sends(
        "<message to='alice@localhost' type='chat' id='m'>"
        "<received xmlns='urn:xmpp:receipts' id='x1'/></message>"
    )
    assert got == BOTH


async def test_arc_11_chat_markers_are_kept(pair: Pair) -> None:
    got = await pair.bob_sends(
        "<message to='alice@localhost' type='chat' id='m'>"
        "<displayed xmlns='urn:xmpp:chat-markers:0' id='x1'/></message>"
    )
    assert got == BOTH


async def test_arc_12_store_hint_without_body(pair: Pair) -> None:
    # HNT-03: an OMEMO-style message without a body.
    got = await pair.bob_sends(
        "<message to='alice@localhost' type='chat' id='m'>"
        "<encrypted xmlns='eu.siacs.conversations.axolotl'><payload>AAAA</payload></encrypted>"
        "<store xmlns='urn:xmpp:hints'/></message>"
    )
    assert got == BOTH


async def test_arc_13_no_store(pair: Pair) -> None:
    got = await pair.bob_sends(
        "<message to='alice@localhost' type='chat' id='m'><body>secret</body>"
        "<no-store xmlns='urn:xmpp:hints'/></message>"
    )
    assert got == NONE


async def test_arc_14_no_permanent_store(pair: Pair) -> None:
    got = await pair.bob_sends(
        "<message to='alice@localhost' type='chat' id='m'><body>secret</body>"
        "<no-permanent-store xmlns='urn:xmpp:hints'/></message>"
    )
    assert got == NONE


async def test_arc_15_store_and_no_store_no_store_wins(pair: Pair) -> None:
    got = await pair.bob_sends(
        "<message to='alice@localhost' type='chat' id='m'><body>x</body>"
        "<store xmlns='urn:xmpp:hints'/><no-store xmlns='urn:xmpp:hints'/></message>"
    )
    assert got == NONE


async def test_arc_16_subject_only(pair: Pair) -> None:
    got = await pair.bob_sends(
        "<message to='alice@localhost' type='chat' id='m'><subject>topic</subject></message>"
    )
    assert got == BOTH


async def test_arc_17_eme_without_body(pair: Pair) -> None:
    got = await pair.bob_sends(
        "<message to='alice@localhost' type='chat' id='m'>"
        "<encryption xmlns='urn:xmpp:eme:0' namespace='urn:xmpp:openpgp:0'/>"
        "<openpgp xmlns='urn:xmpp:openpgp:0'>x</openpgp></message>"
    )
    assert got == BOTH


async def test_arc_18_muc_invites(pair: Pair) -> None:
    await pair.bob_sends(
        "<message to='alice@localhost' id='m1'>"
        "<x xmlns='jabber:x:conference' jid='room@conference.localhost'/></message>"
    )
    got = await pair.bob_sends(
        "<message to='alice@localhost' id='m2'><x xmlns='http://jabber.org/protocol/muc#user'>"
        "<invite from='bob@localhost'/></x></message>"
    )
    assert got == ["alice:m1", "alice:m2", "bob:m1", "bob:m2"]


async def test_arc_19_jingle_message_initiation(pair: Pair) -> None:
    got = await pair.bob_sends(
        "<message to='alice@localhost' type='chat' id='m'>"
        "<propose xmlns='urn:xmpp:jingle-message:0' id='call1'>"
        "<description xmlns='urn:xmpp:jingle:apps:rtp:1' media='audio'/></propose></message>"
    )
    assert got == BOTH


async def test_arc_20_delay_child_does_not_matter(pair: Pair) -> None:
    got = await pair.bob_sends(
        "<message to='alice@localhost' type='chat' id='m'><body>x</body>"
        "<delay xmlns='urn:xmpp:delay' stamp='2020-01-01T00:00:00Z'/></message>"
    )
    assert got == BOTH


async def test_arc_21_mam_result_never(pair: Pair) -> None:
    got = await pair.bob_sends(
        "<message to='alice@localhost' type='chat' id='m'><body>x</body>"
        "<store xmlns='urn:xmpp:hints'/>"
        f"<result xmlns='{MAM}' id='r'/></message>"
    )
    assert got == NONE


async def test_arc_22_carbon_wrappers_never(pair: Pair) -> None:
    got = await pair.bob_sends(
        "<message to='alice@localhost' type='chat' id='m'><received xmlns='urn:xmpp:carbons:2'>"
        "<forwarded xmlns='urn:xmpp:forward:0'><message xmlns='jabber:client' to='bob@localhost' "
        "from='kate@localhost/k' type='chat'><body>x</body></message></forwarded></received>"
        "</message>"
    )
    assert got == NONE


async def test_arc_23_forked_delivery_archived_once(pair: Pair) -> None:
    # CRB-03: bare-JID delivery to several resources makes one entry, one id for all copies;
    # a user sending from one of several resources makes one entry too.
    b2 = await login(pair.server, "alice@localhost/b2")
    b3 = await login(pair.server, "alice@localhost/b3")
    bob2 = await login(pair.server, "bob@localhost/second")
    got = await pair.bob_sends(
        "<message to='alice@localhost' type='chat' id='m'><body>all</body></message>"
    )
    assert got == BOTH
    copies = pair.live + b2.take() + b3.take()
    assert len(copies) == 3
    assert len({c.find(f"{{{SID}}}stanza-id").get("id") for c in copies}) == 1  # type: ignore[union-attr]
    assert bob2.take() == []


async def test_arc_24_message_to_self_once(pair: Pair) -> None:
    for msg_id in ("m", None):
        id_attr = f" id='{msg_id}'" if msg_id else ""
        await send(
            pair.server,
            pair.alice,
            f"<message to='alice@localhost' type='chat'{id_attr}><body>me</body></message>",
        )
    page = await query(pair.server, pair.alice)
    assert len(page.results) == 2


async def test_arc_25_private_and_no_copy_still_archived(pair: Pair) -> None:
    # CRB-04: these only steer carbons.
    await pair.bob_sends(
        "<message to='alice@localhost' type='chat' id='m1'><body>x</body>"
        "<private xmlns='urn:xmpp:carbons:2'/></message>"
    )
    got = await pair.bob_sends(
        "<message to='alice@localhost' type='chat' id='m2'><body>x</body>"
        "<no-copy xmlns='urn:xmpp:hints'/></message>"
    )
    assert got == ["alice:m1", "alice:m2", "bob:m1", "bob:m2"]


async def test_arc_26_retraction_archived(pair: Pair) -> None:
    # RET-01, with the fallback body and <store/> ...
    await pair.bob_sends(
        "<message to='alice@localhost' type='chat' id='orig'><body>oops</body></message>"
    )
    await pair.bob_sends(
        "<message to='alice@localhost' type='chat' id='r1'>"
        "<retract xmlns='urn:xmpp:message-retract:1' id='orig'/>"
        "<fallback xmlns='urn:xmpp:fallback:0' for='urn:xmpp:message-retract:1'/>"
        "<body>This person attempted to retract a previous message.</body>"
        "<store xmlns='urn:xmpp:hints'/></message>"
    )
    # ... and bare, with neither: XEP-0424 makes archiving it a MUST all the same.
    got = await pair.bob_sends(
        "<message to='alice@localhost' type='chat' id='r2'>"
        "<retract xmlns='urn:xmpp:message-retract:1' id='orig'/></message>"
    )
    assert got == ["alice:orig", "alice:r1", "alice:r2", "bob:orig", "bob:r1", "bob:r2"]


async def test_arc_28_undeliverable_messages_not_archived(pair: Pair) -> None:
    await send(
        pair.server,
        pair.bob,
        "<message to='nobody@localhost' type='chat' id='x1'><body>?</body></message>",
    )
    await send(
        pair.server,
        pair.bob,
        "<message to='nobody@localhost/r' type='chat' id='x2'><body>?</body></message>",
    )
    await send(
        pair.server,
        pair.bob,
        "<message to='someone@remote.example' type='chat' id='x3'><body>?</body></message>",
    )
    bounces = pair.bob.take()
    assert [b.get("type") for b in bounces] == ["error"] * 3
    assert await pair.archived() == NONE
    # Error bounces the server made are not archived for the sender either.


async def test_arc_29_prefs_exclusion(pair: Pair) -> None:
    await send(
        pair.server,
        pair.alice,
        f"<iq type='set' id='p'><prefs xmlns='{MAM}' default='always'>"
        "<never><jid>bob@localhost</jid></never></prefs></iq>",
    )
    got = await pair.bob_sends(
        "<message to='alice@localhost' type='chat' id='m'><body>x</body></message>"
    )
    assert got == ["bob:m"]  # Bob's own archive follows Bob's prefs


async def test_arc_30_resent_message_archived_once(pair: Pair) -> None:
    # OFF-06: a stream-management resend (same id, same resource), and a resend from a new
    # resource after a reconnect (same origin-id): one entry each, the same id each time.
    stanza = "<message to='alice@localhost' type='chat' id='m'><body>once</body></message>"
    await pair.bob_sends(stanza)
    got = await pair.bob_sends(stanza)
    assert got == BOTH
    first, second = (m.find(f"{{{SID}}}stanza-id") for m in pair.live)
    assert first is not None and second is not None
    assert first.get("id") == second.get("id")
    with_origin = (
        "<message to='alice@localhost' type='chat' id='{id}'><body>o</body>"
        "<origin-id xmlns='urn:xmpp:sid:0' id='orig-1'/></message>"
    )
    await pair.bob_sends(with_origin.format(id="o1"))
    await logout(pair.bob)
    pair.bob = await login(pair.server, "bob@localhost/reconnected")
    got = await pair.bob_sends(with_origin.format(id="o2"))
    assert got == ["alice:m", "alice:o1", "bob:m", "bob:o1"]


async def test_arc_30_reused_id_with_new_content_is_a_new_message(pair: Pair) -> None:
    # A client whose ids restart after a reconnect (a per-session counter) sends a different
    # message under an old id: it is archived, and delivered under its own stanza-id, which
    # the recipient's client would otherwise take for the old message and hide.
    await pair.bob_sends(
        "<message to='alice@localhost' type='chat' id='1'><body>first</body></message>"
    )
    await logout(pair.bob)
    pair.bob = await login(pair.server, "bob@localhost/b")
    got = await pair.bob_sends(
        "<message to='alice@localhost' type='chat' id='1'><body>second</body></message>"
    )
    assert got == ["alice:1", "alice:1", "bob:1", "bob:1"]
    first, second = (m.find(f"{{{SID}}}stanza-id") for m in pair.live)
    assert first is not None and second is not None
    assert first.get("id") != second.get("id")


async def test_arc_30_reimport_of_live_messages_stores_nothing_twice(pair: Pair) -> None:
    # `garrulus mam import` keys records as the archiver does, from the stored copy (here with
    # a chat state left out of it and an origin-id): an export of live messages imported
    # again adds nothing.
    await pair.bob_sends(
        "<message to='alice@localhost' type='chat' id='m'><body>hi</body>"
        f"<active xmlns='{CHATSTATES}'/>"
        "<origin-id xmlns='urn:xmpp:sid:0' id='o-1'/></message>"
    )
    await pair.bob_sends("<message to='alice@localhost' id='n'><body>plain</body></message>")
    store = pair.server.storage.archive
    for owner in ("alice@localhost", "bob@localhost"):
        page = await store.find(owner, ArchiveQuery(limit=10))
        for item in page.items:
            stanza = fromstring(item.stanza)
            again = NewArchiveItem(
                owner=owner,
                peer=item.peer,
                peer_resource=item.peer_resource,
                direction=item.direction,
                when=item.when,
                stanza=item.stanza,
                body=stanza.findtext("{jabber:client}body"),
                msg_type=item.msg_type,
                dedup_key=dedup_key(stanza, parse_jid(stanza.get("from", ""))),
            )
            assert await store.append(again) == item.id
    assert await pair.archived() == ["alice:m", "alice:n", "bob:m", "bob:n"]


async def test_arc_31_oob_and_reactions_need_body_or_store(pair: Pair) -> None:
    await pair.bob_sends(
        "<message to='alice@localhost' type='chat' id='oob'><x xmlns='jabber:x:oob'><url>https://x/y</url></x></message>"
    )
    await pair.bob_sends(
        "<message to='alice@localhost' type='chat' id='re'>"
        "<reactions xmlns='urn:xmpp:reactions:0' id='m0'>"
        "<reaction>\U0001f44d</reaction></reactions></message>"
    )
    got = await pair.bob_sends(
        "<message to='alice@localhost' type='chat' id='re2'>"
        "<reactions xmlns='urn:xmpp:reactions:0' id='m0'>"
        "<reaction>\U0001f44d</reaction></reactions><store xmlns='urn:xmpp:hints'/></message>"
    )
    assert got == ["alice:re2", "bob:re2"]


# ---------------------------------------------------------------- retraction (RET)


async def test_ret_01_retraction_in_both_archives(pair: Pair) -> None:
    await pair.bob_sends(
        "<message to='alice@localhost' type='chat' id='orig'><body>oops</body></message>"
    )
    got = await pair.bob_sends(
        "<message to='alice@localhost' type='chat' id='r1'>"
        "<retract xmlns='urn:xmpp:message-retract:1' id='orig'/>"
        "<fallback xmlns='urn:xmpp:fallback:0' for='urn:xmpp:message-retract:1'/>"
        "<body>retracted</body>"
        "<store xmlns='urn:xmpp:hints'/></message>"
    )
    assert got == ["alice:orig", "alice:r1", "bob:orig", "bob:r1"]
    page = await query(pair.server, pair.alice)
    retract = page.inner(1).find("{urn:xmpp:message-retract:1}retract")
    assert retract is not None and retract.get("id") == "orig"


async def test_ret_03_retraction_by_someone_else_changes_nothing(pair: Pair) -> None:
    await send(
        pair.server,
        pair.alice,
        "<message to='bob@localhost' type='chat' id='alices'><body>mine</body></message>",
    )
    got = await pair.bob_sends(
        "<message to='alice@localhost' type='chat' id='r1'>"
        "<retract xmlns='urn:xmpp:message-retract:1' id='alices'/>"
        "<body>retracted</body></message>"
    )
    assert got == ["alice:alices", "alice:r1", "bob:alices", "bob:r1"]
    page = await query(pair.server, pair.alice)
    assert page.inner(0).findtext("{jabber:client}body") == "mine"


async def test_ret_05_unknown_target_or_no_id(pair: Pair) -> None:
    await pair.bob_sends(
        "<message to='alice@localhost' type='chat' id='orig'><body>keep</body></message>"
    )
    # An unknown target: both kept, the original unchanged.
    await pair.bob_sends(
        "<message to='alice@localhost' type='chat' id='r1'>"
        "<retract xmlns='urn:xmpp:message-retract:1' id='nope'/></message>"
    )
    # No id: not a retraction, and with nothing else in it not archived.
    got = await pair.bob_sends(
        "<message to='alice@localhost' type='chat' id='r2'>"
        "<retract xmlns='urn:xmpp:message-retract:1'/></message>"
    )
    assert got == ["alice:orig", "alice:r1", "bob:orig", "bob:r1"]
    assert (await query(pair.server, pair.alice)).inner(0).findtext("{jabber:client}body") == "keep"


# ---------------------------------------------------------------- offline storage (OFF)


async def test_off_04_archived_message_to_offline_user_not_bounced(tmp_path: Path) -> None:
    # Without offline storage (the core alone), a message the archive kept is not bounced:
    # the recipient finds it in the archive (as Prosody's message/offline/handle at -2).
    server = await start_server(tmp_path, MODULES)
    bob = await login(server, "bob@localhost/b")
    await server.accounts.create("alice@localhost", "secret")
    await send(
        server, bob, "<message to='alice@localhost' type='chat' id='m'><body>later</body></message>"
    )
    assert bob.take() == []
    # Not archived (no-store): nothing holds it, so the sender is told.
    await send(
        server,
        bob,
        "<message to='alice@localhost' type='chat' id='n'><body>x</body>"
        "<no-store xmlns='urn:xmpp:hints'/></message>",
    )
    (bounce,) = bob.take()
    assert bounce.get("type") == "error" and bounce.get("id") == "n"
    alice = await login(server, "alice@localhost/a", create=False)
    page = await query(server, alice)
    assert page.bodies == ["later"]
    await server.stop()


IM_MODULES = ["roster", "presence", "message", "offline"]


async def offline_server(tmp_path: Path) -> tuple[Server, FakeSession]:
    server = await start_server(tmp_path, ["disco", *IM_MODULES, "mam"])
    bob = await login(server, "bob@localhost/b")
    await server.accounts.create("alice@localhost", "secret")
    return server, bob


async def test_off_01_offline_message_archived_once(tmp_path: Path) -> None:
    server, bob = await offline_server(tmp_path)
    await send(
        server, bob, "<message to='alice@localhost' type='chat' id='m'><body>later</body></message>"
    )
    alice = await login(server, "alice@localhost/a", create=False)
    await send(server, alice, "<presence/>")
    delivered = [s for s in alice.take() if s.tag == "{jabber:client}message"]
    assert [m.findtext("{jabber:client}body") for m in delivered] == ["later"]
    page = await query(server, alice)
    assert page.bodies == ["later"]
    await server.stop()


async def test_off_02_offline_copy_carries_the_archive_id(tmp_path: Path) -> None:
    server, bob = await offline_server(tmp_path)
    await send(
        server, bob, "<message to='alice@localhost' type='chat' id='m'><body>later</body></message>"
    )
    alice = await login(server, "alice@localhost/a", create=False)
    await send(server, alice, "<presence/>")
    (delivered,) = [s for s in alice.take() if s.tag == "{jabber:client}message"]
    page = await query(server, alice)
    Transcript().match(
        delivered.find(f"{{{SID}}}stanza-id"),  # type: ignore[arg-type]
        f"<stanza-id xmlns='urn:xmpp:sid:0' by='alice@localhost' id='{page.ids[0]}'/>",
    )
    await server.stop()


async def test_off_03_session_that_queried_first_skips_offline_flood(tmp_path: Path) -> None:
    server, bob = await offline_server(tmp_path)
    await send(
        server, bob, "<message to='alice@localhost' type='chat' id='m'><body>later</body></message>"
    )
    syncing = await login(server, "alice@localhost/mam", create=False)
    page = await query(server, syncing)
    assert page.bodies == ["later"]
    await send(server, syncing, "<presence/>")
    assert [s for s in syncing.take() if s.tag == "{jabber:client}message"] == []
    # The offline store was kept for a session that did not query the archive.
    plain = await login(server, "alice@localhost/plain", create=False)
    await send(server, plain, "<presence/>")
    delivered = [s for s in plain.take() if s.tag == "{jabber:client}message"]
    assert [m.findtext("{jabber:client}body") for m in delivered] == ["later"]
    await server.stop()
