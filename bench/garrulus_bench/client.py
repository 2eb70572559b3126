"""A lean asyncio XMPP client (RFC 6120/6121, XEP-0077, XEP-0313) for benchmarking.

Raw sockets and :mod:`.xml_stream`; SASL SCRAM-SHA-1 (the default) or PLAIN, no TLS (the servers
under test listen on loopback). The client caches SCRAM's SaltedPassword per salt, as real
clients do, so logins cost the server its share only.
"""

from __future__ import annotations

import asyncio
import base64
import collections
import hashlib
import hmac
import os
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from xml.sax.saxutils import escape

from garrulus_bench.xml_stream import Node, StreamReader

NS_CLIENT = "jabber:client"
NS_STREAMS = "http://etherx.jabber.org/streams"
NS_SASL = "urn:ietf:params:xml:ns:xmpp-sasl"
NS_BIND = "urn:ietf:params:xml:ns:xmpp-bind"
NS_SESSION = "urn:ietf:params:xml:ns:xmpp-session"
NS_STANZAS = "urn:ietf:params:xml:ns:xmpp-stanzas"
NS_REGISTER = "jabber:iq:register"
NS_PING = "urn:xmpp:ping"
NS_DISCO_INFO = "http://jabber.org/protocol/disco#info"
NS_MAM = "urn:xmpp:mam:2"
NS_MAM_EXTENDED = "urn:xmpp:mam:2#extended"
NS_RSM = "http://jabber.org/protocol/rsm"
NS_FORWARD = "urn:xmpp:forward:0"
NS_DELAY = "urn:xmpp:delay"
NS_DATA = "jabber:x:data"

_ATTR_ENTITIES = {"'": "&apos;", '"': "&quot;"}


def x(text: str) -> str:
    """Escape text for an attribute value or character data."""
    return escape(text, _ATTR_ENTITIES)


class XmppError(Exception):
    """Login or protocol failure."""


class StanzaErrorReply(XmppError):
    def __init__(self, node: Node) -> None:
        condition = "undefined-condition"
        err = node.child("error")
        if err is not None:
            for kid in err.kids:
                if kid.ns == NS_STANZAS and kid.name != "text":
                    condition = kid.name
                    break
        self.condition = condition
        super().__init__(f"{node.name} error: {condition}")


# ------------------------------------------------------------------------------ SASL

_SALTED: dict[tuple[str, bytes, int], bytes] = {}


def _saslname(name: str) -> str:
    return name.replace("=", "=3D").replace(",", "=2C")


class _ScramSha1:
    def __init__(self, username: str, password: str) -> None:
        self.password = password
        self.cnonce = base64.b64encode(os.urandom(24)).decode()
        self.first_bare = f"n={_saslname(username)},r={self.cnonce}"
        self.expected_signature = b""

    def initial(self) -> bytes:
        return b"n,," + self.first_bare.encode()

    def respond(self, server_first: bytes) -> bytes:
        attrs = dict(part.split("=", 1) for part in server_first.decode().split(","))
        nonce, salt, iterations = attrs["r"], base64.b64decode(attrs["s"]), int(attrs["i"])
        if not nonce.startswith(self.cnonce):
            raise XmppError("SCRAM: server nonce does not extend ours")
        key = (self.password, salt, iterations)
        salted = _SALTED.get(key)
        if salted is None:
            salted = hashlib.pbkdf2_hmac("sha1", self.password.encode(), salt, iterations)
            _SALTED[key] = salted
        client_key = hmac.digest(salted, b"Client Key", "sha1")
        final_bare = f"c=biws,r={nonce}"
        message = f"{self.first_bare},{server_first.decode()},{final_bare}".encode()
        signature = hmac.digest(hashlib.sha1(client_key).digest(), message, "sha1")
        proof = bytes(a ^ b for a, b in zip(client_key, signature, strict=True))
        server_key = hmac.digest(salted, b"Server Key", "sha1")
        self.expected_signature = hmac.digest(server_key, message, "sha1")
        return f"{final_bare},p={base64.b64encode(proof).decode()}".encode()

    def verify(self, server_final: bytes) -> None:
        attrs = dict(p.split("=", 1) for p in server_final.decode().split(",") if "=" in p)
        if "v" in attrs and base64.b64decode(attrs["v"]) != self.expected_signature:
            raise XmppError("SCRAM: wrong server signature")


# ------------------------------------------------------------------------------ MAM results


@dataclass
class MamPage:
    latency: float  # seconds from sending the IQ to its result
    ids: list[str] = field(default_factory=list)
    stamps: list[str | None] = field(default_factory=list)
    first: str | None = None
    last: str | None = None
    count: int | None = None
    complete: bool | None = None


# ------------------------------------------------------------------------------ the client


class Client(asyncio.Protocol):
    """One c2s connection. ``on_message(node)`` gets messages that are not MAM results."""

    def __init__(self, domain: str) -> None:
        self.domain = domain
        self.loop = asyncio.get_running_loop()
        self.transport: asyncio.Transport | None = None
        self.reader: StreamReader | None = None
        self.jid: str | None = None
        self.closed = False
        self.close_reason = ""
        self.on_message: Callable[[Node], None] | None = None
        self.unhandled_messages = 0
        self._inbox: collections.deque[Node] = collections.deque()
        self._inbox_waiter: asyncio.Future[None] | None = None
        self._iq_waiters: dict[str, asyncio.Future[tuple[Node, float]]] = {}
        self._mam_sinks: dict[str, list[Node]] = {}
        self._next_id = 0

    # --- asyncio.Protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        sock = transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def data_received(self, data: bytes) -> None:
        try:
            self.reader.feed(data)  # type: ignore[union-attr]
        except Exception as exc:  # a parse error ends the connection
            self._lost(f"parse error: {exc}")
            self.transport.close()  # type: ignore[union-attr]

    def connection_lost(self, exc: Exception | None) -> None:
        self._lost(f"connection lost ({exc or 'closed by peer'})")

    # --- stream events

    def _lost(self, reason: str) -> None:
        if self.closed:
            return
        self.closed = True
        self.close_reason = reason
        error = ConnectionError(reason)
        if self._inbox_waiter is not None and not self._inbox_waiter.done():
            self._inbox_waiter.set_exception(error)
        for future in self._iq_waiters.values():
            if not future.done():
                future.set_exception(error)
        self._iq_waiters.clear()

    def _stream_opened(self, attrs: dict[str, str]) -> None:
        pass

    def _stream_closed(self) -> None:
        self._lost("server closed the stream")
        if self.transport is not None:
            self.transport.close()

    def _stanza(self, node: Node) -> None:
        name = node.name
        if name == "message":
            if self._mam_sinks:
                result = node.child("result", NS_MAM)
                if result is not None:
                    sink = self._mam_sinks.get(result.attrs.get("queryid", ""))
                    if sink is not None:
                        sink.append(result)
                        return
            if self.on_message is not None:
                self.on_message(node)
            else:
                self.unhandled_messages += 1
            return
        if name == "iq":
            kind = node.attrs.get("type")
            if kind in ("result", "error"):
                future = self._iq_waiters.pop(node.attrs.get("id", ""), None)
                if future is not None:
                    if not future.done():
                        future.set_result((node, time.perf_counter()))
                    return
            elif kind in ("get", "set") and self.jid is not None:
                self._answer_iq(node)
                return
        elif name == "presence" and self.jid is not None:
            return  # presence broadcasts are not looked at
        elif name == "error" and node.ns == NS_STREAMS:
            self._lost("stream error: " + ",".join(k.name for k in node.kids))
            return
        self._inbox.append(node)
        waiter = self._inbox_waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def _answer_iq(self, node: Node) -> None:
        attrs = node.attrs
        to = f" to='{x(attrs['from'])}'" if "from" in attrs else ""
        iid = x(attrs.get("id", ""))
        if node.child("ping", NS_PING) is not None:
            self.send(f"<iq type='result' id='{iid}'{to}/>")
        else:
            self.send(
                f"<iq type='error' id='{iid}'{to}><error type='cancel'>"
                f"<service-unavailable xmlns='{NS_STANZAS}'/></error></iq>"
            )

    # --- sending and waiting

    def send(self, data: str) -> None:
        if not self.closed:
            self.transport.write(data.encode())  # type: ignore[union-attr]

    def send_bytes(self, data: bytes) -> None:
        if not self.closed:
            self.transport.write(data)  # type: ignore[union-attr]

    def new_id(self, prefix: str = "b") -> str:
        self._next_id += 1
        return f"{prefix}{self._next_id}"

    async def _next(self, timeout: float) -> Node:
        while not self._inbox:
            if self.closed:
                raise ConnectionError(self.close_reason)
            self._inbox_waiter = self.loop.create_future()
            try:
                await asyncio.wait_for(self._inbox_waiter, timeout)
            finally:
                self._inbox_waiter = None
        return self._inbox.popleft()

    async def _expect(self, name: str, timeout: float) -> Node:
        node = await self._next(timeout)
        if node.name != name:
            raise XmppError(f"expected <{name}/>, got <{node.name}/> {node.attrs}")
        return node

    def _open_stream(self) -> None:
        self.reader = StreamReader(self._stream_opened, self._stanza, self._stream_closed)
        self.send(
            "<?xml version='1.0'?><stream:stream xmlns='jabber:client' "
            f"xmlns:stream='{NS_STREAMS}' to='{x(self.domain)}' version='1.0'>"
        )

    async def start(self, timeout: float = 30.0) -> Node:
        """Open the stream; returns the stream features."""
        self._open_stream()
        return await self._expect("features", timeout)

    def iq_future(self, kind: str, payload: str, to: str | None = None) -> asyncio.Future:
        iid = self.new_id("i")
        future = self.loop.create_future()
        self._iq_waiters[iid] = future
        to_attr = f" to='{x(to)}'" if to else ""
        self.send(f"<iq type='{kind}' id='{iid}'{to_attr}>{payload}</iq>")
        return future

    async def iq(
        self, kind: str, payload: str, to: str | None = None, timeout: float = 60.0
    ) -> tuple[Node, float]:
        """Send an IQ; returns (result node, latency in seconds); an error raises."""
        t0 = time.perf_counter()
        node, t1 = await asyncio.wait_for(self.iq_future(kind, payload, to), timeout)
        if node.attrs.get("type") == "error":
            raise StanzaErrorReply(node)
        return node, t1 - t0

    # --- account operations

    async def register(self, username: str, password: str, timeout: float = 60.0) -> str:
        """XEP-0077 before authentication; 'created' or the error condition."""
        await self.start(timeout)
        try:
            await self.iq(
                "set",
                f"<query xmlns='{NS_REGISTER}'><username>{x(username)}</username>"
                f"<password>{x(password)}</password></query>",
                timeout=timeout,
            )
        except StanzaErrorReply as exc:
            return exc.condition
        return "created"

    async def login(
        self,
        username: str,
        password: str,
        *,
        mech: str = "SCRAM-SHA-1",
        resource: str | None = None,
        presence: bool = False,
        timeout: float = 60.0,
    ) -> str:
        features = await self.start(timeout)
        mechanisms_node = features.child("mechanisms", NS_SASL)
        offered = [] if mechanisms_node is None else [m.text for m in mechanisms_node.kids]
        if mech not in offered:
            raise XmppError(f"{mech} not offered (offered: {offered})")
        if mech == "PLAIN":
            token = base64.b64encode(f"\0{username}\0{password}".encode()).decode()
            self.send(f"<auth xmlns='{NS_SASL}' mechanism='PLAIN'>{token}</auth>")
            reply = await self._next(timeout)
        elif mech == "SCRAM-SHA-1":
            scram = _ScramSha1(username, password)
            self.send(
                f"<auth xmlns='{NS_SASL}' mechanism='SCRAM-SHA-1'>"
                f"{base64.b64encode(scram.initial()).decode()}</auth>"
            )
            reply = await self._next(timeout)
            if reply.name != "challenge":
                raise XmppError(f"SCRAM refused: {[k.name for k in reply.kids] or reply.name}")
            answer = scram.respond(base64.b64decode(reply.text))
            self.send(f"<response xmlns='{NS_SASL}'>{base64.b64encode(answer).decode()}</response>")
            reply = await self._next(timeout)
            if reply.name == "challenge":  # server-final sent as a challenge
                scram.verify(base64.b64decode(reply.text))
                self.send(f"<response xmlns='{NS_SASL}'/>")
                reply = await self._next(timeout)
            elif reply.name == "success" and reply.text.strip() not in ("", "="):
                scram.verify(base64.b64decode(reply.text))
        else:
            raise XmppError(f"mechanism {mech} is not implemented here")
        if reply.name != "success":
            raise XmppError(f"{mech} failed for {username}: {[k.name for k in reply.kids]}")
        features = await self.start(timeout)
        if features.child("bind", NS_BIND) is None:
            raise XmppError("no resource binding offered")
        res = f"<resource>{x(resource)}</resource>" if resource else ""
        node, _ = await self.iq("set", f"<bind xmlns='{NS_BIND}'>{res}</bind>", timeout=timeout)
        bind = node.child("bind", NS_BIND)
        self.jid = bind.child_text("jid", NS_BIND) if bind is not None else None
        session = features.child("session", NS_SESSION)
        if session is not None and session.child("optional", NS_SESSION) is None:
            await self.iq("set", f"<session xmlns='{NS_SESSION}'/>", timeout=timeout)
        if presence:
            self.send("<presence/>")
        return self.jid or ""

    def close(self) -> None:
        if self.transport is None:
            return
        if not self.closed:
            self.send("</stream:stream>")
        self.transport.close()
        self._lost("closed by us")

    # --- queries

    async def ping(self, timeout: float = 60.0) -> float:
        _, latency = await self.iq("get", f"<ping xmlns='{NS_PING}'/>", self.domain, timeout)
        return latency

    async def disco_features(self, to: str) -> list[str]:
        node, _ = await self.iq("get", f"<query xmlns='{NS_DISCO_INFO}'/>", to)
        query = node.child("query", NS_DISCO_INFO)
        return [] if query is None else [f.attrs.get("var", "") for f in query.children("feature")]

    async def mam(
        self,
        fields: dict[str, str] | None = None,
        *,
        max_items: int | None = None,
        before: str | bool | None = None,
        after: str | None = None,
        timeout: float = 300.0,
    ) -> MamPage:
        """One XEP-0313 query of the own archive. ``before=True`` sends an empty <before/>."""
        qid = self.new_id("q")
        parts = [f"<query xmlns='{NS_MAM}' queryid='{qid}'>"]
        if fields:
            parts.append(
                f"<x xmlns='{NS_DATA}' type='submit'><field var='FORM_TYPE' type='hidden'>"
                f"<value>{NS_MAM}</value></field>"
            )
            parts += [
                f"<field var='{x(k)}'><value>{x(v)}</value></field>" for k, v in fields.items()
            ]
            parts.append("</x>")
        if max_items is not None or before is not None or after is not None:
            parts.append(f"<set xmlns='{NS_RSM}'>")
            if max_items is not None:
                parts.append(f"<max>{max_items}</max>")
            if after is not None:
                parts.append(f"<after>{x(after)}</after>")
            if before is True:
                parts.append("<before/>")
            elif before:
                parts.append(f"<before>{x(before)}</before>")
            parts.append("</set>")
        parts.append("</query>")
        sink: list[Node] = []
        self._mam_sinks[qid] = sink
        try:
            t0 = time.perf_counter()
            node, t1 = await asyncio.wait_for(self.iq_future("set", "".join(parts)), timeout)
        finally:
            self._mam_sinks.pop(qid, None)
        if node.attrs.get("type") == "error":
            raise StanzaErrorReply(node)
        page = MamPage(latency=t1 - t0)
        for result in sink:
            page.ids.append(result.attrs.get("id", ""))
            forwarded = result.child("forwarded", NS_FORWARD)
            delay = None if forwarded is None else forwarded.child("delay", NS_DELAY)
            page.stamps.append(None if delay is None else delay.attrs.get("stamp"))
        fin = node.child("fin", NS_MAM)
        if fin is not None:
            page.complete = fin.attrs.get("complete") in ("true", "1")
            rsm = fin.child("set", NS_RSM)
            if rsm is not None:
                page.first = rsm.child_text("first", NS_RSM)
                page.last = rsm.child_text("last", NS_RSM)
                count = rsm.child_text("count", NS_RSM)
                page.count = int(count) if count else None
        return page

    async def archive_count(self, timeout: float = 600.0) -> int | None:
        return (await self.mam(max_items=0, timeout=timeout)).count


async def connect(host: str, port: int, domain: str) -> Client:
    loop = asyncio.get_running_loop()
    _, client = await loop.create_connection(lambda: Client(domain), host, port)
    return client


async def logged_in(
    host: str, port: int, domain: str, username: str, password: str, **kwargs: object
) -> Client:
    client = await connect(host, port, domain)
    try:
        await client.login(username, password, **kwargs)  # type: ignore[arg-type]
    except BaseException:
        client.close()
        raise
    return client
