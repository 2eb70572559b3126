"""JIDs (RFC 7622), prepared with PRECIS profiles and IDNA."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache

import idna
import precis_i18n

from garrulus.xmpp.errors import StanzaError

_USERNAME = precis_i18n.get_profile("UsernameCaseMapped")
_RESOURCE = precis_i18n.get_profile("OpaqueString")
# RFC 7622 3.3.1: characters a localpart may not hold even after PRECIS.
_LOCAL_FORBIDDEN = frozenset("\"&'/:<>@")
_MAX_PART = 1023


class InvalidJID(ValueError):
    """The string is not a valid JID; ``StanzaError("jid-malformed")`` is its XMPP form."""

    def as_stanza_error(self) -> StanzaError:
        return StanzaError("jid-malformed", str(self))


def _prep_local(local: str) -> str:
    if local.isascii() and local.isalnum() and local.islower():
        return local  # fast path: already in canonical form
    try:
        out: str = _USERNAME.enforce(local)
    except UnicodeError as exc:
        raise InvalidJID(f"invalid localpart {local!r}: {exc}") from None
    if _LOCAL_FORBIDDEN.intersection(out):
        raise InvalidJID(f"localpart {local!r} holds a forbidden character")
    return out


def _prep_domain(domain: str) -> str:
    domain = domain.rstrip(".") if domain.endswith(".") and len(domain) > 1 else domain
    if not domain:
        raise InvalidJID("empty domainpart")
    if domain.startswith("[") and domain.endswith("]"):
        return domain  # IPv6 literal
    if domain.isascii():
        out = domain.lower()
        labels = out.split(".")
        if any(not label or len(label) > 63 for label in labels) or any(
            not (c.isalnum() or c in "-_") for label in labels for c in label
        ):
            raise InvalidJID(f"invalid domainpart {domain!r}")
        return out
    try:
        return str(idna.decode(idna.encode(domain, uts46=True)))
    except idna.IDNAError as exc:
        raise InvalidJID(f"invalid domainpart {domain!r}: {exc}") from None


def _prep_resource(resource: str) -> str:
    if resource.isascii() and resource.isprintable() and resource.strip() == resource:
        return resource
    try:
        out: str = _RESOURCE.enforce(resource)
    except UnicodeError as exc:
        raise InvalidJID(f"invalid resourcepart {resource!r}: {exc}") from None
    return out


@dataclass(frozen=True, slots=True)
class JID:
    """A prepared JID. Build with :func:`parse_jid` or :meth:`JID.make`, never from raw input."""

    local: str | None
    domain: str
    resource: str | None = None
    # Worked out once: a message's JIDs are turned into strings and bare JIDs a dozen times on
    # its way (routing keys, archive rows, attributes), and most JIDs come from parse_jid's cache.
    _text: str = field(init=False, repr=False, compare=False)
    # None for a bare JID (itself): no reference cycle, and dataclasses.asdict() still works.
    _bare: JID | None = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_text", _join(self.local, self.domain, self.resource))
        bare = None if self.resource is None else JID(self.local, self.domain)
        object.__setattr__(self, "_bare", bare)

    @staticmethod
    def make(local: str | None, domain: str, resource: str | None = None) -> JID:
        return parse_jid(_join(local, domain, resource))

    @property
    def bare(self) -> JID:
        bare = self._bare
        return self if bare is None else bare

    @property
    def is_bare(self) -> bool:
        return self.resource is None

    @property
    def is_full(self) -> bool:
        return self.resource is not None

    @property
    def is_host(self) -> bool:
        return self.local is None and self.resource is None

    def with_resource(self, resource: str) -> JID:
        return JID(self.local, self.domain, _prep_resource(resource))

    def __str__(self) -> str:
        return self._text


def _join(local: str | None, domain: str, resource: str | None) -> str:
    out = domain if local is None else f"{local}@{domain}"
    return out if resource is None else f"{out}/{resource}"


@lru_cache(maxsize=65536)
def parse_jid(text: str) -> JID:
    """Parse and prepare a JID string; raises :class:`InvalidJID`."""
    slash = text.find("/")
    if slash >= 0:
        rest, resource = text[:slash], text[slash + 1 :]
        if not resource:
            raise InvalidJID("empty resourcepart")
    else:
        rest, resource = text, None
    at = rest.find("@")
    if at >= 0:
        local, domain = rest[:at], rest[at + 1 :]
        if not local:
            raise InvalidJID("empty localpart")
    else:
        local, domain = None, rest
    local_p = _prep_local(local) if local is not None else None
    domain_p = _prep_domain(domain)
    resource_p = _prep_resource(resource) if resource is not None else None
    for part in (local_p, domain_p, resource_p):
        if part is not None and (not part or len(part.encode()) > _MAX_PART):
            raise InvalidJID(f"a part of {text!r} is empty or longer than 1023 bytes")
    return JID(local_p, domain_p, resource_p)


def try_jid(text: str | None) -> JID | None:
    """Parse, or None for a missing or invalid JID."""
    if text is None:
        return None
    try:
        return parse_jid(text)
    except InvalidJID:
        return None
