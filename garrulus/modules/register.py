"""XEP-0077 in-band registration, password change and account removal.

New accounts only when ``allow_registration = true`` (off by default, as in Prosody). A logged-in
user may always change their password or remove their account.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from xml.etree.ElementTree import Element

from garrulus.core.accounts import AccountError
from garrulus.core.event_types import StanzaEvent
from garrulus.core.module_api import ModuleContext
from garrulus.core.options import Option
from garrulus.core.routes import iq_route
from garrulus.xmpp import ns
from garrulus.xmpp.errors import StanzaError
from garrulus.xmpp.jid import InvalidJID, parse_jid
from garrulus.xmpp.stanza import error_reply, iq_result
from garrulus.xmpp.xml import el, qname

if TYPE_CHECKING:
    from garrulus.net.c2s import C2SConnection

OPTIONS: tuple[Option[Any], ...] = (
    Option(
        "registration_instructions",
        str,
        "Choose a username and password for use with this service.",
        "the instructions text of the registration form",
    ),
)

QUERY = qname(ns.REGISTER, "query")


def _field(query: Element, name: str) -> str | None:
    node = query.find(qname(ns.REGISTER, name))
    return None if node is None else (node.text or "")


def setup(module: ModuleContext) -> None:
    host = module.host
    module.add_account_feature(ns.REGISTER)

    def form(registered_as: str | None) -> Element:
        query = Element(QUERY)
        if registered_as is not None:
            query.append(el(qname(ns.REGISTER, "registered")))
            query.append(el(qname(ns.REGISTER, "username"), text=registered_as))
        else:
            query.append(
                el(
                    qname(ns.REGISTER, "instructions"),
                    text=module.option("registration_instructions"),
                )
            )
            query.append(el(qname(ns.REGISTER, "username")))
        query.append(el(qname(ns.REGISTER, "password")))
        return query

    async def pre_auth(payload: tuple[C2SConnection, Element]) -> bool:
        conn, iq = payload
        if not module.server.config.get("allow_registration", host.name):
            conn.send(error_reply(iq, StanzaError("service-unavailable", "registration is closed")))
            return True
        if iq.get("type") == "get":
            conn.send(iq_result(iq, form(None)))
            return True
        if iq.get("type") != "set":
            conn.send(error_reply(iq, StanzaError("bad-request")))
            return True
        query = iq[0]
        username, password = _field(query, "username"), _field(query, "password")
        if not username or not password:
            conn.send(
                error_reply(iq, StanzaError("not-acceptable", "username and password are required"))
            )
            return True
        try:
            jid = parse_jid(f"{username}@{host.name}")
        except InvalidJID:
            conn.send(error_reply(iq, StanzaError("jid-malformed", "that username is not allowed")))
            return True
        try:
            await module.server.accounts.create(str(jid), password)
        except AccountError as exc:
            condition = "conflict" if "already exists" in str(exc) else "not-acceptable"
            conn.send(error_reply(iq, StanzaError(condition, str(exc))))
            return True
        module.log.info("registered %s from %s", jid, conn.peer)
        conn.send(iq_result(iq))
        return True

    async def get_registered(event: StanzaEvent) -> bool:
        return await module.reply(event, form(event.from_jid.local))

    async def set_registered(event: StanzaEvent) -> bool:
        query = event.stanza[0]
        user = event.from_jid.bare
        if query.find(qname(ns.REGISTER, "remove")) is not None:
            await module.reply(event)
            if event.origin is not None:
                event.origin.flush() if hasattr(event.origin, "flush") else None
            await module.server.accounts.delete(str(user))
            return True
        username, password = _field(query, "username"), _field(query, "password")
        if username is not None and username and username.lower() != (user.local or ""):
            raise StanzaError("not-allowed", "you can only change your own password")
        if not password:
            raise StanzaError("bad-request", "a new password is required")
        await module.server.accounts.set_password(str(user), password)
        return await module.reply(event)

    module.hook("pre-auth-register", pre_auth)
    module.hook(iq_route("get", "self", ns.REGISTER, "query"), get_registered)
    module.hook(iq_route("set", "self", ns.REGISTER, "query"), set_registered)
    module.hook(iq_route("get", "host", ns.REGISTER, "query"), get_registered)
    module.hook(iq_route("set", "host", ns.REGISTER, "query"), set_registered)
