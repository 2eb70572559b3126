"""XEP-0441 preferences: parsing, the reply element and storage (checklist PRF-01..09)."""

from __future__ import annotations

from xml.etree.ElementTree import fromstring

import pytest

from garrulus.modules.mam.policy import DefaultPolicy
from garrulus.modules.mam.prefs import Prefs, build_prefs, from_json, parse_prefs, to_json
from garrulus.xmpp.errors import StanzaError
from garrulus.xmpp.xml import to_xml

MAM = "urn:xmpp:mam:2"


def prefs_error(xml: str) -> StanzaError:
    with pytest.raises(StanzaError) as err:
        parse_prefs(fromstring(xml))
    return err.value


def test_parse_xep0441_example() -> None:
    prefs = parse_prefs(
        fromstring(
            f"""<prefs xmlns='{MAM}' default='roster'>
                  <always><jid>romeo@montague.lit</jid></always>
                  <never><jid>montague@montague.lit</jid></never>
                </prefs>"""
        )
    )
    assert prefs == Prefs(
        DefaultPolicy.ROSTER,
        frozenset({"romeo@montague.lit"}),
        frozenset({"montague@montague.lit"}),
    )


@pytest.mark.parametrize("default", ["always", "never", "roster"])
def test_prf_01_reply_has_default_and_both_lists_even_empty(default: str) -> None:
    reply = build_prefs(Prefs(DefaultPolicy(default)))
    assert to_xml(reply) == f"<prefs xmlns='{MAM}' default='{default}'><always/><never/></prefs>"


def test_prf_01_reply_lists_jids_sorted() -> None:
    reply = build_prefs(
        Prefs(DefaultPolicy.ALWAYS, frozenset({"b@ex", "a@ex"}), frozenset({"c@ex/r"}))
    )
    assert to_xml(reply) == (
        f"<prefs xmlns='{MAM}' default='always'><always><jid>a@ex</jid><jid>b@ex</jid></always>"
        "<never><jid>c@ex/r</jid></never></prefs>"
    )


def test_prf_02_applied_prefs_round_trip_through_the_reply() -> None:
    prefs = Prefs(DefaultPolicy.NEVER, frozenset({"a@ex", "b@ex/r"}), frozenset({"c@ex"}))
    assert parse_prefs(fromstring(to_xml(build_prefs(prefs)))) == prefs


def test_prf_03_missing_lists_are_empty() -> None:
    # Monal sends only the default.
    assert parse_prefs(fromstring(f"<prefs xmlns='{MAM}' default='always'/>")) == Prefs(
        DefaultPolicy.ALWAYS
    )


def test_prf_04_missing_default_is_bad_request() -> None:
    err = prefs_error(f"<prefs xmlns='{MAM}'><always/></prefs>")
    assert (err.condition, err.error_type) == ("bad-request", "modify")
    assert err.text == "<prefs/> needs a 'default' attribute: always, never or roster"


@pytest.mark.parametrize("value", ["", "Always", "true", "all"])
def test_prf_04_invalid_default_is_bad_request(value: str) -> None:
    err = prefs_error(f"<prefs xmlns='{MAM}' default='{value}'/>")
    assert err.condition == "bad-request"
    assert err.text == f"Invalid 'default' {value!r} in <prefs/>: expected always, never or roster"


def test_prf_05_jids_are_normalised() -> None:
    prefs = parse_prefs(
        fromstring(
            f"<prefs xmlns='{MAM}' default='roster'><always><jid>JULIET@MONTAGUE.LIT</jid>"
            "</always><never><jid>Romeo@Montague.LIT/Orchard</jid></never></prefs>"
        )
    )
    assert prefs.always == frozenset({"juliet@montague.lit"})
    # Resources are case-sensitive (OpaqueString): only local and domain fold.
    assert prefs.never == frozenset({"romeo@montague.lit/Orchard"})


def test_prf_05_invalid_jids_are_dropped() -> None:
    prefs = parse_prefs(
        fromstring(
            f"<prefs xmlns='{MAM}' default='always'><always><jid>@ex</jid><jid>a@ex</jid>"
            "<jid/><jid>a@b@c</jid></always><never><jid>x@ex/</jid></never></prefs>"
        )
    )
    assert prefs == Prefs(DefaultPolicy.ALWAYS, frozenset({"a@ex"}), frozenset())


def test_prf_05_whitespace_between_jids_is_tolerated() -> None:
    prefs = parse_prefs(
        fromstring(
            f"""<prefs xmlns='{MAM}' default='never'>
                  <always>
                    <jid>  a@ex
                    </jid>
                    <jid>b@ex</jid>
                  </always>
                  <never>
                  </never>
                </prefs>"""
        )
    )
    assert prefs == Prefs(DefaultPolicy.NEVER, frozenset({"a@ex", "b@ex"}), frozenset())


def test_prf_06_full_jids_stay_full() -> None:
    prefs = parse_prefs(
        fromstring(
            f"<prefs xmlns='{MAM}' default='always'><never><jid>bob@ex/r1</jid></never></prefs>"
        )
    )
    assert prefs.never == frozenset({"bob@ex/r1"})


def test_prf_09_same_jid_on_both_lists_is_kept_on_both() -> None:
    # Matching decides (never wins, see test_mam_policy); the reply shows what was sent.
    prefs = parse_prefs(
        fromstring(
            f"<prefs xmlns='{MAM}' default='always'><always><jid>b@ex</jid></always>"
            "<never><jid>b@ex</jid></never></prefs>"
        )
    )
    assert prefs.always == prefs.never == frozenset({"b@ex"})


def test_duplicate_list_is_bad_request() -> None:
    err = prefs_error(f"<prefs xmlns='{MAM}' default='always'><never/><never/></prefs>")
    assert (err.condition, err.text) == (
        "bad-request",
        "<never/> appears more than once in <prefs/>",
    )


def test_other_children_are_ignored() -> None:
    prefs = parse_prefs(
        fromstring(
            f"<prefs xmlns='{MAM}' default='always'><always><item>a@ex</item><jid>b@ex</jid>"
            "</always><x xmlns='urn:other'/></prefs>"
        )
    )
    assert prefs.always == frozenset({"b@ex"})


def test_prefs_in_another_namespace_is_bad_request() -> None:
    err = prefs_error("<prefs xmlns='urn:xmpp:mam:1' default='always'/>")
    assert (err.condition, err.text) == ("bad-request", "Expected <prefs xmlns='urn:xmpp:mam:2'/>")


def test_json_round_trip() -> None:
    prefs = Prefs(DefaultPolicy.ROSTER, frozenset({"b@ex", "a@ex/r"}), frozenset({"c@ex"}))
    data = to_json(prefs)
    assert data == {"default": "roster", "always": ["a@ex/r", "b@ex"], "never": ["c@ex"]}
    assert from_json(data) == prefs


def test_from_json_prepares_jids_again() -> None:
    data = {"default": "always", "always": ["A@EX"], "never": []}
    assert from_json(data).always == frozenset({"a@ex"})


def test_from_json_missing_lists_are_empty() -> None:
    assert from_json({"default": "never"}) == Prefs(DefaultPolicy.NEVER)


@pytest.mark.parametrize(
    "data",
    [
        None,
        [],
        {},
        {"default": 1},
        {"default": "sometimes"},
        {"default": "always", "always": "a@ex"},
        {"default": "always", "never": [1]},
    ],
)
def test_from_json_rejects_other_shapes(data: object) -> None:
    with pytest.raises(ValueError):
        from_json(data)
