"""XEP-0160 offline messages: kept for a user with no available resource, delivered in order
with an XEP-0203 ``<delay/>`` when they next send initial presence, then deleted.

What is kept (after Prosody's mod_offline and XEP-0334): ``chat`` and ``normal`` messages with a
body or any other content; a message whose only content is chat states (or nothing) is dropped
silently, as telling the sender "not delivered" about a typing notification helps nobody; a
``<no-store/>`` hint refuses storage, so the sender learns the message was not delivered.

Past ``offline_max_messages`` stored messages the store refuses more and the sender gets
``service-unavailable`` (RFC 6121 8.5.2.2.1 names it; ``resource-constraint`` would be type
``wait`` and invite automatic retries that cannot succeed until the user logs in) - unless another
module (the archive) claims the message on the ``message-offline`` event.

Before delivering to a session, :data:`OFFLINE_BROADCAST` is fired with a SessionEvent; a
handler returning True (the archive does for a session that already queried its archive)
suppresses the sending and the messages stay stored for the user's next session, as in Prosody,
where such a handler runs instead of mod_offline's (XEP-0313 checklist OFF-03).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any
from xml.etree.ElementTree import Element, SubElement, fromstring

from garrulus.core.event_types import SessionEvent, StanzaEvent, UserEvent
from garrulus.core.module_api import ModuleContext
from garrulus.core.options import Option
from garrulus.core.routes import USER_DELETED
from garrulus.modules.message import MESSAGE_OFFLINE
from garrulus.modules.presence import INITIAL_PRESENCE
from garrulus.modules.roster.cache import UserCache
from garrulus.modules.roster.store import UserLocks
from garrulus.xmpp import ns
from garrulus.xmpp.datetime import format_datetime
from garrulus.xmpp.xml import qname, split_tag, to_xml

OPTIONS: tuple[Option[Any], ...] = (
    Option(
        "offline_max_messages",
        int,
        500,
        "most messages kept for one offline user; past it senders get service-unavailable",
    ),
)
DEPENDS = ("message", "presence")

# Fired (SessionEvent) before stored messages go to a session; True means "not to this one".
OFFLINE_BROADCAST = "offline-broadcast"

KEY_PREFIX = "offline:"
DELAY = qname(ns.DELAY, "delay")
_THREAD = qname(ns.CLIENT, "thread")
_NO_STORE = qname(ns.HINTS, "no-store")
_STORE = qname(ns.HINTS, "store")
_BODY = qname(ns.CLIENT, "body")
# Children that are no content worth keeping on their own.
_EPHEMERAL_NS = frozenset((ns.CHATSTATES, ns.HINTS))


class Keep(enum.Enum):
    STORE = "store"
    DROP = "drop"  # nothing worth keeping: dropped without an error
    REFUSE = "refuse"  # not stored: the sender gets an error


def keep_offline(stanza: Element) -> Keep:
    """Whether a message for an offline user is kept (XEP-0160 3, XEP-0334 4)."""
    if stanza.get("type", "normal") not in ("chat", "normal"):
        return Keep.REFUSE
    tags = [node.tag for node in stanza]
    if _NO_STORE in tags:
        return Keep.REFUSE
    if _STORE in tags or _BODY in tags:
        return Keep.STORE
    for tag in tags:
        if tag != _THREAD and split_tag(tag)[0] not in _EPHEMERAL_NS:
            return Keep.STORE  # e.g. an encrypted payload, a receipt, a chat marker
    return Keep.DROP


@dataclass
class _Box:
    """What is known of one user's stored messages without reading them."""

    count: int
    last_seq: int


def setup(module: ModuleContext) -> None:
    host = module.host
    keyval = module.keyval
    clock = module.server.clock
    limit = int(module.option("offline_max_messages"))
    locks = UserLocks()

    async def load_box(username: str) -> _Box:
        keys = [k for k in await keyval.items(host.name, username) if k.startswith(KEY_PREFIX)]
        last = max((int(k[len(KEY_PREFIX) :]) for k in keys), default=0)
        return _Box(len(keys), last)

    boxes: UserCache[_Box] = UserCache(module, load_box)
    module.add_feature(ns.OFFLINE)

    async def store(event: StanzaEvent) -> bool | None:
        decision = keep_offline(event.stanza)
        if decision is Keep.DROP:
            return True
        if decision is Keep.REFUSE:
            return None
        username = event.to_jid.local or ""
        async with locks.hold(username):
            box = await boxes.get(username)
            if box.count >= limit:
                module.log.info("offline store of %s is full (%d)", event.to_jid, limit)
                return None
            now = clock.now()
            # Keys sort in arrival order: microseconds since the epoch, bumped past the last key
            # so equal clock readings (or a clock set back) still keep the order.
            seq = max(box.last_seq + 1, int(now.timestamp() * 1_000_000))
            value = {"stamp": format_datetime(now), "stanza": to_xml(event.stanza, "")}
            await keyval.set(host.name, username, f"{KEY_PREFIX}{seq:020d}", value)
            box.count += 1
            box.last_seq = seq
        return True

    async def deliver(event: SessionEvent) -> None:
        session = event.session
        if session.priority < 0:
            return  # as Prosody: a negative-priority resource is not where messages go
        username = session.jid.local or ""
        async with locks.hold(username):
            box = await boxes.get(username)
            if box.count == 0:
                return
            if await host.events.fire(OFFLINE_BROADCAST, SessionEvent(session)):
                return  # this session catches up otherwise; the messages wait for another
            stored = await keyval.items(host.name, username)
            keys = sorted(k for k in stored if k.startswith(KEY_PREFIX))
            for key in keys:
                session.send(with_delay(stored[key], host.name))
            for key in keys:
                await keyval.delete(host.name, username, key)
            box.count = 0

    async def user_deleted(event: UserEvent) -> None:
        async with locks.hold(event.username):
            for key in await keyval.items(host.name, event.username):
                if key.startswith(KEY_PREFIX):
                    await keyval.delete(host.name, event.username, key)
            boxes.drop(event.username)

    module.hook(MESSAGE_OFFLINE, store)
    module.hook(INITIAL_PRESENCE, deliver)
    module.hook(USER_DELETED, user_deleted)


def with_delay(value: dict[str, Any], host_name: str) -> Element:
    """A stored message as delivered: with when the server got it (XEP-0203)."""
    stanza = fromstring(value["stanza"])
    SubElement(stanza, DELAY, {"from": host_name, "stamp": value["stamp"]})
    return stanza
