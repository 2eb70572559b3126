"""A raw-socket XMPP client for tests that must send exactly the bytes a hostile client would."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import ssl

import scramp

# How long to wait for what the server must send. Generous: a passing test never waits it out,
# and a loaded CI machine (SCRAM, TLS, a slow disk) must not turn a slow answer into a failure.
WAIT = 20.0


class RawClient:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.buffer = b""

    @classmethod
    async def connect(cls, port: int, *, tls: bool = False) -> RawClient:
        ctx = None
        if tls:
            ctx = ssl.create_default_context()
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
        reader, writer = await asyncio.open_connection("127.0.0.1", port, ssl=ctx)
        return cls(reader, writer)

    async def send(self, data: str | bytes) -> None:
        self.writer.write(data.encode() if isinstance(data, str) else data)
        await self.writer.drain()

    async def read_until(self, needle: str, timeout: float = WAIT) -> str:
        """Read until ``needle`` appears; returns everything read so far (and keeps it)."""
        target = needle.encode()

        async def loop() -> None:
            while target not in self.buffer:
                chunk = await self.reader.read(65536)
                if not chunk:
                    raise ConnectionError(f"closed before {needle!r}; got {self.buffer!r}")
                self.buffer += chunk

        await asyncio.wait_for(loop(), timeout)
        text = self.buffer.decode(errors="replace")
        return text

    async def read_all(self, timeout: float = WAIT) -> str:
        """Read until the server closes the connection."""

        async def loop() -> None:
            while True:
                chunk = await self.reader.read(65536)
                if not chunk:
                    return
                self.buffer += chunk

        await asyncio.wait_for(loop(), timeout)
        return self.buffer.decode(errors="replace")

    async def read_tag(self, name: str, stanza_id: str, timeout: float = WAIT) -> str:
        """Read until a start tag ``<name ... id='stanza_id' ...>`` is complete; returns it."""
        import re

        pattern = re.compile(rf"<{name}\b[^>]*\bid='{re.escape(stanza_id)}'[^>]*>")

        async def loop() -> str:
            while True:
                m = pattern.search(self.buffer.decode(errors="replace"))
                if m:
                    return m.group(0)
                chunk = await self.reader.read(65536)
                if not chunk:
                    raise ConnectionError(f"closed before <{name} id={stanza_id}>: {self.buffer!r}")
                self.buffer += chunk

        return await asyncio.wait_for(loop(), timeout)

    def clear(self) -> None:
        self.buffer = b""

    async def open_stream(self, to: str = "localhost") -> str:
        await self.send(
            f"<?xml version='1.0'?><stream:stream to='{to}' version='1.0' xmlns='jabber:client' "
            "xmlns:stream='http://etherx.jabber.org/streams'>"
        )
        return await self.read_until("</stream:features>")

    async def starttls(self) -> None:
        await self.send("<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>")
        await self.read_until("<proceed")
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        await self.writer.start_tls(ctx)
        self.clear()

    async def login(
        self, user: str, password: str, mech: str = "SCRAM-SHA-256", resource: str | None = None
    ) -> str:
        """SCRAM login, stream restart and resource binding; returns the bound full JID."""
        client = scramp.ScramClient([mech], user, password)
        first = base64.b64encode(client.get_client_first().encode()).decode()
        self.clear()
        await self.send(
            f"<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='{mech}'>{first}</auth>"
        )
        text = await self.read_until("</challenge>")
        challenge = text.split(">", 1)[1].split("<", 1)[0]
        client.set_server_first(base64.b64decode(challenge).decode())
        final = base64.b64encode(client.get_client_final().encode()).decode()
        self.clear()
        await self.send(f"<response xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>{final}</response>")
        text = await self.read_until("</success>")
        self.clear()
        await self.open_stream()
        self.clear()
        await self.send(
            "<iq type='set' id='b1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'>"
            + (f"<resource>{resource}</resource>" if resource else "")
            + "</bind></iq>"
        )
        text = await self.read_until("</iq>")
        self.clear()
        return text.split("<jid>", 1)[1].split("</jid>", 1)[0]

    async def close(self) -> None:
        self.writer.close()
        with contextlib.suppress(ConnectionError, ssl.SSLError):
            await self.writer.wait_closed()
