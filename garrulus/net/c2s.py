"""Client connections (RFC 6120): the asyncio side of a c2s stream.

The byte-level parsing lives in :mod:`garrulus.stream.parser` and the order of negotiation steps in
:mod:`garrulus.stream.negotiation`; this file moves bytes, runs the steps the table allows, and
keeps one failing connection from ever touching another.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import functools
import logging
import secrets
import socket
from collections import deque
from typing import TYPE_CHECKING, Any
from xml.etree.ElementTree import Element, SubElement

from garrulus.core.event_types import FeaturesEvent, SessionEvent
from garrulus.core.pipeline import Pipeline, abandoned, in_turn
from garrulus.core.routes import RESOURCE_BOUND, RESOURCE_UNBOUND, STREAM_FEATURES
from garrulus.core.session import Session
from garrulus.stream.negotiation import Action, Phase, Refusal, classify, decide
from garrulus.stream.parser import StanzaReceived, StreamClosed, StreamOpened, StreamParser
from garrulus.stream.sasl import (
    Challenge,
    SaslFailure,
    ScramExchange,
    check_plain,
    offered_mechanisms,
    parse_plain,
    scram_username,
)
from garrulus.stream.sm import AckState
from garrulus.xmpp import ns
from garrulus.xmpp.errors import StanzaError, StreamError
from garrulus.xmpp.jid import JID, InvalidJID, parse_jid
from garrulus.xmpp.stanza import error_reply, iq_result, stream_error_element
from garrulus.xmpp.xml import el, parse_client_xml, qname, to_xml

if TYPE_CHECKING:
    from garrulus.core.host import Host
    from garrulus.core.server import Server
    from garrulus.net.tls import TlsConfig

log = logging.getLogger("garrulus.c2s")

_MAX_SASL_ATTEMPTS = 3
_MESSAGE = qname(ns.CLIENT, "message")
_MAX_INBOUND_BACKLOG = 256  # stanzas parsed but not yet handled before we stop reading


def _b64decode(text: str | None) -> bytes:
    text = (text or "").strip()
    if text in ("", "="):
        return b""
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise SaslFailure("incorrect-encoding") from None


def _b64(data: bytes | None) -> str:
    if not data:
        return "="
    return base64.b64encode(data).decode()


class C2SConnection(asyncio.Protocol, Session):
    """One client TCP connection; once bound it is also the user's :class:`Session`."""

    def __init__(self, server: Server, tls: TlsConfig | None, direct_tls: bool) -> None:
        Session.__init__(self)
        # Made by the loop's protocol factory, so the loop runs. Kept because each
        # asyncio.get_running_loop() on Python 3.11 is a getpid() system call.
        self.loop = asyncio.get_running_loop()
        self.server = server
        self.tls = tls
        self.direct_tls = direct_tls
        self.secure = direct_tls
        self.transport: asyncio.Transport | None = None
        self.peer = "?"
        self.phase = Phase.SECURE if direct_tls else Phase.INSECURE
        self.stream_host: Host | None = None
        self.parser: StreamParser | None = None
        self.stream_opened = False  # our header is out for the current stream
        self.inbox: deque[Any] = deque()
        # The worker's wait for input: a bare future, cheaper per stanza than an asyncio.Event.
        self.idle: asyncio.Future[None] | None = None
        self.worker: asyncio.Task[None] | None = None
        self.out: list[str] = []
        self.flush_scheduled = False
        self.sasl: ScramExchange | None = None
        self.sasl_mech = ""
        self.sasl_attempts = 0
        self.username: str | None = None
        self.paused = False
        self.last_read = 0.0
        self.handshake_timer: asyncio.TimerHandle | None = None
        self.closed = False
        self.lang = "en"
        # XEP-0198: set by the smacks module through sm_enable().
        self.sm: AckState | None = None
        self.sm_id: str | None = None
        self.sm_resumable = False
        self.sm_ack_requested = False
        self.hibernating = False
        self.hibernate_timer: asyncio.TimerHandle | None = None
        self.clean_close = False  # the stream was closed on purpose (no hibernation)
        self.pipeline = Pipeline()  # messages in flight (core/pipeline.py)

    # -- transport callbacks -----------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # uvloop's is not a subclass
        peer = transport.get_extra_info("peername")
        self.peer = f"{peer[0]}:{peer[1]}" if peer else "?"
        sock = transport.get_extra_info("socket")
        if sock is not None:
            # Nagle delays the tail of every multi-write reply by the client's delayed ACK
            # (anchors.md: 44 ms per MAM page on Prosody); we coalesce writes ourselves.
            try:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
            except OSError:
                pass
        self.server.connections.add(self)
        self.new_parser()
        loop = asyncio.get_running_loop()
        self.last_read = loop.time()
        timeout = self.server.config.get("c2s_timeout")
        self.handshake_timer = loop.call_later(timeout, self._handshake_timeout)
        self.worker = loop.create_task(self._work())
        log.debug("connection from %s%s", self.peer, " (direct TLS)" if self.direct_tls else "")

    def new_parser(self) -> None:
        limit = self.server.config.get("c2s_stanza_size_limit")
        self.parser = StreamParser(max_stanza_size=limit)
        self.stream_opened = False

    def data_received(self, data: bytes) -> None:
        if self.closed or self.parser is None:
            return
        self.last_read = self.loop.time()
        try:
            events = self.parser.feed(data)
        except StreamError as exc:
            # Handle what parsed cleanly before the error, then the error, in order.
            self.inbox.append(exc)
            self.parser = None
            self.wake()
            return
        if events:
            self.inbox.extend(events)
            self.wake()
            if len(self.inbox) > _MAX_INBOUND_BACKLOG and self.transport and not self.paused:
                self.paused = True
                self.transport.pause_reading()

    def wake(self) -> None:
        """Something is in the inbox: let the worker run."""
        idle = self.idle
        if idle is not None:
            self.idle = None
            if not idle.done():
                idle.set_result(None)

    def eof_received(self) -> bool | None:
        return None

    def connection_lost(self, exc: Exception | None) -> None:
        if self.hibernating:
            return  # a replaced transport of a resumed session
        self.closed = True
        self.server.connections.discard(self)
        if self.handshake_timer is not None:
            self.handshake_timer.cancel()
        self.inbox.append(None)
        self.wake()
        log.debug("connection %s lost%s", self.peer, f": {exc}" if exc else "")

    # -- output ------------------------------------------------------------------------------

    def write_raw(self, text: str) -> None:
        if self.closed or self.transport is None:
            return
        self.out.append(text)
        if not self.flush_scheduled:
            self.flush_scheduled = True
            self.loop.call_soon(self.flush)

    def flush(self) -> None:
        self.flush_scheduled = False
        if self.out and self.transport is not None and not self.closed:
            if self.sm is not None and self.sm.unacked and not self.sm_ack_requested:
                self.sm_ack_requested = True
                self.out.append(f"<r xmlns='{ns.SM}'/>")
            data = "".join(self.out).encode()
            self.out.clear()
            self.transport.write(data)

    def send(self, stanza: Element) -> None:
        self.send_text(to_xml(stanza))

    def send_text(self, text: str) -> None:
        if self.sm is not None:
            self.sm.record_out(text)
            if self.hibernating:
                return  # kept in the unacknowledged queue for the resumed stream
        self.write_raw(text)

    def send_stream_header(self, host_name: str) -> None:
        self.stream_id = secrets.token_urlsafe(12)
        self.write_raw(
            "<?xml version='1.0'?><stream:stream xmlns='jabber:client' "
            "xmlns:stream='http://etherx.jabber.org/streams' "
            f"id='{self.stream_id}' from='{host_name}' version='1.0' xml:lang='{self.lang}'>"
        )
        self.stream_opened = True

    def close(self, error: StreamError | None = None) -> None:
        """Send an optional stream error, close the stream and the connection."""
        if self.hibernating:
            # Replaced or removed while hibernating: nothing to send it to; just forget it.
            self.hibernating = False
            if self.hibernate_timer is not None:
                self.hibernate_timer.cancel()
            return
        if self.closed or self.closing:
            return
        self.closing = True
        self.pipeline.abandon()  # core/pipeline.py: messages not yet in turn are dropped
        if error is not None:
            if not self.stream_opened:
                host = self.stream_host.name if self.stream_host else self.server.default_host
                self.send_stream_header(host)
            self.write_raw(to_xml(stream_error_element(error)))
            log.info("closing %s (%s): %s", self.peer, self.describe(), error)
        self.write_raw("</stream:stream>")
        self.flush()
        if self.transport is not None:
            transport = self.transport
            # Give the client a moment to read the error and close its side first.
            asyncio.get_running_loop().call_later(2.0, transport.abort)
            transport.close()
        self.inbox.append(None)
        self.wake()

    def describe(self) -> str:
        return str(self.jid) if self.bound else (self.username or "unauthenticated")

    def _handshake_timeout(self) -> None:
        if not self.bound and not self.closed:
            self.close(StreamError("connection-timeout", "the stream was not set up in time"))

    # -- the worker: events in order; messages pipelined (core/pipeline.py), the rest one by one

    async def _work(self) -> None:
        try:
            while True:
                if not self.inbox:
                    idle = self.idle = self.loop.create_future()
                    await idle
                    continue
                item = self.inbox.popleft()
                if self.paused and len(self.inbox) < _MAX_INBOUND_BACKLOG // 2 and self.transport:
                    self.paused = False
                    self.transport.resume_reading()
                if item is None:
                    break
                if self.closing:
                    continue
                if isinstance(item, StanzaReceived):
                    if item.element.tag == _MESSAGE and self.phase is Phase.BOUND:
                        # core/pipeline.py: it may wait for its archive commit while the next
                        # message starts; its effects still come in order.
                        await self.pipeline.start(functools.partial(self._stanza, item.element))
                    else:
                        await self.pipeline.drain()
                        await self._stanza(item.element)
                    continue
                await self.pipeline.drain()
                try:
                    if isinstance(item, StreamError):
                        self.close(item)
                    elif isinstance(item, StreamOpened):
                        self.handle_open(item.attrs)
                    elif isinstance(item, StreamClosed):
                        self.clean_close = True
                        self.close()
                except StreamError as exc:
                    self.close(exc)
                except Exception:
                    log.exception("internal error on %s (%s)", self.peer, self.describe())
                    self.close(StreamError("internal-server-error"))
        finally:
            await self.pipeline.drain()
            await self._cleanup()

    async def _stanza(self, element: Element) -> None:
        """Handle one top-level element; a failure closes the stream (never raises)."""
        if self.closing:
            return  # an earlier message in flight closed the stream
        try:
            await self.handle_element(element)
            await in_turn()  # counted (XEP-0198) in the order the client sent them
            if self.sm is not None and self.phase is Phase.BOUND and not abandoned():
                tag = element.tag
                if tag[1 : len(ns.CLIENT) + 1] == ns.CLIENT:
                    self.sm.count_in()
        except StreamError as exc:
            await in_turn()  # what the client sent before still goes out before the close
            self.close(exc)
        except Exception:
            log.exception("internal error on %s (%s)", self.peer, self.describe())
            await in_turn()
            self.close(StreamError("internal-server-error"))

    async def _cleanup(self) -> None:
        if self.bound and self.sm_resumable and not self.clean_close and not self.closing:
            self.hibernate()
            return
        await self.unbind()
        if self.transport is not None and not self.closed:
            self.transport.close()

    def hibernate(self) -> None:
        """XEP-0198: keep the session for smacks_hibernation_time, queueing what it is sent."""
        self.hibernating = True
        self.transport = None
        self.out.clear()
        timeout = float(self.host.option("smacks_hibernation_time"))
        loop = asyncio.get_running_loop()
        self.hibernate_timer = loop.call_later(
            timeout, lambda: loop.create_task(self.hibernation_over())
        )
        log.info(
            "%s hibernating for %.0f s (%d unacknowledged)",
            self.jid,
            timeout,
            len(self.sm.unacked) if self.sm else 0,
        )

    async def hibernation_over(self) -> None:
        if not self.hibernating:
            return
        self.hibernating = False
        unacked = [parse_client_xml(text) for text in self.sm.unacked] if self.sm else []
        self.sm = None
        await self.unbind()
        if unacked:
            await self.host.events.fire("smacks-unacked", (self, unacked))

    async def unbind(self) -> None:
        if self.bound:
            self.bound = False
            host = self.host
            if host.remove_session(self):
                try:
                    await host.events.fire(RESOURCE_UNBOUND, SessionEvent(self))
                except Exception:
                    log.exception("resource-unbound handlers failed for %s", self.jid)

    # -- stream open ---------------------------------------------------------------------------

    def handle_open(self, attrs: dict[str, str]) -> None:
        self.lang = attrs.get("{" + ns.XML + "}lang", self.lang)[:35] or "en"
        to = attrs.get("to")
        host = self.server.hosts.get((to or "").lower())
        if host is None:
            try:
                host = self.server.hosts.get(parse_jid(to).domain) if to else None
            except InvalidJID:
                host = None
        if host is None or (self.stream_host is not None and host is not self.stream_host):
            self.stream_host = self.stream_host or None
            raise StreamError("host-unknown", f"this server does not serve {to!r}")
        self.stream_host = host
        version = attrs.get("version", "0.9")
        self.send_stream_header(host.name)
        if not version.startswith("1."):
            raise StreamError("unsupported-version", "XMPP 1.0 streams only")
        self.send_features()

    def send_features(self) -> None:
        host = self.stream_host
        assert host is not None
        features = Element(qname(ns.STREAM, "features"))
        require_tls = self.tls_required
        if self.phase is Phase.INSECURE and self.tls is not None:
            starttls = SubElement(features, qname(ns.TLS, "starttls"))
            if require_tls:
                SubElement(starttls, qname(ns.TLS, "required"))
        if self.phase in (Phase.INSECURE, Phase.SECURE) and not (
            self.phase is Phase.INSECURE and require_tls
        ):
            mechs = SubElement(features, qname(ns.SASL, "mechanisms"))
            for mech in self.mechanisms():
                SubElement(mechs, qname(ns.SASL, "mechanism")).text = mech
            if self.secure and self.tls is not None:
                # XEP-0440: say which channel-binding type our -PLUS mechanisms use.
                cb = SubElement(features, "{urn:xmpp:sasl-cb:0}sasl-channel-binding")
                SubElement(
                    cb, "{urn:xmpp:sasl-cb:0}channel-binding", {"type": "tls-server-end-point"}
                )
            if host.option("allow_registration"):
                SubElement(features, qname(ns.REGISTER_FEATURE, "register"))
        if self.phase is Phase.AUTHED_STREAM:
            SubElement(features, qname(ns.BIND, "bind"))
            session = SubElement(features, qname(ns.SESSION, "session"))
            SubElement(session, qname(ns.SESSION, "optional"))
            event = FeaturesEvent(host, bound=False)
            host.events.fire_sync(STREAM_FEATURES, event)
            features.extend(event.features)
        limit = SubElement(features, qname(ns.STANZA_SIZE_LIMIT, "limits"))
        SubElement(limit, qname(ns.STANZA_SIZE_LIMIT, "max-bytes")).text = str(
            self.server.config.get("c2s_stanza_size_limit")
        )
        self.write_raw(to_xml(features))

    @property
    def tls_required(self) -> bool:
        host = self.stream_host
        return bool(
            self.tls is not None
            and host is not None
            and host.option("c2s_require_encryption")
            and not self.secure
        )

    def mechanisms(self) -> list[str]:
        assert self.stream_host is not None
        return offered_mechanisms(
            self.secure,
            self.tls is not None and self.secure,
            bool(self.stream_host.option("allow_unencrypted_plain_auth")),
        )

    # -- top-level elements --------------------------------------------------------------------

    async def handle_element(self, element: Element) -> None:
        if self.stream_host is None:
            raise StreamError("not-authorized", "open a stream first")
        kind = classify(element)
        decision = decide(self.phase, kind, self.tls_required)
        if isinstance(decision, Refusal):
            if not decision.stream:
                self.sasl_failure(SaslFailure(decision.condition, decision.text))
                return
            raise StreamError(decision.condition, decision.text)
        if decision is Action.STANZA:
            await self.server.router.route_from_client(self, element)
        elif decision is Action.STARTTLS:
            await self.start_tls()
        elif decision is Action.SASL_START:
            await self.sasl_start(element)
        elif decision is Action.SASL_STEP:
            await self.sasl_step(element)
        elif decision is Action.SASL_ABORT:
            self.sasl = None
            self.phase = Phase.SECURE if self.secure or not self.tls_required else Phase.INSECURE
            self.sasl_failure(SaslFailure("aborted"))
        elif decision is Action.BIND:
            await self.bind(element)
        elif decision is Action.SESSION:
            self.send(iq_result(element))
        elif decision is Action.SM:
            if await self.stream_host.events.fire("stream-management", (self, element)) is None:
                raise StreamError("unsupported-stanza-type", "stream management is not offered")
        elif (
            decision is Action.REGISTER
            and await self.stream_host.events.fire("pre-auth-register", (self, element)) is None
        ):
            self.send(error_reply(element, StanzaError("service-unavailable")))

    # -- STARTTLS ------------------------------------------------------------------------------

    async def start_tls(self) -> None:
        if self.tls is None:
            self.write_raw(f"<failure xmlns='{ns.TLS}'/>")
            raise StreamError("undefined-condition", "TLS is not configured")
        self.write_raw(f"<proceed xmlns='{ns.TLS}'/>")
        self.flush()
        assert self.transport is not None
        loop = asyncio.get_running_loop()
        self.parser = None  # nothing may be read in clear after <proceed/>
        try:
            new_transport = await loop.start_tls(
                self.transport, self, self.tls.context, server_side=True, ssl_handshake_timeout=30
            )
        except (TimeoutError, OSError, ConnectionError) as exc:
            log.info("TLS handshake with %s failed: %s", self.peer, exc)
            self.closed = True
            self.transport.abort()
            self.inbox.append(None)
            return
        if new_transport is None:
            self.closed = True
            return
        self.transport = new_transport
        self.secure = True
        self.phase = Phase.SECURE
        self.new_parser()

    # -- SASL ----------------------------------------------------------------------------------

    def sasl_failure(self, failure: SaslFailure) -> None:
        node = Element(qname(ns.SASL, "failure"))
        SubElement(node, qname(ns.SASL, failure.condition))
        if failure.text:
            SubElement(node, qname(ns.SASL, "text")).text = failure.text
        self.write_raw(to_xml(node))

    def _throttle_keys(self, username: str | None) -> list[str]:
        assert self.stream_host is not None
        keys = ["ip:" + self.peer.rsplit(":", 1)[0]]
        if username:
            keys.append(f"user:{username}@{self.stream_host.name}")
        return keys

    async def sasl_start(self, element: Element) -> None:
        mech = element.get("mechanism", "")
        self.sasl_attempts += 1
        if mech not in self.mechanisms():
            self.sasl_failure(SaslFailure("invalid-mechanism", f"{mech!r} is not offered"))
            return
        throttle = self.server.auth_throttle
        if throttle.blocked(self._throttle_keys(None)[0]):
            self.sasl_failure(SaslFailure("temporary-auth-failure", "too many failed logins"))
            return
        self.phase = Phase.SASL
        self.sasl_mech = mech
        try:
            data = _b64decode(element.text)
            if mech == "PLAIN":
                await self.finish_plain(data)
                return
            if not data:
                self.sasl = None
                self.write_raw(f"<challenge xmlns='{ns.SASL}'>=</challenge>")
                return
            await self.scram_first(data)
        except SaslFailure as failure:
            self.fail_sasl(failure)

    async def scram_first(self, data: bytes) -> None:
        host = self.stream_host
        assert host is not None
        raw_user = scram_username(data)
        username = self.prepare_user(raw_user)
        if username is not None and self.server.auth_throttle.blocked(
            f"user:{username}@{host.name}"
        ):
            raise SaslFailure("temporary-auth-failure", "too many failed logins for this account")
        account = await self.server.storage.accounts.get(host.name, username) if username else None
        self.username = username
        cb = self.tls.cb_data if (self.tls is not None and self.secure) else None
        self.sasl = ScramExchange(self.sasl_mech, account, cb)
        step = self.sasl.step(data)
        assert isinstance(step, Challenge)
        self.write_raw(f"<challenge xmlns='{ns.SASL}'>{_b64(step.data)}</challenge>")

    async def sasl_step(self, element: Element) -> None:
        try:
            data = _b64decode(element.text)
            if self.sasl is None:
                if self.sasl_mech.startswith("SCRAM") and data:
                    await self.scram_first(data)
                    return
                raise SaslFailure("malformed-request", "unexpected response")
            step = self.sasl.step(data)
            if isinstance(step, Challenge):
                self.write_raw(f"<challenge xmlns='{ns.SASL}'>{_b64(step.data)}</challenge>")
                return
            assert self.username is not None
            self.authenticated(self.username, step.data)
        except SaslFailure as failure:
            self.fail_sasl(failure)

    async def finish_plain(self, data: bytes) -> None:
        host = self.stream_host
        assert host is not None
        authzid, authcid, password = parse_plain(data)
        username = self.prepare_user(authcid)
        if username is None:
            raise SaslFailure("not-authorized")
        self.username = username
        if self.server.auth_throttle.blocked(f"user:{username}@{host.name}"):
            raise SaslFailure("temporary-auth-failure", "too many failed logins for this account")
        if authzid and authzid not in (
            authcid,
            f"{authcid}@{host.name}",
            f"{username}@{host.name}",
        ):
            raise SaslFailure("invalid-authzid")
        account = await self.server.storage.accounts.get(host.name, username)
        # PBKDF2 is CPU work: run it off the event loop so other sessions keep flowing.
        ok = await asyncio.get_running_loop().run_in_executor(None, check_plain, account, password)
        if not ok:
            raise SaslFailure("not-authorized")
        self.authenticated(username, None)

    def prepare_user(self, raw: str) -> str | None:
        try:
            jid = parse_jid(f"{raw}@x")
        except InvalidJID:
            return None
        return jid.local

    def fail_sasl(self, failure: SaslFailure) -> None:
        self.sasl = None
        self.phase = Phase.SECURE if (self.secure or not self.tls_required) else Phase.INSECURE
        if failure.condition in ("not-authorized", "invalid-authzid"):
            for key in self._throttle_keys(self.username):
                self.server.auth_throttle.fail(key)
            log.info("failed login for %s from %s (%s)", self.username, self.peer, self.sasl_mech)
        self.sasl_failure(failure)
        if self.sasl_attempts >= _MAX_SASL_ATTEMPTS and failure.condition != "aborted":
            self.close(StreamError("policy-violation", "too many failed authentication attempts"))

    def authenticated(self, username: str, final: bytes | None) -> None:
        assert self.stream_host is not None
        for key in self._throttle_keys(username)[1:]:
            self.server.auth_throttle.succeed(key)
        self.sasl = None
        self.username = username
        self.phase = Phase.AUTHED_STREAM
        if final:
            self.write_raw(f"<success xmlns='{ns.SASL}'>{_b64(final)}</success>")
        else:
            self.write_raw(f"<success xmlns='{ns.SASL}'/>")
        log.info(
            "%s@%s authenticated from %s (%s)",
            username,
            self.stream_host.name,
            self.peer,
            self.sasl_mech,
        )
        self.new_parser()  # the client restarts the stream now

    # -- resource binding ----------------------------------------------------------------------

    async def bind(self, element: Element) -> None:
        host = self.stream_host
        assert host is not None and self.username is not None
        bind_el = element[0]
        requested = (bind_el.findtext(qname(ns.BIND, "resource")) or "").strip()
        bare = JID(self.username, host.name)
        try:
            full = bare.with_resource(requested) if requested else None
        except InvalidJID:
            self.send(error_reply(element, StanzaError("bad-request", "invalid resource")))
            return
        if full is None:
            full = bare.with_resource(f"gar-{secrets.token_hex(6)}")
        self.jid = full
        self.host = host
        self.bound = True
        self.phase = Phase.BOUND
        old = host.add_session(self)
        if old is not None and old is not self:
            # RFC 6120 7.7.2.2: the newer session wins; the old one gets <conflict/>.
            old.bound = False
            old.close(StreamError("conflict", "replaced by a new connection"))
        if self.handshake_timer is not None:
            self.handshake_timer.cancel()
            self.handshake_timer = None
        self.send(
            iq_result(
                element, el(qname(ns.BIND, "bind"), None, el(qname(ns.BIND, "jid"), text=str(full)))
            )
        )
        log.info("%s bound from %s", full, self.peer)
        if old is not None and old is not self:
            await host.events.fire(RESOURCE_UNBOUND, SessionEvent(old))
        await host.events.fire(RESOURCE_BOUND, SessionEvent(self))

    # -- XEP-0198, driven by the smacks module -------------------------------------------------

    def sm_enable(self, resumable: bool) -> str | None:
        self.sm = AckState()
        if resumable:
            self.sm_id = secrets.token_urlsafe(18)
            self.sm_resumable = True
        return self.sm_id

    def sm_write(self, element: Element) -> None:
        """Stream-management elements are not stanzas: never counted nor queued."""
        self.write_raw(to_xml(element))

    def sm_ack(self, h: int) -> None:
        if self.sm is None:
            return
        self.sm.ack(h)
        self.sm_ack_requested = False

    def take_over(self, old: C2SConnection, h: int) -> list[str]:
        """Resume ``old``'s session on this connection; returns the stanzas to send again."""
        assert old.sm is not None
        old.sm.ack(h)
        if old.hibernate_timer is not None:
            old.hibernate_timer.cancel()
        old.hibernating = False
        if old.transport is not None and not old.closed:
            # The client came back before we saw the old connection die: drop it silently.
            old.bound = False
            old.closing = True
            old.transport.abort()
        self.jid, self.host = old.jid, old.host
        self.priority, self.presence, self.available = old.priority, old.presence, old.available
        self.interested, self.state = old.interested, old.state
        self.sm, self.sm_id, self.sm_resumable = old.sm, old.sm_id, True
        old.sm = None
        old.bound = False
        self.bound = True
        self.phase = Phase.BOUND
        self.username = old.username
        self.host.add_session(self)
        if self.handshake_timer is not None:
            self.handshake_timer.cancel()
            self.handshake_timer = None
        log.info("%s resumed from %s (%d to send again)", self.jid, self.peer, len(self.sm.unacked))
        return list(self.sm.unacked)

    def resend(self, stanzas: list[str]) -> None:
        for text in stanzas:
            self.write_raw(text)

    def __repr__(self) -> str:
        return f"<C2S {self.peer} {self.describe()}>"
