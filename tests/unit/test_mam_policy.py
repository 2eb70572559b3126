"""Archiving decisions: the checklist's section 2 table (ARC-n rows), hints (HNT), prefs (PRF)."""

from __future__ import annotations

from xml.etree.ElementTree import Element, fromstring

import pytest

from garrulus.core.options import OptionValueError
from garrulus.modules.mam.policy import (
    DEFAULT_ARCHIVE_POLICY,
    DONT_ARCHIVE_NAMESPACES,
    Decision,
    DefaultPolicy,
    needs_roster,
    parse_default_policy,
    prefs_allow,
    should_archive,
    stored_copy,
)
from garrulus.modules.mam.prefs import Prefs
from garrulus.storage.api import Direction
from garrulus.xmpp.jid import parse_jid

IN = Direction.IN
OUT = Direction.OUT


def msg(xml: str) -> Element:
    return fromstring(xml)


def decide(xml: str, direction: Direction = IN) -> Decision:
    return should_archive(msg(xml), direction, DONT_ARCHIVE_NAMESPACES)


# ------------------------------------------------------------------ default_archive_policy


@pytest.mark.parametrize(
    ("raw", "policy"),
    [
        (True, DefaultPolicy.ALWAYS),
        (False, DefaultPolicy.NEVER),
        ("roster", DefaultPolicy.ROSTER),
        ("always", DefaultPolicy.ALWAYS),
        ("never", DefaultPolicy.NEVER),
    ],
)
def test_default_archive_policy_accepted_forms(raw: object, policy: DefaultPolicy) -> None:
    assert parse_default_policy(raw) is policy


@pytest.mark.parametrize("raw", ["Roster", "true", "yes", 1, 0, None, ["always"]])
def test_default_archive_policy_rejects_others_naming_accepted_forms(raw: object) -> None:
    with pytest.raises(OptionValueError) as err:
        parse_default_policy(raw)
    assert str(err.value) == (
        f'default_archive_policy: expected true, false, "always", "never" or "roster", got {raw!r}'
    )


def test_default_archive_policy_option_declaration() -> None:
    assert DEFAULT_ARCHIVE_POLICY.name == "default_archive_policy"
    assert DEFAULT_ARCHIVE_POLICY.default is DefaultPolicy.ALWAYS
    assert DEFAULT_ARCHIVE_POLICY.parse is parse_default_policy
    assert DEFAULT_ARCHIVE_POLICY.expected == 'true, false, "always", "never" or "roster"'


# ------------------------------------------------------------------ content table


def test_arc_01_chat_with_body() -> None:
    assert decide(
        "<message xmlns='jabber:client' type='chat' to='alice@ex'><body>hi</body></message>"
    ) == Decision(True, "body")


@pytest.mark.parametrize("type_attr", ["type='normal'", "", "type='weird'"])
def test_arc_02_normal_or_untyped_with_body(type_attr: str) -> None:
    # RFC 6121 5.2.2: an unknown type is handled as normal.
    assert decide(
        f"<message xmlns='jabber:client' {type_attr}><body>hi</body></message>", OUT
    ) == Decision(True, "body")


def test_arc_02_body_over_s2s_namespace() -> None:
    assert decide("<message xmlns='jabber:server'><body>hi</body></message>").store


def test_arc_03_empty_body_is_archived() -> None:
    assert decide("<message xmlns='jabber:client' type='chat'><body/></message>") == Decision(
        True, "body"
    )


def test_arc_04_headline_never() -> None:
    assert decide(
        "<message xmlns='jabber:client' type='headline'><body>news</body></message>"
    ) == Decision(False, "headline")


def test_arc_04_hnt_06_store_hint_does_not_rescue_headline() -> None:
    assert decide(
        "<message xmlns='jabber:client' type='headline'><body>news</body>"
        "<store xmlns='urn:xmpp:hints'/></message>"
    ) == Decision(False, "headline")


def test_arc_05_muc_11_groupchat_not_in_user_archive() -> None:
    assert decide(
        "<message xmlns='jabber:client' type='groupchat'><body>hi all</body>"
        "<store xmlns='urn:xmpp:hints'/></message>"
    ) == Decision(False, "groupchat")


def test_arc_06_error_bounce_to_full_jid_is_archived() -> None:
    assert decide(
        "<message xmlns='jabber:client' type='error' to='alice@ex/phone' from='bob@ex'>"
        "<body>hi</body><error type='cancel'/></message>"
    ) == Decision(True, "bounce")


def test_arc_07_error_to_bare_jid_is_not_archived() -> None:
    assert decide(
        "<message xmlns='jabber:client' type='error' to='alice@ex' from='alice@ex'>"
        "<error type='cancel'/></message>"
    ) == Decision(False, "error")


def test_arc_06_error_sent_by_the_owner_is_not_archived() -> None:
    assert decide(
        "<message xmlns='jabber:client' type='error' to='bob@ex/laptop'>"
        "<error type='cancel'/></message>",
        OUT,
    ) == Decision(False, "error")


def test_hnt_04_hints_in_errors_are_ignored() -> None:
    assert decide(
        "<message xmlns='jabber:client' type='error' to='alice@ex'>"
        "<store xmlns='urn:xmpp:hints'/><error type='cancel'/></message>"
    ) == Decision(False, "error")
    assert decide(
        "<message xmlns='jabber:client' type='error' to='alice@ex/phone'>"
        "<no-store xmlns='urn:xmpp:hints'/><error type='cancel'/></message>"
    ) == Decision(True, "bounce")


def test_arc_08_chat_state_only_is_not_archived() -> None:
    assert decide(
        "<message xmlns='jabber:client' type='chat'>"
        "<composing xmlns='http://jabber.org/protocol/chatstates'/></message>"
    ) == Decision(False, "no-content")


def test_arc_08_chat_state_only_even_when_not_stripped() -> None:
    stanza = msg(
        "<message xmlns='jabber:client' type='chat'>"
        "<active xmlns='http://jabber.org/protocol/chatstates'/></message>"
    )
    assert should_archive(stanza, IN, frozenset()) == Decision(False, "no-content")


def test_arc_09_body_with_chat_state_is_archived_and_state_stripped() -> None:
    stanza = msg(
        "<message xmlns='jabber:client' type='chat'><body>hi</body>"
        "<active xmlns='http://jabber.org/protocol/chatstates'/></message>"
    )
    assert should_archive(stanza, OUT, DONT_ARCHIVE_NAMESPACES) == Decision(True, "body")
    copy = stored_copy(stanza, DONT_ARCHIVE_NAMESPACES)
    assert [c.tag for c in copy] == ["{jabber:client}body"]
    assert len(stanza) == 2  # the delivered stanza keeps its chat state


@pytest.mark.parametrize(
    "payload",
    ["<request xmlns='urn:xmpp:receipts'/>", "<received xmlns='urn:xmpp:receipts' id='1'/>"],
)
def test_arc_10_receipts_are_archived(payload: str) -> None:
    assert decide(f"<message xmlns='jabber:client' type='chat'>{payload}</message>") == Decision(
        True, "receipt"
    )


def test_arc_11_chat_markers_are_archived() -> None:
    assert decide(
        "<message xmlns='jabber:client' type='chat'>"
        "<displayed xmlns='urn:xmpp:chat-markers:0' id='m1'/></message>"
    ) == Decision(True, "marker")


def test_dont_archive_namespaces_remove_content_from_consideration() -> None:
    stanza = msg(
        "<message xmlns='jabber:client' type='chat'>"
        "<received xmlns='urn:xmpp:receipts' id='1'/></message>"
    )
    assert should_archive(stanza, IN, {"urn:xmpp:receipts"}) == Decision(False, "no-content")


@pytest.mark.parametrize("msg_type", ["chat", "normal"])
def test_arc_12_hnt_03_store_hint_without_body(msg_type: str) -> None:
    assert decide(
        f"<message xmlns='jabber:client' type='{msg_type}'>"
        "<encrypted xmlns='eu.siacs.conversations.axolotl'/>"
        "<store xmlns='urn:xmpp:hints'/></message>"
    ) == Decision(True, "hint:store")


def test_arc_13_hnt_01_no_store() -> None:
    assert decide(
        "<message xmlns='jabber:client' type='chat'><body>secret</body>"
        "<no-store xmlns='urn:xmpp:hints'/></message>"
    ) == Decision(False, "hint:no-store")


def test_arc_14_hnt_02_no_permanent_store() -> None:
    assert decide(
        "<message xmlns='jabber:client' type='chat'><body>secret</body>"
        "<no-permanent-store xmlns='urn:xmpp:hints'/></message>"
    ) == Decision(False, "hint:no-permanent-store")


def test_arc_15_hnt_05_no_store_beats_store() -> None:
    assert decide(
        "<message xmlns='jabber:client' type='chat'><body>x</body>"
        "<store xmlns='urn:xmpp:hints'/><no-store xmlns='urn:xmpp:hints'/></message>"
    ) == Decision(False, "hint:no-store")


def test_arc_16_subject_only() -> None:
    assert decide(
        "<message xmlns='jabber:client' type='normal'><subject>Topic</subject></message>"
    ) == Decision(True, "subject")


def test_arc_17_eme_encryption_without_body() -> None:
    assert decide(
        "<message xmlns='jabber:client' type='chat'>"
        "<encryption xmlns='urn:xmpp:eme:0' namespace='eu.siacs.conversations.axolotl'/>"
        "</message>"
    ) == Decision(True, "encryption")


@pytest.mark.parametrize(
    "payload",
    [
        "<x xmlns='jabber:x:conference' jid='room@muc.ex'/>",
        "<x xmlns='http://jabber.org/protocol/muc#user'><invite from='bob@ex'/></x>",
    ],
)
def test_arc_18_invites(payload: str) -> None:
    assert decide(f"<message xmlns='jabber:client'>{payload}</message>") == Decision(True, "invite")


def test_arc_18_muc_user_without_invite_is_not_content() -> None:
    assert decide(
        "<message xmlns='jabber:client'><x xmlns='http://jabber.org/protocol/muc#user'/></message>"
    ) == Decision(False, "no-content")


@pytest.mark.parametrize("jmi_ns", ["urn:xmpp:jingle-message:0", "urn:xmpp:jingle-message:1"])
def test_arc_19_jingle_message_initiation(jmi_ns: str) -> None:
    assert decide(
        f"<message xmlns='jabber:client' type='chat'><propose xmlns='{jmi_ns}' id='c1'/></message>"
    ) == Decision(True, "jingle-message")


def test_arc_20_delay_child_is_ignored() -> None:
    assert decide(
        "<message xmlns='jabber:client' type='chat'><body>late</body>"
        "<delay xmlns='urn:xmpp:delay' stamp='2020-01-01T00:00:00Z'/></message>"
    ) == Decision(True, "body")


def test_arc_21_res_10_mam_result_is_never_archived() -> None:
    assert decide(
        "<message xmlns='jabber:client'><body>x</body><store xmlns='urn:xmpp:hints'/>"
        "<result xmlns='urn:xmpp:mam:2' id='a'/></message>"
    ) == Decision(False, "mam-result")


@pytest.mark.parametrize("wrapper", ["sent", "received"])
def test_arc_22_carbon_wrappers_are_never_archived(wrapper: str) -> None:
    assert decide(
        f"<message xmlns='jabber:client'><{wrapper} xmlns='urn:xmpp:carbons:2'>"
        "<forwarded xmlns='urn:xmpp:forward:0'><message xmlns='jabber:client'><body>x</body>"
        f"</message></forwarded></{wrapper}></message>"
    ) == Decision(False, "carbon")


@pytest.mark.parametrize(
    "payload", ["<private xmlns='urn:xmpp:carbons:2'/>", "<no-copy xmlns='urn:xmpp:hints'/>"]
)
def test_arc_25_crb_04_private_and_no_copy_do_not_affect_archiving(payload: str) -> None:
    assert decide(
        f"<message xmlns='jabber:client' type='chat'><body>x</body>{payload}</message>"
    ) == Decision(True, "body")


def test_arc_27_muc_private_message_is_archived() -> None:
    assert decide(
        "<message xmlns='jabber:client' type='chat' from='room@muc.ex/bob' to='alice@ex/phone'>"
        "<body>psst</body><x xmlns='http://jabber.org/protocol/muc#user'/></message>"
    ) == Decision(True, "body")


def test_arc_26_ret_01_retraction_without_body_is_archived() -> None:
    assert decide(
        "<message xmlns='jabber:client' type='chat'>"
        "<retract xmlns='urn:xmpp:message-retract:1' id='orig'/></message>",
        OUT,
    ) == Decision(True, "retraction")


def test_arc_26_retraction_with_fallback_body_and_store() -> None:
    assert decide(
        "<message xmlns='jabber:client' type='chat' id='r1'>"
        "<retract xmlns='urn:xmpp:message-retract:1' id='orig'/>"
        "<fallback xmlns='urn:xmpp:fallback:0' for='urn:xmpp:message-retract:1'/>"
        "<body>retracted</body><store xmlns='urn:xmpp:hints'/></message>"
    ).store


def test_ret_05_retract_without_id_is_not_a_retraction() -> None:
    assert decide(
        "<message xmlns='jabber:client' type='chat'>"
        "<retract xmlns='urn:xmpp:message-retract:1'/></message>"
    ) == Decision(False, "no-content")


@pytest.mark.parametrize(
    "payload",
    [
        "<x xmlns='jabber:x:oob'><url>https://ex/a.png</url></x>",
        "<reactions xmlns='urn:xmpp:reactions:0' id='m1'><reaction>👍</reaction></reactions>",
    ],
)
def test_arc_31_oob_and_reactions_need_body_or_store(payload: str) -> None:
    bare = f"<message xmlns='jabber:client' type='chat'>{payload}</message>"
    assert decide(bare) == Decision(False, "no-content")
    stored = (
        f"<message xmlns='jabber:client' type='chat'>{payload}"
        "<store xmlns='urn:xmpp:hints'/></message>"
    )
    assert decide(stored) == Decision(True, "hint:store")


def test_empty_message_is_not_archived() -> None:
    assert decide("<message xmlns='jabber:client' type='chat'/>") == Decision(False, "no-content")


def test_stored_copy_keeps_everything_else() -> None:
    stanza = msg(
        "<message xmlns='jabber:client' type='chat' id='1'><body>hi</body>"
        "<origin-id xmlns='urn:xmpp:sid:0' id='o1'/>"
        "<paused xmlns='http://jabber.org/protocol/chatstates'/></message>"
    )
    copy = stored_copy(stanza, DONT_ARCHIVE_NAMESPACES)
    assert copy.attrib == stanza.attrib
    assert [c.tag for c in copy] == ["{jabber:client}body", "{urn:xmpp:sid:0}origin-id"]


# ------------------------------------------------------------------ prefs (XEP-0441)

ALICE_FRIEND = parse_jid("bob@ex/phone")  # Bob is in Alice's roster
STRANGER = parse_jid("kate@ex/laptop")  # Kate is not


def prefs(default: str, always: list[str], never: list[str]) -> Prefs:
    return Prefs(DefaultPolicy(default), frozenset(always), frozenset(never))


# MongooseIM's prefs_cases2() (mam_helper.erl): messages 1..4 are Bob -> Alice, Alice -> Bob,
# Kate -> Alice, Alice -> Kate; Alice and Bob are friends, Kate is a stranger.
PRF_07_MATRIX = [
    (("roster", [], []), [True, True, False, False]),
    (("roster", ["bob"], []), [True, True, False, False]),
    (("roster", ["kate"], []), [True, True, True, True]),
    (("roster", ["kate", "bob"], []), [True, True, True, True]),
    (("roster", [], ["bob"]), [False, False, False, False]),
    (("roster", [], ["kate"]), [True, True, False, False]),
    (("roster", [], ["bob", "kate"]), [False, False, False, False]),
    (("never", [], []), [False, False, False, False]),
    (("never", ["bob"], []), [True, True, False, False]),
    (("never", ["kate"], []), [False, False, True, True]),
    (("never", ["kate", "bob"], []), [True, True, True, True]),
    (("never", [], ["bob"]), [False, False, False, False]),
    (("never", [], ["kate"]), [False, False, False, False]),
    (("never", [], ["bob", "kate"]), [False, False, False, False]),
    (("always", [], []), [True, True, True, True]),
    (("always", ["bob"], []), [True, True, True, True]),
    (("always", ["kate"], []), [True, True, True, True]),
    (("always", ["kate", "bob"], []), [True, True, True, True]),
    (("always", [], ["bob"]), [False, False, True, True]),
    (("always", [], ["kate"]), [True, True, False, False]),
    (("always", [], ["bob", "kate"]), [False, False, False, False]),
]


@pytest.mark.parametrize(("state", "expected"), PRF_07_MATRIX)
def test_prf_07_mongooseim_prefs_matrix(
    state: tuple[str, list[str], list[str]], expected: list[bool]
) -> None:
    default, always, never = state
    p = prefs(default, [f"{u}@ex" for u in always], [f"{u}@ex" for u in never])
    # Incoming messages match on 'from', outgoing on 'to': both are the contact's full JID here.
    targets = [(ALICE_FRIEND, True), (ALICE_FRIEND, True), (STRANGER, False), (STRANGER, False)]
    assert [prefs_allow(p, t, in_roster).store for t, in_roster in targets] == expected


def test_prf_07_reasons() -> None:
    assert prefs_allow(prefs("always", [], []), STRANGER, False) == Decision(True, "default:always")
    assert prefs_allow(prefs("never", [], []), STRANGER, False) == Decision(False, "default:never")
    assert prefs_allow(prefs("roster", [], []), STRANGER, True) == Decision(True, "default:roster")
    assert prefs_allow(prefs("roster", [], []), STRANGER, False) == Decision(
        False, "default:roster:not-in-roster"
    )
    assert prefs_allow(prefs("never", ["kate@ex"], []), STRANGER, False) == Decision(
        True, "prefs:always"
    )
    assert prefs_allow(prefs("always", [], ["kate@ex"]), STRANGER, False) == Decision(
        False, "prefs:never"
    )


def test_prf_09_never_wins_over_always() -> None:
    p = prefs("always", ["bob@ex"], ["bob@ex"])
    assert prefs_allow(p, ALICE_FRIEND, True) == Decision(False, "prefs:never")


def test_prf_09_bare_never_beats_full_always() -> None:
    p = prefs("always", ["bob@ex/phone"], ["bob@ex"])
    assert prefs_allow(p, ALICE_FRIEND, True) == Decision(False, "prefs:never")


def test_prf_06_full_jid_entry_matches_only_that_resource() -> None:
    p = prefs("always", [], ["bob@ex/r1"])
    assert not prefs_allow(p, parse_jid("bob@ex/r1"), True).store
    assert prefs_allow(p, parse_jid("bob@ex/r2"), True).store
    assert prefs_allow(p, parse_jid("bob@ex"), True).store


def test_prf_06_bare_jid_entry_matches_every_resource() -> None:
    p = prefs("always", [], ["bob@ex"])
    for target in ("bob@ex/r1", "bob@ex/r2", "bob@ex"):
        assert not prefs_allow(p, parse_jid(target), True).store


def test_prf_05_target_strings_are_prepared() -> None:
    p = prefs("always", [], ["bob@ex"])
    assert not prefs_allow(p, "BOB@EX/Phone", True).store


def test_prf_08_roster_membership_is_what_the_caller_says() -> None:
    # Any roster item counts, whatever its subscription: the caller passes in_roster=True for a
    # subscription='none' item too.
    assert prefs_allow(prefs("roster", [], []), STRANGER, True).store


def test_needs_roster_only_when_the_default_decides() -> None:
    assert needs_roster(prefs("roster", [], []), STRANGER)
    assert not needs_roster(prefs("roster", ["kate@ex"], []), STRANGER)
    assert not needs_roster(prefs("roster", [], ["kate@ex"]), STRANGER)
    assert not needs_roster(prefs("always", [], []), STRANGER)
    assert not needs_roster(prefs("never", [], []), "kate@ex")
