"""MAM query parsing and the query form (checklist MAM, FRM, FLT, RSM, FLIP, FIN-07, FTS)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from xml.etree.ElementTree import Element, fromstring

import pytest

from garrulus.modules.mam.query import MamRequest, build_query_form, parse_query
from garrulus.storage.api import ArchiveQuery
from garrulus.xmpp.errors import StanzaError
from garrulus.xmpp.rsm import RsmRequest

MAM = "urn:xmpp:mam:2"
X = "{jabber:x:data}"
RSM = "http://jabber.org/protocol/rsm"
FT = "{urn:xmpp:fulltext:0}fulltext"


def query(inner: str = "", attrs: str = "") -> Element:
    return fromstring(f"<query xmlns='{MAM}' {attrs}>{inner}</query>")


def form(
    fields: str,
    form_type: str = f"<field var='FORM_TYPE' type='hidden'><value>{MAM}</value></field>",
) -> str:
    return f"<x xmlns='jabber:x:data' type='submit'>{form_type}{fields}</x>"


def rsm(inner: str) -> str:
    return f"<set xmlns='{RSM}'>{inner}</set>"


def parse(inner: str = "", attrs: str = "", **options: Any) -> MamRequest:
    return parse_query(query(inner, attrs), **options)


def filters(fields: str, **options: Any) -> ArchiveQuery:
    return parse(form(fields), **options).archive_query


def error(inner: str, attrs: str = "", **options: Any) -> StanzaError:
    with pytest.raises(StanzaError) as err:
        parse(inner, attrs, **options)
    return err.value


# ------------------------------------------------------------------ MAM basics


def test_mam_01_bare_query_is_the_whole_archive_first_page() -> None:
    request = parse()
    assert request == MamRequest(
        query_id=None,
        archive_query=ArchiveQuery(limit=20, want_total=True),
        flip=False,
        rsm=RsmRequest(),
        requested_max=None,
        page_size=20,
    )


def test_mam_02_queryid_is_kept_byte_for_byte() -> None:
    assert parse(attrs="queryid='MLhistory:5f3-a_b'").query_id == "MLhistory:5f3-a_b"


def test_mam_02_empty_queryid_is_still_echoed() -> None:
    assert parse(attrs="queryid=''").query_id == ""


def test_mam_04_no_queryid() -> None:
    assert parse().query_id is None


def test_query_in_another_namespace_is_bad_request() -> None:
    with pytest.raises(StanzaError) as err:
        parse_query(fromstring("<query xmlns='urn:xmpp:mam:1'/>"))
    assert (err.value.condition, err.value.text) == (
        "bad-request",
        f"Expected <query xmlns='{MAM}'/>",
    )


def test_two_forms_are_bad_request() -> None:
    err = error(form("") + form(""))
    assert (err.condition, err.text) == ("bad-request", "More than one data form in <query/>")


def test_unknown_query_children_are_ignored() -> None:
    assert parse("<foo xmlns='urn:example'/>") == parse()


def test_config_must_allow_a_page() -> None:
    with pytest.raises(ValueError):
        parse(max_results=0)
    with pytest.raises(ValueError):
        parse(default_page_size=0)


# ------------------------------------------------------------------ the form (FRM)


def test_frm_01_iq_get_reply_is_a_query_holding_a_blank_form() -> None:
    reply = build_query_form(extended=True, fulltext=False)
    assert reply.tag == f"{{{MAM}}}query"
    [x] = list(reply)
    assert (x.tag, x.get("type")) == (X + "x", "form")


def fields_of(reply: Element) -> dict[str, str | None]:
    return {f.get("var") or "": f.get("type") for f in reply.iter(X + "field")}


def test_frm_02_form_type_is_hidden_mam() -> None:
    x = build_query_form(extended=False, fulltext=False)[0]
    first = x[0]
    assert (first.get("var"), first.get("type")) == ("FORM_TYPE", "hidden")
    assert [v.text for v in first.iter(X + "value")] == [MAM]


def test_frm_03_basic_fields_and_types() -> None:
    assert fields_of(build_query_form(extended=False, fulltext=False)) == {
        "FORM_TYPE": "hidden",
        "with": "jid-single",
        "start": "text-single",
        "end": "text-single",
    }


def test_frm_04_extended_fields_and_types() -> None:
    fields = fields_of(build_query_form(extended=True, fulltext=False))
    assert {k: fields[k] for k in ("before-id", "after-id", "ids")} == {
        "before-id": "text-single",
        "after-id": "text-single",
        "ids": "list-multi",
    }


def test_frm_05_ids_has_open_validate_and_no_options() -> None:
    x = build_query_form(extended=True, fulltext=False)
    [ids] = [f for f in x.iter(X + "field") if f.get("var") == "ids"]
    validate = ids.find("{http://jabber.org/protocol/xdata-validate}validate")
    assert validate is not None
    assert validate.get("datatype") == "xs:string"
    assert [c.tag for c in validate] == ["{http://jabber.org/protocol/xdata-validate}open"]
    assert ids.find(X + "option") is None


def test_frm_06_no_field_is_required() -> None:
    x = build_query_form(extended=True, fulltext=True, include_groupchat=True)
    assert list(x.iter(X + "required")) == []


def test_frm_07_fulltext_field_only_when_enabled() -> None:
    assert FT not in fields_of(build_query_form(extended=True, fulltext=False))
    assert fields_of(build_query_form(extended=True, fulltext=True))[FT] == "text-single"


def test_frm_07_include_groupchat_only_when_supported() -> None:
    assert "include-groupchat" not in fields_of(build_query_form(extended=True, fulltext=False))
    fields = fields_of(build_query_form(extended=True, fulltext=False, include_groupchat=True))
    assert fields["include-groupchat"] == "boolean"


def test_frm_08_start_and_end_carry_datetime_validate() -> None:
    x = build_query_form(extended=False, fulltext=False)
    for var in ("start", "end"):
        [field] = [f for f in x.iter(X + "field") if f.get("var") == var]
        validate = field.find("{http://jabber.org/protocol/xdata-validate}validate")
        assert validate is not None
        assert validate.get("datatype") == "xs:dateTime"


def test_frm_10_typeless_fields_are_accepted() -> None:
    got = filters(
        "<field var='with'><value>juliet@capulet.lit</value></field>"
        "<field var='start'><value>2010-06-07T00:00:00Z</value></field>"
        "<field var='end'><value>2010-07-07T13:23:54Z</value></field>"
        "<field var='ids'><value>a</value></field>"
    )
    assert got.with_bare == "juliet@capulet.lit"
    assert got.start == datetime(2010, 6, 7, tzinfo=UTC)
    assert got.end == datetime(2010, 7, 7, 13, 23, 54, tzinfo=UTC)
    assert got.ids == ("a",)


def test_frm_04_ids_accepted_as_text_multi_or_list_multi() -> None:
    for ids_type in ("text-multi", "list-multi"):
        got = filters(
            f"<field var='ids' type='{ids_type}'><value>a</value><value>b</value></field>"
        )
        assert got.ids == ("a", "b")


@pytest.mark.parametrize(
    "form_type",
    [
        f"<field var='FORM_TYPE' type='hidden'><value>{MAM}</value></field>",
        f"<field var='FORM_TYPE'><value>{MAM}</value></field>",
    ],
)
def test_frm_11_form_type_with_or_without_hidden(form_type: str) -> None:
    request = parse(form("<field var='with'><value>a@ex</value></field>", form_type))
    assert request.archive_query.with_bare == "a@ex"


def test_frm_12_missing_form_type_is_bad_request() -> None:
    err = error(form("<field var='with'><value>a@ex</value></field>", form_type=""))
    assert (err.condition, err.error_type) == ("bad-request", "modify")
    assert err.text == "Missing FORM_TYPE: expected 'urn:xmpp:mam:2'"


def test_frm_12_foreign_form_type_is_bad_request() -> None:
    err = error(
        form("", "<field var='FORM_TYPE' type='hidden'><value>urn:xmpp:mam:1</value></field>")
    )
    assert (err.condition, err.text) == (
        "bad-request",
        "Unexpected FORM_TYPE 'urn:xmpp:mam:1': expected 'urn:xmpp:mam:2'",
    )


def test_frm_13_unknown_field_is_feature_not_implemented() -> None:
    err = error(form("<field var='{urn:example}x'><value>1</value></field>"))
    assert (err.condition, err.error_type) == ("feature-not-implemented", "cancel")
    assert err.text == "Unsupported field '{urn:example}x'"


def test_frm_13_flt_21_include_groupchat_when_not_supported() -> None:
    err = error(form("<field var='include-groupchat'><value>false</value></field>"))
    assert (err.condition, err.text) == (
        "feature-not-implemented",
        "Unsupported field 'include-groupchat'",
    )


def test_frm_13_fulltext_when_disabled() -> None:
    err = error(form(f"<field var='{FT}'><value>cat</value></field>"))
    assert (err.condition, err.text) == ("feature-not-implemented", f"Unsupported field '{FT}'")


def test_frm_13_fts_04_legacy_fulltext_var_is_not_accepted() -> None:
    err = error(form("<field var='full-text-search'><value>cat</value></field>"), fulltext=True)
    assert (err.condition, err.text) == (
        "feature-not-implemented",
        "Unsupported field 'full-text-search'",
    )


@pytest.mark.parametrize("var", ["before-id", "after-id", "ids"])
def test_frm_13_extended_fields_without_extended(var: str) -> None:
    err = error(form(f"<field var='{var}'><value>a</value></field>"), extended=False)
    assert (err.condition, err.text) == ("feature-not-implemented", f"Unsupported field '{var}'")


def test_frm_13_empty_unknown_field_is_still_unknown() -> None:
    err = error(form("<field var='nope'/>"))
    assert err.condition == "feature-not-implemented"


@pytest.mark.parametrize("x_type", ["form", "cancel", "result"])
def test_frm_14_form_not_submit_is_bad_request(x_type: str) -> None:
    err = error(
        f"<x xmlns='jabber:x:data' type='{x_type}'>"
        f"<field var='FORM_TYPE' type='hidden'><value>{MAM}</value></field></x>"
    )
    assert (err.condition, err.text) == (
        "bad-request",
        f"Data form type must be 'submit', not '{x_type}'",
    )


@pytest.mark.parametrize(
    ("var", "value", "what"),
    [
        ("start", "yesterday", "an XEP-0082 DateTime"),
        ("start", "2010-06-07", "an XEP-0082 DateTime"),
        ("end", "2010-06-07T00:00:00", "an XEP-0082 DateTime"),
        ("with", "@capulet.lit", "a valid JID"),
        ("with", "juliet@capulet.lit/", "a valid JID"),
        ("with", "a@b@c", "a valid JID"),
    ],
)
def test_frm_15_unparsable_values_are_not_acceptable(var: str, value: str, what: str) -> None:
    err = error(form(f"<field var='{var}'><value>{value}</value></field>"))
    assert (err.condition, err.error_type) == ("not-acceptable", "modify")
    assert err.text == f"Field '{var}' is not {what}: {value!r}"


def test_frm_15_non_boolean_include_groupchat_is_not_acceptable() -> None:
    err = error(
        form("<field var='include-groupchat'><value>yes</value></field>"), include_groupchat=True
    )
    assert (err.condition, err.text) == (
        "not-acceptable",
        "Field 'include-groupchat' is not a boolean: 'yes'",
    )


@pytest.mark.parametrize(
    ("value", "msg_types"),
    [
        ("true", None),
        ("1", None),
        ("false", frozenset({"chat", "normal", "headline", "error"})),
        ("0", frozenset({"chat", "normal", "headline", "error"})),
    ],
)
def test_frm_16_flt_22_include_groupchat_booleans(
    value: str, msg_types: frozenset[str] | None
) -> None:
    got = filters(
        f"<field var='include-groupchat' type='boolean'><value>{value}</value></field>",
        include_groupchat=True,
    )
    assert got.msg_types == msg_types


def test_flt_22_include_groupchat_absent_is_our_default() -> None:
    assert filters("", include_groupchat=True).msg_types is None


@pytest.mark.parametrize("var", ["with", "start", "end", "before-id", "after-id"])
def test_frm_17_two_values_in_single_value_field_is_bad_request(var: str) -> None:
    value = "a@ex" if var == "with" else "2010-06-07T00:00:00Z"
    err = error(form(f"<field var='{var}'><value>{value}</value><value>{value}</value></field>"))
    assert (err.condition, err.error_type) == ("bad-request", "modify")
    assert err.text == f"Field '{var}' takes a single value"


def test_frm_17_two_values_in_fulltext_is_bad_request() -> None:
    err = error(form(f"<field var='{FT}'><value>a</value><value>b</value></field>"), fulltext=True)
    assert (err.condition, err.text) == ("bad-request", f"Field '{FT}' takes a single value")


@pytest.mark.parametrize(
    "field_xml",
    [
        "<field var='{var}'/>",
        "<field var='{var}'><value/></field>",
        "<field var='{var}'><value>  </value></field>",
    ],
)
@pytest.mark.parametrize("var", ["with", "start", "end", "before-id", "after-id", "ids", FT])
def test_frm_18_empty_field_is_absent(field_xml: str, var: str) -> None:
    got = filters(field_xml.format(var=var), fulltext=True)
    assert got == filters("", fulltext=True)
    assert got == ArchiveQuery(limit=20, want_total=True)


# ------------------------------------------------------------------ filters (FLT)


def test_flt_01_flt_02_bare_with_matches_every_resource() -> None:
    got = filters("<field var='with'><value>bob@ex</value></field>")
    assert (got.with_bare, got.with_resource) == ("bob@ex", None)


def test_flt_03_full_with_matches_only_that_resource() -> None:
    got = filters("<field var='with'><value>bob@ex/r1</value></field>")
    assert (got.with_bare, got.with_resource) == ("bob@ex", "r1")


def test_flt_04_with_own_jid_is_passed_through() -> None:
    assert filters("<field var='with'><value>alice@ex</value></field>").with_bare == "alice@ex"


def test_flt_05_with_is_normalised() -> None:
    got = filters("<field var='with'><value> BOB@EX/Phone </value></field>")
    assert (got.with_bare, got.with_resource) == ("bob@ex", "Phone")


def test_flt_with_a_domain_jid() -> None:
    assert filters("<field var='with'><value>muc.ex</value></field>").with_bare == "muc.ex"


@pytest.mark.parametrize(
    "stamp", ["2024-03-01T10:00:00Z", "2024-03-01T12:00:00+02:00", "2024-03-01T10:00:00.000Z"]
)
def test_flt_08_start_forms_filter_identically(stamp: str) -> None:
    got = filters(f"<field var='start'><value>{stamp}</value></field>")
    assert got.start == datetime(2024, 3, 1, 10, tzinfo=UTC)


def test_flt_07_flt_10_start_and_end_keep_microseconds() -> None:
    stamp = "2024-03-01T10:00:00.123456Z"
    got = filters(
        f"<field var='start'><value>{stamp}</value></field>"
        f"<field var='end'><value>{stamp}</value></field>"
    )
    assert got.start == got.end == datetime(2024, 3, 1, 10, 0, 0, 123456, tzinfo=UTC)


def test_flt_09_start_after_end_is_not_an_error() -> None:
    got = filters(
        "<field var='start'><value>2024-03-02T00:00:00Z</value></field>"
        "<field var='end'><value>2024-03-01T00:00:00Z</value></field>"
    )
    assert got.start is not None and got.end is not None and got.start > got.end


def test_flt_11_time_filters_combine_with_with_and_rsm() -> None:
    request = parse(
        form(
            "<field var='with'><value>bob@ex</value></field>"
            "<field var='start'><value>2024-03-01T00:00:00Z</value></field>"
            "<field var='end'><value>2024-03-02T00:00:00Z</value></field>"
        )
        + rsm("<max>50</max><before>id9</before>")
    )
    got = request.archive_query
    assert (got.with_bare, got.page_before, got.limit) == ("bob@ex", "id9", 50)
    assert got.start == datetime(2024, 3, 1, tzinfo=UTC)


def test_flt_12_after_id_and_before_id() -> None:
    got = filters(
        "<field var='after-id'><value>id4</value></field>"
        "<field var='before-id'><value>id11</value></field>"
    )
    assert (got.after_id, got.before_id) == ("id4", "id11")


def test_flt_13_before_id_does_not_page_backwards() -> None:
    request = parse(
        form("<field var='before-id'><value>id11</value></field>") + rsm("<max>5</max>")
    )
    got = request.archive_query
    assert (got.before_id, got.page_before, got.last_page) == ("id11", None, False)
    assert not request.rsm.backwards


def test_flt_14_id_range_with_last_page() -> None:
    got = parse(
        form(
            "<field var='after-id'><value>id5</value></field>"
            "<field var='before-id'><value>id11</value></field>"
        )
        + rsm("<max>5</max><before/>")
    ).archive_query
    assert (got.after_id, got.before_id, got.last_page, got.limit) == ("id5", "id11", True, 5)


def test_flt_15_form_ids_bound_the_set_and_rsm_pages_inside() -> None:
    got = parse(
        form("<field var='after-id'><value>id5</value></field>")
        + rsm("<max>3</max><after>id8</after>")
    ).archive_query
    assert (got.after_id, got.page_after, got.limit) == ("id5", "id8", 3)


def test_flt_16_ids_each_once_in_request_order() -> None:
    got = filters(
        "<field var='ids'><value>id10</value><value>id5</value><value>id10</value></field>"
    )
    assert got.ids == ("id10", "id5")


def test_flt_16_ids_skip_empty_values() -> None:
    got = filters("<field var='ids'><value>id10</value><value/><value> id5 </value></field>")
    assert got.ids == ("id10", "id5")


def test_flt_19_ids_with_rsm() -> None:
    got = parse(
        form("<field var='ids'><value>id2</value><value>id5</value></field>")
        + rsm("<max>10</max><after>id1</after>")
    ).archive_query
    assert (got.ids, got.page_after) == (("id2", "id5"), "id1")


def test_fts_01_fulltext_value() -> None:
    assert filters(f"<field var='{FT}'><value>cat</value></field>", fulltext=True).fulltext == "cat"


def test_fts_01_empty_fulltext_is_no_filter() -> None:
    assert filters(f"<field var='{FT}'><value/></field>", fulltext=True).fulltext is None


# ------------------------------------------------------------------ RSM and page size


def test_rsm_01_max_is_the_page_size() -> None:
    request = parse(rsm("<max>5</max>"))
    assert (request.page_size, request.archive_query.limit, request.capped) == (5, 5, False)


def test_rsm_02_fin_07_max_above_cap_is_cut_and_flagged() -> None:
    request = parse(rsm("<max>10000</max>"), max_results=50)
    assert (request.requested_max, request.page_size, request.archive_query.limit) == (
        10000,
        50,
        50,
    )
    assert request.capped


def test_rsm_02_max_equal_to_cap_is_not_capped() -> None:
    assert not parse(rsm("<max>50</max>"), max_results=50).capped


def test_rsm_03_no_set_uses_the_default_page_size() -> None:
    request = parse(default_page_size=20, max_results=50)
    assert (request.requested_max, request.page_size, request.capped) == (None, 20, False)


def test_rsm_03_default_page_size_is_cut_to_the_cap() -> None:
    assert parse(default_page_size=20, max_results=10).page_size == 10


def test_rsm_04_bad_max_is_bad_request() -> None:
    err = error(rsm("<max>-1</max>"))
    assert (err.condition, err.text) == (
        "bad-request",
        "RSM <max/> must be a non-negative integer, not '-1'",
    )
    err = error(rsm("<max>abc</max>"))
    assert (err.condition, err.text) == (
        "bad-request",
        "RSM <max/> must be a non-negative integer, not 'abc'",
    )


def test_rsm_05_after_maps_to_page_after() -> None:
    got = parse(rsm("<max>5</max><after>id10</after>")).archive_query
    assert (got.page_after, got.page_before, got.last_page, got.after_id) == (
        "id10",
        None,
        False,
        None,
    )


def test_rsm_06_before_maps_to_page_before() -> None:
    got = parse(rsm("<max>5</max><before>id10</before>")).archive_query
    assert (got.page_before, got.last_page, got.before_id) == ("id10", False, None)


def test_rsm_07_empty_before_is_last_page() -> None:
    got = parse(rsm("<max>5</max><before/>")).archive_query
    assert (got.page_before, got.last_page) == (None, True)


def test_rsm_12_empty_after_is_first_page() -> None:
    assert parse(rsm("<after/>")).archive_query == parse().archive_query


def test_rsm_13_after_and_before_together() -> None:
    got = parse(rsm("<max>3</max><after>id3</after><before>id10</before>")).archive_query
    assert (got.page_after, got.page_before) == ("id3", "id10")


def test_rsm_14_index_is_feature_not_implemented() -> None:
    err = error(rsm("<max>5</max><index>5</index>"))
    assert (err.condition, err.error_type) == ("feature-not-implemented", "cancel")
    assert err.text == "RSM <index/> is not supported: page with <after/> or <before/>"


def test_rsm_16_max_zero_asks_for_a_count() -> None:
    request = parse(rsm("<max>0</max>"), include_total=False)
    assert (request.page_size, request.archive_query.limit) == (0, 0)
    assert request.archive_query.want_total


def test_rsm_24_total_can_be_switched_off() -> None:
    assert not parse(rsm("<max>5</max>"), include_total=False).archive_query.want_total
    assert parse(rsm("<max>5</max>"), include_total=True).archive_query.want_total


def test_rsm_request_is_kept_on_the_request() -> None:
    request = parse(rsm("<max>5</max><before/>"))
    assert request.rsm == RsmRequest(max=5, last_page=True)


# ------------------------------------------------------------------ flip


def test_flip_01_flip_page() -> None:
    assert parse(rsm("<max>5</max>") + f"<flip-page xmlns='{MAM}'/>").flip
    assert not parse(rsm("<max>5</max>")).flip


def test_flip_page_in_another_namespace_is_not_a_flip() -> None:
    assert not parse("<flip-page xmlns='urn:xmpp:mam:1'/>").flip


def test_flip_02_flip_does_not_change_the_archive_query() -> None:
    plain = parse(rsm("<max>5</max><before/>"))
    flipped = parse(rsm("<max>5</max><before/>") + "<flip-page/>")
    assert flipped.archive_query == plain.archive_query


def test_flip_without_extended_is_feature_not_implemented() -> None:
    err = error("<flip-page/>", extended=False)
    assert (err.condition, err.text) == ("feature-not-implemented", "<flip-page/> is not supported")


def test_request_is_frozen() -> None:
    request = parse()
    with pytest.raises(AttributeError):
        request.flip = True  # type: ignore[misc]


def test_page_size_must_match_the_archive_query() -> None:
    with pytest.raises(ValueError):
        MamRequest(None, ArchiveQuery(limit=5), False, RsmRequest(), None, 6)
