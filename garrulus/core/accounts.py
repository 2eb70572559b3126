"""Accounts: create, change password, delete, authenticate. Only SCRAM keys are stored."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from garrulus.core.event_types import UserEvent
from garrulus.core.routes import USER_CREATED, USER_DELETED
from garrulus.storage.api import Account, Conflict
from garrulus.stream.sasl import check_plain, make_credentials
from garrulus.xmpp.errors import StreamError
from garrulus.xmpp.jid import JID, InvalidJID, parse_jid

if TYPE_CHECKING:
    from garrulus.core.server import Server

log = logging.getLogger("garrulus.accounts")


class AccountError(Exception):
    """A user-facing account error (bad JID, unknown host, exists, missing)."""


def prepare_username(username: str) -> str:
    """PRECIS-prepare a localpart; raises InvalidJID."""
    jid = parse_jid(f"{username}@x")
    assert jid.local is not None
    return jid.local


class Accounts:
    def __init__(self, server: Server) -> None:
        self.server = server

    def _split(self, jid_text: str) -> JID:
        try:
            jid = parse_jid(jid_text)
        except InvalidJID as exc:
            raise AccountError(str(exc)) from None
        if jid.local is None or jid.resource is not None:
            raise AccountError(f"{jid_text!r} is not a user's bare JID (user@host)")
        if jid.domain not in self.server.hosts:
            known = ", ".join(sorted(self.server.hosts))
            raise AccountError(f"host {jid.domain!r} is not served here (hosts: {known})")
        return jid

    async def exists(self, host: str, username: str) -> bool:
        return await self.server.storage.accounts.get(host, username) is not None

    async def create(self, jid_text: str, password: str) -> JID:
        jid = self._split(jid_text)
        if not password:
            raise AccountError("the password is empty")
        assert jid.local is not None
        account = Account(
            jid.local, jid.domain, make_credentials(password), self.server.clock.now()
        )
        try:
            await self.server.storage.accounts.create(account)
        except Conflict:
            raise AccountError(f"{jid} already exists") from None
        log.info("account %s created", jid)
        host = self.server.hosts[jid.domain]
        await host.events.fire(USER_CREATED, UserEvent(host, jid.local))
        return jid

    async def set_password(self, jid_text: str, password: str) -> JID:
        jid = self._split(jid_text)
        if not password:
            raise AccountError("the password is empty")
        assert jid.local is not None
        if not await self.server.storage.accounts.set_credentials(
            jid.domain, jid.local, make_credentials(password)
        ):
            raise AccountError(f"{jid} does not exist")
        log.info("password of %s changed", jid)
        return jid

    async def delete(self, jid_text: str) -> JID:
        """Remove the account and, through the user-deleted event, every module's data of it."""
        jid = self._split(jid_text)
        assert jid.local is not None
        host = self.server.hosts[jid.domain]
        if not await self.server.storage.accounts.delete(jid.domain, jid.local):
            raise AccountError(f"{jid} does not exist")
        for session in list(host.user_sessions(jid).values()):
            session.close(StreamError("not-authorized", "account removed"))
        await host.events.fire(USER_DELETED, UserEvent(host, jid.local))
        await self.server.storage.keyval.delete_owner(jid.domain, jid.local)
        log.info("account %s deleted with its data", jid)
        return jid

    async def check_password(self, host: str, username: str, password: str) -> bool:
        account = await self.server.storage.accounts.get(host, username)
        return check_plain(account, password)
