"""XEP-0059 RSM requests and result sets (checklist RSM-01..23)."""

from __future__ import annotations

import re
from xml.etree.ElementTree import fromstring
from xml.sax.saxutils import escape

import pytest
from hypothesis import given
from hypothesis import strategies as st

from garrulus.xmpp.errors import StanzaError
from garrulus.xmpp.rsm import MAX_INT, RsmRequest, build_rsm_result, parse_rsm, rsm_in
from garrulus.xmpp.xml import to_xml

RSM = "http://jabber.org/protocol/rsm"


def rsm(inner: str) -> RsmRequest:
    return parse_rsm(fromstring(f"<set xmlns='{RSM}'>{inner}</set>"))


def rsm_error(inner: str) -> StanzaError:
    with pytest.raises(StanzaError) as err:
        rsm(inner)
    return err.value


def test_no_children_is_the_empty_request() -> None:
    assert rsm("") == RsmRequest()


def test_rsm_01_max() -> None:
    assert rsm("<max>5</max>") == RsmRequest(max=5)


def test_rsm_01_max_zero() -> None:
    assert rsm("<max>0</max>").max == 0


@pytest.mark.parametrize(("text", "value"), [(" 10\n", 10), ("+7", 7), ("007", 7)])
def test_rsm_01_max_lexical_forms_of_xs_int(text: str, value: int) -> None:
    assert rsm(f"<max>{text}</max>").max == value


def test_rsm_02_huge_max_is_clamped_not_refused() -> None:
    assert rsm("<max>99999999999999999999</max>").max == MAX_INT
    assert rsm(f"<max>{'9' * 5000}</max>").max == MAX_INT


@pytest.mark.parametrize("text", ["-1", "abc", "1.5", "", "1e3", "0x10", " - 3"])
def test_rsm_04_bad_max_is_bad_request(text: str) -> None:
    err = rsm_error(f"<max>{text}</max>")
    assert (err.condition, err.error_type) == ("bad-request", "modify")
    assert err.text == f"RSM <max/> must be a non-negative integer, not {text.strip()!r}"


def test_rsm_04_negative_max_text() -> None:
    assert rsm_error("<max>-1</max>").text == "RSM <max/> must be a non-negative integer, not '-1'"


def test_rsm_05_after() -> None:
    assert rsm("<max>5</max><after>id10</after>") == RsmRequest(max=5, after="id10")


def test_rsm_06_before_with_id() -> None:
    request = rsm("<before>id10</before>")
    assert (request.before, request.last_page, request.backwards) == ("id10", False, True)


@pytest.mark.parametrize("before", ["<before/>", "<before></before>", "<before>  </before>"])
def test_rsm_07_empty_before_is_last_page(before: str) -> None:
    request = rsm(f"<max>5</max>{before}")
    assert request == RsmRequest(max=5, last_page=True)
    assert request.backwards


@pytest.mark.parametrize("after", ["<after/>", "<after></after>", "<after>\n  </after>"])
def test_rsm_12_empty_after_is_no_after(after: str) -> None:
    request = rsm(after)
    assert request == RsmRequest()
    assert not request.backwards


def test_rsm_13_after_and_before_are_both_kept() -> None:
    assert rsm("<after>id3</after><before>id10</before><max>3</max>") == RsmRequest(
        max=3, after="id3", before="id10"
    )


def test_rsm_13_after_with_empty_before() -> None:
    assert rsm("<after>id3</after><before/>") == RsmRequest(after="id3", last_page=True)


def test_ids_are_stripped_of_surrounding_white_space() -> None:
    assert rsm("<after>\n  id3\n</after>").after == "id3"


def test_rsm_14_index_is_parsed() -> None:
    assert rsm("<index>5</index>").index == 5


def test_rsm_14_bad_index_is_bad_request() -> None:
    err = rsm_error("<index>-2</index>")
    assert (err.condition, err.text) == (
        "bad-request",
        "RSM <index/> must be a non-negative integer, not '-2'",
    )


@pytest.mark.parametrize("local", ["max", "after", "before", "index"])
def test_repeated_child_is_bad_request(local: str) -> None:
    err = rsm_error(f"<{local}>1</{local}><{local}>2</{local}>")
    assert (err.condition, err.text) == ("bad-request", f"RSM <{local}/> appears more than once")


def test_unknown_children_are_ignored() -> None:
    assert rsm("<count>3</count><first>a</first><max>1</max>") == RsmRequest(max=1)


def test_children_in_another_namespace_are_ignored() -> None:
    assert rsm("<max xmlns='urn:other'>-1</max>") == RsmRequest()


def test_wrong_element_is_bad_request() -> None:
    with pytest.raises(StanzaError) as err:
        parse_rsm(fromstring("<set xmlns='urn:other'/>"))
    assert (err.value.condition, err.value.text) == (
        "bad-request",
        "Expected <set xmlns='http://jabber.org/protocol/rsm'/>",
    )


def test_rsm_in_finds_the_set_or_gives_the_empty_request() -> None:
    query = fromstring(
        f"<query xmlns='urn:xmpp:mam:2'><set xmlns='{RSM}'><max>2</max></set></query>"
    )
    assert rsm_in(query) == RsmRequest(max=2)
    assert rsm_in(fromstring("<query xmlns='urn:xmpp:mam:2'/>")) == RsmRequest()


def test_rsm_in_two_sets_is_bad_request() -> None:
    query = fromstring(
        f"<query xmlns='urn:xmpp:mam:2'><set xmlns='{RSM}'/><set xmlns='{RSM}'/></query>"
    )
    with pytest.raises(StanzaError) as err:
        rsm_in(query)
    assert (err.value.condition, err.value.text) == ("bad-request", "More than one RSM <set/>")


def test_request_invariants() -> None:
    with pytest.raises(ValueError):
        RsmRequest(before="x", last_page=True)
    with pytest.raises(ValueError):
        RsmRequest(max=-1)
    with pytest.raises(ValueError):
        RsmRequest(after="")


# ------------------------------------------------------------------ result <set/>


def test_rsm_18_page_has_first_and_last() -> None:
    assert to_xml(build_rsm_result("a", "c", 15, 0)) == (
        f"<set xmlns='{RSM}'><first index='0'>a</first><last>c</last><count>15</count></set>"
    )


def test_rsm_18_one_item_page_first_equals_last() -> None:
    result = build_rsm_result("a", "a", None, None)
    assert [(c.tag.split("}")[1], c.text) for c in result] == [("first", "a"), ("last", "a")]


def test_rsm_19_empty_page_has_neither_first_nor_last() -> None:
    assert (
        to_xml(build_rsm_result(None, None, 5, 5)) == f"<set xmlns='{RSM}'><count>5</count></set>"
    )


def test_rsm_16_count_only() -> None:
    assert to_xml(build_rsm_result(None, None, 0, None)) == (
        f"<set xmlns='{RSM}'><count>0</count></set>"
    )


def test_empty_result_set_without_count_is_a_bare_set() -> None:
    # MAM-05: <fin/> always holds a <set/>, even empty.
    assert to_xml(build_rsm_result(None, None, None, None)) == f"<set xmlns='{RSM}'/>"


def test_rsm_23_index_attribute_only_when_known() -> None:
    assert to_xml(build_rsm_result("a", "b", None, None)) == (
        f"<set xmlns='{RSM}'><first>a</first><last>b</last></set>"
    )
    assert build_rsm_result("a", "b", 15, 10).find(f"{{{RSM}}}first").get("index") == "10"  # type: ignore[union-attr]


def test_first_without_last_is_a_programming_error() -> None:
    with pytest.raises(ValueError):
        build_rsm_result("a", None, None, None)


# ------------------------------------------------------------------ properties

# Characters an XML 1.0 document may hold; \r is left out because parsers normalise it to \n.
_XML_TEXT = st.text(
    alphabet=st.characters(blacklist_categories=("Cs", "Cc"), whitelist_characters="\t\n "),
    max_size=30,
)
_XS_UNSIGNED = re.compile(r"\+?[0-9]+")


@given(_XML_TEXT)
def test_max_is_a_non_negative_integer_or_bad_request(text: str) -> None:
    stripped = text.strip(" \t\n")
    try:
        request = rsm(f"<max>{escape(text)}</max>")
    except StanzaError as err:
        assert not (_XS_UNSIGNED.fullmatch(stripped) and stripped.isascii())
        assert err.condition == "bad-request"
        assert err.text == f"RSM <max/> must be a non-negative integer, not {stripped!r}"
        return
    assert _XS_UNSIGNED.fullmatch(stripped)
    assert request.max == min(int(stripped), MAX_INT)


@given(st.one_of(st.none(), _XML_TEXT), st.one_of(st.none(), _XML_TEXT), st.integers(0, 10**6))
def test_after_before_any_text(after: str | None, before: str | None, max_: int) -> None:
    inner = f"<max>{max_}</max>"
    if after is not None:
        inner += f"<after>{escape(after)}</after>"
    if before is not None:
        inner += f"<before>{escape(before)}</before>"
    request = rsm(inner)
    assert request.max == max_
    assert request.after == ((after or "").strip(" \t\n") or None)
    stripped_before = (before or "").strip(" \t\n")
    assert request.before == (stripped_before or None)
    assert request.last_page == (before is not None and not stripped_before)
    assert not (request.last_page and request.before is not None)
