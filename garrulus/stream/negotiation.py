"""The c2s negotiation as one table of allowed moves (RFC 6120 sections 5, 6, 7).

A connection is in one :class:`Phase`. Each top-level element the client sends is classified
(:func:`classify`) and looked up in :data:`TABLE` with the phase; anything not in the table is a
protocol error with its XMPP condition, so the connection code never has to reason about order.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from xml.etree.ElementTree import Element

from garrulus.xmpp import ns


class Phase(enum.Enum):
    INSECURE = "insecure"  # stream open over plain TCP, before STARTTLS
    SECURE = "secure"  # TLS up (or not required), before SASL
    SASL = "sasl"  # a SASL exchange in progress
    AUTHENTICATED = "authenticated"  # SASL succeeded, waiting for the stream restart
    AUTHED_STREAM = "authed_stream"  # restarted stream, before resource binding
    BOUND = "bound"  # a full JID: stanzas flow


class Kind(enum.Enum):
    STARTTLS = "starttls"
    AUTH = "auth"
    RESPONSE = "response"
    ABORT = "abort"
    BIND = "bind"  # <iq type=set><bind/></iq>
    SESSION = "session"  # legacy <session/> (RFC 3921), answered with success
    STANZA = "stanza"  # message, presence, iq
    SM = "sm"  # XEP-0198 elements
    REGISTER = "register"  # XEP-0077 IQ before authentication
    OTHER = "other"


class Action(enum.Enum):
    STARTTLS = "starttls"
    SASL_START = "sasl_start"
    SASL_STEP = "sasl_step"
    SASL_ABORT = "sasl_abort"
    BIND = "bind"
    SESSION = "session"
    STANZA = "stanza"
    SM = "sm"
    REGISTER = "register"


@dataclass(frozen=True)
class Refusal:
    """Not allowed here: a stream error (``stream=True``) or a SASL/TLS failure element."""

    condition: str
    text: str
    stream: bool = True


_REGISTER_QUERY = "{" + ns.REGISTER + "}query"
_STANZAS = {ns.CLIENT + "}" + n for n in ("message", "presence", "iq")}


def classify(element: Element) -> Kind:
    tag = element.tag
    if tag == "{" + ns.TLS + "}starttls":
        return Kind.STARTTLS
    if tag[:1] == "{":
        uri = tag[1 : tag.index("}")]
        if uri == ns.SASL:
            local = tag[tag.index("}") + 1 :]
            return {"auth": Kind.AUTH, "response": Kind.RESPONSE, "abort": Kind.ABORT}.get(
                local, Kind.OTHER
            )
        if uri == ns.SM:
            return Kind.SM
    if tag[1:] in _STANZAS:
        if tag.endswith("}iq") and element.get("type") == "set":
            for kid in element:
                if kid.tag == "{" + ns.BIND + "}bind":
                    return Kind.BIND
                if kid.tag == "{" + ns.SESSION + "}session":
                    return Kind.SESSION
        if tag.endswith("}iq") and len(element) == 1 and element[0].tag == _REGISTER_QUERY:
            return Kind.REGISTER
        return Kind.STANZA
    return Kind.OTHER


_NOT_AUTH = Refusal("not-authorized", "authenticate first")
_NEED_TLS = Refusal("policy-violation", "this server requires STARTTLS first")

# (phase, kind) -> Action. Anything absent is refused with REFUSALS or the default.
TABLE: dict[tuple[Phase, Kind], Action] = {
    (Phase.INSECURE, Kind.STARTTLS): Action.STARTTLS,
    (Phase.INSECURE, Kind.AUTH): Action.SASL_START,  # allowed only when TLS is optional
    (Phase.SECURE, Kind.AUTH): Action.SASL_START,
    (Phase.INSECURE, Kind.REGISTER): Action.REGISTER,  # the connection decides if allowed
    (Phase.SECURE, Kind.REGISTER): Action.REGISTER,
    (Phase.BOUND, Kind.REGISTER): Action.STANZA,  # password change, account removal
    (Phase.SASL, Kind.RESPONSE): Action.SASL_STEP,
    (Phase.SASL, Kind.ABORT): Action.SASL_ABORT,
    (Phase.AUTHED_STREAM, Kind.BIND): Action.BIND,
    (Phase.AUTHED_STREAM, Kind.SM): Action.SM,  # resumption happens before binding
    (Phase.BOUND, Kind.STANZA): Action.STANZA,
    (Phase.BOUND, Kind.SESSION): Action.SESSION,
    (Phase.BOUND, Kind.SM): Action.SM,
    # A second <bind/> after binding is an ordinary IQ; the core answers it with an error.
    (Phase.BOUND, Kind.BIND): Action.STANZA,
}

REFUSALS: dict[tuple[Phase, Kind], Refusal] = {
    (Phase.INSECURE, Kind.STANZA): _NOT_AUTH,
    (Phase.INSECURE, Kind.BIND): _NOT_AUTH,
    (Phase.INSECURE, Kind.SESSION): _NOT_AUTH,
    (Phase.SECURE, Kind.STANZA): _NOT_AUTH,
    (Phase.SECURE, Kind.BIND): _NOT_AUTH,
    (Phase.SECURE, Kind.SESSION): _NOT_AUTH,
    (Phase.SASL, Kind.STANZA): _NOT_AUTH,
    (Phase.SECURE, Kind.STARTTLS): Refusal("policy-violation", "TLS is already established"),
    (Phase.AUTHED_STREAM, Kind.STANZA): Refusal("not-authorized", "bind a resource first"),
    (Phase.AUTHED_STREAM, Kind.AUTH): Refusal("policy-violation", "already authenticated"),
    (Phase.BOUND, Kind.AUTH): Refusal("policy-violation", "already authenticated"),
    (Phase.SASL, Kind.AUTH): Refusal("policy-violation", "a SASL exchange is in progress"),
}


def decide(phase: Phase, kind: Kind, tls_required: bool) -> Action | Refusal:
    if phase is Phase.INSECURE and kind in (Kind.AUTH, Kind.REGISTER) and tls_required:
        if kind is Kind.REGISTER:
            return _NEED_TLS
        # RFC 6120 6.4.? : SASL is not offered before TLS when TLS is mandatory.
        return Refusal("encryption-required", "STARTTLS first", stream=False)
    action = TABLE.get((phase, kind))
    if action is not None:
        return action
    refusal = REFUSALS.get((phase, kind))
    if refusal is not None:
        return refusal
    if kind is Kind.OTHER:
        return Refusal("unsupported-stanza-type", "unknown top-level element")
    if phase is Phase.INSECURE and tls_required:
        return _NEED_TLS
    return Refusal("policy-violation", f"{kind.value} is not allowed now")
