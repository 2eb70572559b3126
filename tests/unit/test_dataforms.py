"""XEP-0004 data forms: strict parsing and building (checklist FRM-10/11/14/16/17)."""

from __future__ import annotations

from xml.etree.ElementTree import fromstring

import pytest

from garrulus.xmpp.dataforms import (
    FieldSpec,
    FieldType,
    FormType,
    Option,
    Validate,
    ValidateMethod,
    build_form,
    parse_boolean,
    parse_form,
)
from garrulus.xmpp.errors import StanzaError
from garrulus.xmpp.xml import to_xml

X = "{jabber:x:data}"
V = "{http://jabber.org/protocol/xdata-validate}"


def bad_request(xml: str, *, require_submit: bool = True) -> str | None:
    with pytest.raises(StanzaError) as err:
        parse_form(fromstring(xml), require_submit=require_submit)
    assert err.value.condition == "bad-request"
    assert err.value.error_type == "modify"
    return err.value.text


def test_parse_submit_form() -> None:
    form = parse_form(
        fromstring(
            """<x xmlns='jabber:x:data' type='submit'>
                 <field var='FORM_TYPE' type='hidden'><value>urn:xmpp:mam:2</value></field>
                 <field var='with' type='jid-single'><value>juliet@capulet.lit</value></field>
                 <field var='ids'><value>a</value><value>b</value></field>
               </x>"""
        )
    )
    assert form.type is FormType.SUBMIT
    assert form.form_type == "urn:xmpp:mam:2"
    assert dict(form.fields) == {"with": ("juliet@capulet.lit",), "ids": ("a", "b")}
    assert dict(form.field_types) == {"with": FieldType.JID_SINGLE, "ids": None}


def test_frm_10_fields_without_type_are_accepted() -> None:
    form = parse_form(
        fromstring(
            """<x xmlns='jabber:x:data' type='submit'>
                 <field var='FORM_TYPE'><value>urn:xmpp:mam:2</value></field>
                 <field var='start'><value>2010-06-07T00:00:00Z</value></field>
               </x>"""
        )
    )
    assert form.fields["start"] == ("2010-06-07T00:00:00Z",)
    assert form.field_types["start"] is None


@pytest.mark.parametrize("type_attr", ["type='hidden'", ""])
def test_frm_11_form_type_with_or_without_hidden(type_attr: str) -> None:
    form = parse_form(
        fromstring(
            f"""<x xmlns='jabber:x:data' type='submit'>
                  <field var='FORM_TYPE' {type_attr}><value>urn:xmpp:mam:2</value></field>
                </x>"""
        )
    )
    assert form.form_type == "urn:xmpp:mam:2"
    assert "FORM_TYPE" not in form.fields


def test_form_type_of_another_field_type_is_bad_request() -> None:
    text = bad_request(
        """<x xmlns='jabber:x:data' type='submit'>
             <field var='FORM_TYPE' type='text-single'><value>urn:xmpp:mam:2</value></field>
           </x>"""
    )
    assert text == "FORM_TYPE must be a hidden field"


def test_form_without_form_type() -> None:
    form = parse_form(fromstring("<x xmlns='jabber:x:data' type='submit'/>"))
    assert form.form_type is None
    assert dict(form.fields) == {}


def test_empty_form_type_value_is_no_form_type() -> None:
    form = parse_form(
        fromstring(
            "<x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE'><value/></field></x>"
        )
    )
    assert form.form_type is None


def test_form_type_twice_is_bad_request() -> None:
    text = bad_request(
        """<x xmlns='jabber:x:data' type='submit'>
             <field var='FORM_TYPE'><value>urn:xmpp:mam:2</value></field>
             <field var='FORM_TYPE'><value>urn:xmpp:mam:2</value></field>
           </x>"""
    )
    assert text == "FORM_TYPE appears more than once"


def test_form_type_with_two_values_is_bad_request() -> None:
    text = bad_request(
        """<x xmlns='jabber:x:data' type='submit'>
             <field var='FORM_TYPE'><value>urn:xmpp:mam:2</value><value>x</value></field>
           </x>"""
    )
    assert text == "FORM_TYPE has more than one value"


@pytest.mark.parametrize("form_type", ["form", "cancel", "result"])
def test_frm_14_form_type_other_than_submit_is_bad_request(form_type: str) -> None:
    text = bad_request(f"<x xmlns='jabber:x:data' type='{form_type}'/>")
    assert text == f"Data form type must be 'submit', not '{form_type}'"


def test_frm_14_other_types_accepted_when_submit_not_required() -> None:
    form = parse_form(fromstring("<x xmlns='jabber:x:data' type='result'/>"), require_submit=False)
    assert form.type is FormType.RESULT


def test_missing_form_type_attribute_is_bad_request() -> None:
    assert bad_request("<x xmlns='jabber:x:data'/>") == "Data form has no 'type' attribute"


def test_unknown_form_type_attribute_is_bad_request() -> None:
    text = bad_request("<x xmlns='jabber:x:data' type='Submit'/>")
    assert text == "Unknown data form type 'Submit'"


def test_not_a_data_form_is_bad_request() -> None:
    text = bad_request("<x xmlns='jabber:x:oob' type='submit'/>")
    assert text == "Expected a data form <x xmlns='jabber:x:data'/>"


def test_repeated_var_is_bad_request() -> None:
    text = bad_request(
        """<x xmlns='jabber:x:data' type='submit'>
             <field var='with'><value>a@b</value></field>
             <field var='with'><value>c@d</value></field>
           </x>"""
    )
    assert text == "Field 'with' appears more than once"


def test_field_without_var_is_bad_request() -> None:
    text = bad_request(
        "<x xmlns='jabber:x:data' type='submit'>"
        "<field type='text-single'><value>a</value></field></x>"
    )
    assert text == "Data form field has no 'var' attribute"


def test_fixed_field_without_var_is_ignored() -> None:
    form = parse_form(
        fromstring(
            "<x xmlns='jabber:x:data' type='submit'>"
            "<field type='fixed'><value>hi</value></field></x>"
        )
    )
    assert dict(form.fields) == {}


def test_unknown_field_type_is_bad_request() -> None:
    text = bad_request(
        "<x xmlns='jabber:x:data' type='submit'><field var='a' type='date'><value/></field></x>"
    )
    assert text == "Unknown field type 'date'"


def test_values_are_raw_text_empty_and_missing() -> None:
    form = parse_form(
        fromstring(
            """<x xmlns='jabber:x:data' type='submit'>
                 <field var='empty'><value/></field>
                 <field var='none'/>
                 <field var='spaced'><value> a </value></field>
               </x>"""
        )
    )
    assert form.fields["empty"] == ("",)
    assert form.fields["none"] == ()
    assert form.fields["spaced"] == (" a ",)


def test_title_instructions_and_extensions_are_ignored() -> None:
    form = parse_form(
        fromstring(
            """<x xmlns='jabber:x:data' type='submit'>
                 <title>t</title><instructions>i</instructions>
                 <field var='a'><value>1</value><desc>d</desc></field>
               </x>"""
        )
    )
    assert dict(form.fields) == {"a": ("1",)}


def test_submitted_form_is_frozen() -> None:
    form = parse_form(fromstring("<x xmlns='jabber:x:data' type='submit'/>"))
    with pytest.raises(AttributeError):
        form.form_type = "x"  # type: ignore[misc]
    with pytest.raises(TypeError):
        form.fields["a"] = ("b",)  # type: ignore[index]


@pytest.mark.parametrize(
    ("text", "value"), [("true", True), ("1", True), ("false", False), ("0", False)]
)
def test_frm_16_boolean_values(text: str, value: bool) -> None:
    assert parse_boolean(text) is value


@pytest.mark.parametrize("text", ["yes", "True", "", "2", "no"])
def test_frm_16_non_booleans_raise(text: str) -> None:
    with pytest.raises(ValueError):
        parse_boolean(text)


def test_build_form_writes_form_type_first_and_hidden() -> None:
    x = build_form("urn:example", [FieldSpec("a", FieldType.TEXT_SINGLE)])
    assert x.tag == X + "x"
    assert x.get("type") == "form"
    first = x[0]
    assert (first.get("var"), first.get("type")) == ("FORM_TYPE", "hidden")
    assert [v.text for v in first.iter(X + "value")] == ["urn:example"]
    assert x[1].get("var") == "a"


def test_build_form_without_form_type() -> None:
    x = build_form(None, [FieldSpec("a", FieldType.BOOLEAN)])
    assert [f.get("var") for f in x] == ["a"]


def test_build_field_details() -> None:
    x = build_form(
        None,
        [
            FieldSpec(
                "color",
                FieldType.LIST_SINGLE,
                label="Colour",
                desc="Pick one",
                values=("red",),
                options=(Option("red", "Red"), Option("blue")),
                required=True,
            )
        ],
        title="T",
        instructions="I",
    )
    assert to_xml(x) == (
        "<x xmlns='jabber:x:data' type='form'><title>T</title><instructions>I</instructions>"
        "<field var='color' type='list-single' label='Colour'><desc>Pick one</desc><required/>"
        "<value>red</value><option label='Red'><value>red</value></option>"
        "<option><value>blue</value></option></field></x>"
    )


def test_build_validate_open() -> None:
    x = build_form(
        None,
        [
            FieldSpec(
                "ids",
                FieldType.LIST_MULTI,
                validate=Validate("xs:string", ValidateMethod.OPEN),
            )
        ],
    )
    validate = x.find(f"{X}field/{V}validate")
    assert validate is not None
    assert validate.get("datatype") == "xs:string"
    assert [c.tag for c in validate] == [V + "open"]


def test_build_validate_without_method() -> None:
    x = build_form(
        None, [FieldSpec("start", FieldType.TEXT_SINGLE, validate=Validate("xs:dateTime"))]
    )
    validate = x.find(f"{X}field/{V}validate")
    assert validate is not None
    assert validate.get("datatype") == "xs:dateTime"
    assert list(validate) == []


def test_build_submit_form_parses_back() -> None:
    x = build_form(
        "urn:xmpp:mam:2",
        [
            FieldSpec("with", FieldType.JID_SINGLE, values=("a@b",)),
            FieldSpec("ids", FieldType.LIST_MULTI, values=("1", "2")),
        ],
        type=FormType.SUBMIT,
    )
    form = parse_form(fromstring(to_xml(x)))
    assert form.form_type == "urn:xmpp:mam:2"
    assert dict(form.fields) == {"with": ("a@b",), "ids": ("1", "2")}


def test_build_refuses_duplicate_vars() -> None:
    with pytest.raises(ValueError):
        build_form(None, [FieldSpec("a", FieldType.BOOLEAN), FieldSpec("a", FieldType.BOOLEAN)])


def test_field_spec_refuses_form_type_and_misplaced_options() -> None:
    with pytest.raises(ValueError):
        FieldSpec("FORM_TYPE", FieldType.HIDDEN)
    with pytest.raises(ValueError):
        FieldSpec("a", FieldType.TEXT_SINGLE, options=(Option("x"),))
