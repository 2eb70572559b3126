"""Checklist 1.1 (DSC): what the archive advertises, where, and to whom."""

from __future__ import annotations

from pathlib import Path

from garrulus.core.server import Server
from tests.harness import FakeSession, Transcript, login, send, start_server
from tests.transcript.test_mam_support import MODULES, error_of, iq

DISCO = "http://jabber.org/protocol/disco#info"


async def features(server: Server, session: FakeSession, to: str | None = None) -> set[str]:
    to_attr = f" to='{to}'" if to else ""
    reply = await iq(
        server, session, f"<iq type='get' id='d1'{to_attr}><query xmlns='{DISCO}'/></iq>"
    )
    assert reply.get("type") == "result"
    return {f.get("var", "") for f in reply.iter("{" + DISCO + "}feature")}


async def test_dsc_01_own_bare_jid_lists_mam(tmp_path: Path) -> None:
    server = await start_server(tmp_path, MODULES)
    alice = await login(server, "alice@localhost/a")
    await send(
        server, alice, f"<iq type='get' id='d1' to='alice@localhost'><query xmlns='{DISCO}'/></iq>"
    )
    (reply,) = alice.take()
    Transcript().match(
        reply,
        f"""<iq type='result' id='d1' to='alice@localhost/a' from='alice@localhost'>
        <query xmlns='{DISCO}'>
          <identity category='account' type='registered'/>
          <feature var='http://jabber.org/protocol/disco#info'/>
          <feature var='http://jabber.org/protocol/disco#items'/>
          <feature var='urn:xmpp:fulltext:0'/>
          <feature var='urn:xmpp:mam:2'/>
          <feature var='urn:xmpp:mam:2#extended'/>
          <feature var='urn:xmpp:message-retract:1'/>
          <feature var='urn:xmpp:message-retract:1#tombstone'/>
          <feature var='urn:xmpp:sid:0'/>
        </query></iq>""",
    )
    # No 'to' at all is the same account.
    assert "urn:xmpp:mam:2" in await features(server, alice)
    await server.stop()


async def test_dsc_02_own_bare_jid_lists_extended(tmp_path: Path) -> None:
    server = await start_server(tmp_path, MODULES)
    alice = await login(server, "alice@localhost/a")
    assert "urn:xmpp:mam:2#extended" in await features(server, alice, "alice@localhost")
    await server.stop()


async def test_dsc_03_without_mam_neither_feature(tmp_path: Path) -> None:
    server = await start_server(tmp_path, ["disco", "ping"])
    alice = await login(server, "alice@localhost/a")
    for to in ("alice@localhost", "localhost"):
        found = await features(server, alice, to)
        assert not {f for f in found if f.startswith("urn:xmpp:mam:")}, found
    await server.stop()


async def test_dsc_04_extended_commitments_are_advertised_and_work(tmp_path: Path) -> None:
    # Each #extended item has its own positive tests (FLT-12..19, FLIP-01..03, META-01..03);
    # here: with #extended advertised, the form offers before-id/after-id/ids and the query
    # accepts <flip-page/> and <metadata/>.
    server = await start_server(tmp_path, MODULES)
    alice = await login(server, "alice@localhost/a")
    assert "urn:xmpp:mam:2#extended" in await features(server, alice)
    form = await iq(server, alice, "<iq type='get' id='f'><query xmlns='urn:xmpp:mam:2'/></iq>")
    offered = {f.get("var") for f in form.iter("{jabber:x:data}field")}
    assert {"before-id", "after-id", "ids"} <= offered
    flipped = await iq(
        server,
        alice,
        "<iq type='set' id='q'><query xmlns='urn:xmpp:mam:2'><flip-page/></query></iq>",
    )
    assert flipped.get("type") == "result"
    meta = await iq(server, alice, "<iq type='get' id='m'><metadata xmlns='urn:xmpp:mam:2'/></iq>")
    assert meta.get("type") == "result"
    await server.stop()


async def test_dsc_05_own_bare_jid_lists_stanza_ids(tmp_path: Path) -> None:
    server = await start_server(tmp_path, MODULES)
    alice = await login(server, "alice@localhost/a")
    assert "urn:xmpp:sid:0" in await features(server, alice, "alice@localhost")
    await server.stop()


async def test_dsc_06_no_groupchat_field_features(tmp_path: Path) -> None:
    # Our choice: user archives hold no groupchat (ARC-5) and the query refuses the
    # include-groupchat field (FLT-21), so neither groupchat feature is advertised.
    server = await start_server(tmp_path, MODULES)
    alice = await login(server, "alice@localhost/a")
    found = await features(server, alice)
    assert "urn:xmpp:mam:2#groupchat-field" not in found
    assert "urn:xmpp:mam:2#groupchat-available" not in found
    await server.stop()


async def test_dsc_07_fulltext_advertised_iff_store_searches(tmp_path: Path) -> None:
    server = await start_server(tmp_path, MODULES)
    alice = await login(server, "alice@localhost/a")
    assert server.storage.archive.caps.fulltext  # the memory store searches bodies
    assert "urn:xmpp:fulltext:0" in await features(server, alice)
    await server.stop()


async def test_dsc_08_retract_and_tombstone_features_match_config(tmp_path: Path) -> None:
    # Retractions are always archived (ARC-26, RET-01), so XEP-0424 obliges us to say so;
    # "#tombstone" exactly when retracted originals are replaced (the default).
    for setting, tombstones in (("", True), ("true", True), ("false", False)):
        extra = f"archive_retraction_tombstones = {setting}" if setting else ""
        where = tmp_path / (setting or "default")
        where.mkdir()
        server = await start_server(where, MODULES, extra)
        alice = await login(server, "alice@localhost/a")
        found = await features(server, alice)
        assert "urn:xmpp:message-retract:1" in found
        assert ("urn:xmpp:message-retract:1#tombstone" in found) is tombstones, setting
        # Only the account says so: the domain archives nothing of its own.
        assert "urn:xmpp:message-retract:1#tombstone" not in await features(
            server, alice, "localhost"
        )
        await server.stop()


async def test_dsc_09_domain_lists_mam(tmp_path: Path) -> None:
    # As the checklist recommends (ejabberd, MongooseIM): some clients look for the feature on
    # the domain only (Profanity 0.13; see tests/integration/test_profanity_mam.py). The
    # archive itself stays on the account: a query to the domain is refused (MAM-07).
    server = await start_server(tmp_path, MODULES)
    alice = await login(server, "alice@localhost/a")
    found = await features(server, alice, "localhost")
    assert "urn:xmpp:mam:2" in found
    assert "urn:xmpp:mam:2#extended" not in found  # what the domain itself does not do
    reply = await iq(
        server, alice, "<iq type='set' id='q' to='localhost'><query xmlns='urn:xmpp:mam:2'/></iq>"
    )
    assert error_of(reply) == ("cancel", "service-unavailable")
    await server.stop()


async def test_dsc_10_other_users_bare_jid_reveals_nothing(tmp_path: Path) -> None:
    server = await start_server(tmp_path, MODULES)
    alice = await login(server, "alice@localhost/a")
    await login(server, "bob@localhost/b")
    reply = await iq(
        server, alice, f"<iq type='get' id='d1' to='bob@localhost'><query xmlns='{DISCO}'/></iq>"
    )
    assert error_of(reply) == ("cancel", "service-unavailable")
    assert "urn:xmpp:mam" not in str(reply.attrib) + "".join(reply.itertext())
    await server.stop()
