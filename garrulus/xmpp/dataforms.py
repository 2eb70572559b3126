"""XEP-0004 data forms: strict parsing of submitted forms, and building forms to hand out.

Parsing keeps the submitted values as strings: what a value means (a JID, a date, a boolean) is
the business of the protocol that owns the form, which also decides which fields it knows. What
is checked here is the form itself: its type, one field per ``var``, a single ``FORM_TYPE``
(XEP-0068). Every failure is a ``bad-request`` :class:`StanzaError` whose text names the problem.

Building covers the field types of XEP-0004, labels, descriptions, options and XEP-0122
``<validate/>``.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType

from garrulus.xmpp import ns
from garrulus.xmpp.errors import StanzaError
from garrulus.xmpp.xml import Element, el, qname

__all__ = [
    "FORM_TYPE",
    "FieldSpec",
    "FieldType",
    "FormType",
    "Option",
    "SubmittedForm",
    "Validate",
    "ValidateMethod",
    "build_form",
    "parse_boolean",
    "parse_form",
]

XDATA_VALIDATE = "http://jabber.org/protocol/xdata-validate"
FORM_TYPE = "FORM_TYPE"

_X = qname(ns.DATA_FORMS, "x")
_FIELD = qname(ns.DATA_FORMS, "field")
_VALUE = qname(ns.DATA_FORMS, "value")


class FormType(enum.Enum):
    """The ``type`` attribute of ``<x xmlns='jabber:x:data'>`` (XEP-0004 3.1)."""

    FORM = "form"
    SUBMIT = "submit"
    CANCEL = "cancel"
    RESULT = "result"


class FieldType(enum.Enum):
    """XEP-0004 3.3 field types."""

    BOOLEAN = "boolean"
    FIXED = "fixed"
    HIDDEN = "hidden"
    JID_MULTI = "jid-multi"
    JID_SINGLE = "jid-single"
    LIST_MULTI = "list-multi"
    LIST_SINGLE = "list-single"
    TEXT_MULTI = "text-multi"
    TEXT_PRIVATE = "text-private"
    TEXT_SINGLE = "text-single"


_FIELD_TYPES = {t.value: t for t in FieldType}
_FORM_TYPES = {t.value: t for t in FormType}


@dataclass(frozen=True)
class SubmittedForm:
    """A parsed data form. ``fields`` maps each ``var`` (FORM_TYPE excluded) to its values.

    Values are the raw text of each ``<value/>`` (an empty element gives ``""``), in document
    order; a field without ``<value/>`` maps to ``()``. ``field_types`` holds the ``type`` each
    field was sent with, or None when the submitter left it out (XEP-0004 lets it: the processor
    knows the type from the form it published).
    """

    type: FormType
    form_type: str | None
    fields: Mapping[str, tuple[str, ...]]
    field_types: Mapping[str, FieldType | None]


def _bad(text: str) -> StanzaError:
    return StanzaError("bad-request", text)


def parse_form(x: Element, *, require_submit: bool = True) -> SubmittedForm:
    """Parse ``<x xmlns='jabber:x:data'>`` (XEP-0004), raising ``bad-request`` StanzaErrors.

    With ``require_submit`` any form type but ``submit`` is refused (a query carries a filled-in
    form, never a blank one or a cancellation).
    """
    if x.tag != _X:
        raise _bad("Expected a data form <x xmlns='jabber:x:data'/>")
    raw_type = x.get("type")
    if raw_type is None:
        raise _bad("Data form has no 'type' attribute")
    form_kind = _FORM_TYPES.get(raw_type)
    if form_kind is None:
        raise _bad(f"Unknown data form type '{raw_type}'")
    if require_submit and form_kind is not FormType.SUBMIT:
        raise _bad(f"Data form type must be 'submit', not '{raw_type}'")

    form_type: str | None = None
    seen_form_type = False
    fields: dict[str, tuple[str, ...]] = {}
    types: dict[str, FieldType | None] = {}
    for node in x.iterfind(_FIELD):
        raw_field_type = node.get("type")
        field_type: FieldType | None = None
        if raw_field_type is not None:
            field_type = _FIELD_TYPES.get(raw_field_type)
            if field_type is None:
                raise _bad(f"Unknown field type '{raw_field_type}'")
        var = node.get("var")
        if var is None:
            # XEP-0004 3.2: only fixed fields may lack a var; they are labels, not data.
            if field_type is FieldType.FIXED:
                continue
            raise _bad("Data form field has no 'var' attribute")
        values = tuple(v.text or "" for v in node.iterfind(_VALUE))
        if var == FORM_TYPE:
            # XEP-0068: FORM_TYPE is hidden; submitters that leave the type out are accepted.
            if field_type not in (None, FieldType.HIDDEN):
                raise _bad("FORM_TYPE must be a hidden field")
            if seen_form_type:
                raise _bad("FORM_TYPE appears more than once")
            if len(values) > 1:
                raise _bad("FORM_TYPE has more than one value")
            seen_form_type = True
            form_type = values[0].strip() if values and values[0].strip() else None
            continue
        if var in fields:
            raise _bad(f"Field '{var}' appears more than once")
        fields[var] = values
        types[var] = field_type
    return SubmittedForm(
        type=form_kind,
        form_type=form_type,
        fields=MappingProxyType(fields),
        field_types=MappingProxyType(types),
    )


def parse_boolean(value: str) -> bool:
    """An XEP-0004 boolean: ``1``/``true`` or ``0``/``false`` (xs:boolean); else ValueError."""
    text = value.strip()
    if text in ("1", "true"):
        return True
    if text in ("0", "false"):
        return False
    raise ValueError(f"not a boolean (expected true, false, 1 or 0): {value!r}")


class ValidateMethod(enum.Enum):
    """XEP-0122 validation methods this server hands out."""

    BASIC = "basic"
    OPEN = "open"  # any value, not only the listed options


@dataclass(frozen=True)
class Validate:
    """XEP-0122 ``<validate datatype=...>``; ``method`` None writes no method child (basic)."""

    datatype: str = "xs:string"
    method: ValidateMethod | None = None


@dataclass(frozen=True)
class Option:
    """One ``<option/>`` of a list field."""

    value: str
    label: str | None = None


@dataclass(frozen=True)
class FieldSpec:
    """One field of a form to build."""

    var: str
    type: FieldType
    label: str | None = None
    desc: str | None = None
    values: tuple[str, ...] = ()
    options: tuple[Option, ...] = ()
    validate: Validate | None = None
    required: bool = False

    def __post_init__(self) -> None:
        if self.var == FORM_TYPE:
            raise ValueError("FORM_TYPE is written by build_form from its form_type argument")
        if self.options and self.type not in (FieldType.LIST_SINGLE, FieldType.LIST_MULTI):
            raise ValueError(f"field {self.var!r}: only list fields carry options")


def _field_element(spec: FieldSpec) -> Element:
    node = el(_FIELD, {"var": spec.var, "type": spec.type.value, "label": spec.label})
    # Children in the order of the XEP-0004 schema: desc, required, value*, option*.
    if spec.desc is not None:
        node.append(el(qname(ns.DATA_FORMS, "desc"), text=spec.desc))
    if spec.required:
        node.append(el(qname(ns.DATA_FORMS, "required")))
    for value in spec.values:
        node.append(el(_VALUE, text=value))
    for option in spec.options:
        node.append(
            el(
                qname(ns.DATA_FORMS, "option"),
                {"label": option.label},
                el(_VALUE, text=option.value),
            )
        )
    if spec.validate is not None:
        validate = el(qname(XDATA_VALIDATE, "validate"), {"datatype": spec.validate.datatype})
        if spec.validate.method is not None:
            validate.append(el(qname(XDATA_VALIDATE, spec.validate.method.value)))
        node.append(validate)
    return node


def build_form(
    form_type: str | None,
    fields: Sequence[FieldSpec],
    *,
    type: FormType = FormType.FORM,
    title: str | None = None,
    instructions: str | None = None,
) -> Element:
    """Build ``<x xmlns='jabber:x:data'>``; a ``form_type`` becomes the first, hidden field."""
    x = el(_X, {"type": type.value})
    if title is not None:
        x.append(el(qname(ns.DATA_FORMS, "title"), text=title))
    if instructions is not None:
        x.append(el(qname(ns.DATA_FORMS, "instructions"), text=instructions))
    if form_type is not None:
        x.append(
            el(
                _FIELD,
                {"var": FORM_TYPE, "type": FieldType.HIDDEN.value},
                el(_VALUE, text=form_type),
            )
        )
    seen: set[str] = set()
    for spec in fields:
        if spec.var in seen:
            raise ValueError(f"field {spec.var!r} listed twice")
        seen.add(spec.var)
        x.append(_field_element(spec))
    return x
