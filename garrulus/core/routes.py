"""Route keys: the names of stanza events, built here and nowhere else.

``pre-<kind>/<target>`` fires for a stanza a local client sent, before it is routed;
``<kind>/<target>`` fires where it arrives for a local user or the host. For IQs,
``iq-<type>/<target>/<ns>:<name>`` fires first, with the namespace and name of the payload.
Targets: ``bare`` (to a user's bare JID), ``full`` (to a full JID), ``host`` (to the server),
``self`` (an IQ a user addressed to their own account, with no ``to`` or their own bare JID).
"""

from __future__ import annotations

from typing import Literal

Kind = Literal["message", "presence", "iq"]
Target = Literal["bare", "full", "host", "self"]
IqType = Literal["get", "set", "result", "error"]

_cache: dict[tuple[str, ...], str] = {}


def stanza_route(kind: Kind, target: Target, *, outgoing: bool = False) -> str:
    key = ("s", kind, target, "pre" if outgoing else "")
    name = _cache.get(key)
    if name is None:
        name = f"{'pre-' if outgoing else ''}{kind}/{target}"
        _cache[key] = name
    return name


def iq_route(iq_type: IqType, target: Target, namespace: str, name: str) -> str:
    key = ("i", iq_type, target, namespace, name)
    route = _cache.get(key)
    if route is None:
        route = f"iq-{iq_type}/{target}/{namespace}:{name}"
        _cache[key] = route
    return route


def iq_route_for(iq_type: str, target: str, payload_tag: str) -> str:
    """The IQ route of a payload given as a Clark tag (used by the router, not modules)."""
    key = ("c", iq_type, target, payload_tag)
    route = _cache.get(key)
    if route is None:
        if payload_tag[:1] == "{":
            end = payload_tag.index("}")
            namespace, name = payload_tag[1:end], payload_tag[end + 1 :]
        else:
            namespace, name = "", payload_tag
        route = f"iq-{iq_type}/{target}/{namespace}:{name}"
        if len(_cache) < 10000:  # payload tags come from clients: bound the cache
            _cache[key] = route
    return route


# Named non-stanza events, so modules and the core spell them the same way.
RESOURCE_BOUND = "resource-bound"  # SessionEvent, after a session got its full JID
RESOURCE_UNBOUND = "resource-unbound"  # SessionEvent, the session is gone
ACCOUNT_DISCO_INFO = "account-disco-info"  # DiscoInfoEvent for a user's bare JID
HOST_DISCO_INFO = "host-disco-info"  # DiscoInfoEvent for the host
USER_DELETED = "user-deleted"  # UserEvent: remove every piece of that user's data
USER_CREATED = "user-created"  # UserEvent
STREAM_FEATURES = "stream-features"  # FeaturesEvent: add elements to post-auth features
SERVER_STOPPING = "server-stopping"
