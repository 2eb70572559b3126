"""SASL for c2s (RFC 6120 section 6): SCRAM (RFC 5802/7677, via scramp) and PLAIN (RFC 4616).

Sans-I/O: a mechanism object takes the client's decoded bytes and answers with a step. The account
lookup is the only I/O, so the caller resolves the username first (``username_hint``) and hands
the credentials in; this keeps scramp's synchronous ``auth_fn`` contract honest.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import scramp

from garrulus.storage.api import Account, ScramCredentials

SCRAM_HASHES = {"SCRAM-SHA-1": "SHA-1", "SCRAM-SHA-256": "SHA-256"}
DEFAULT_ITERATIONS = 10000  # Prosody's default for internal_hashed


def make_credentials(
    password: str, iterations: int = DEFAULT_ITERATIONS
) -> tuple[ScramCredentials, ...]:
    """Salted keys for every SCRAM hash we offer; the password itself is dropped here."""
    out = []
    for mech, hash_name in SCRAM_HASHES.items():
        salt, stored_key, server_key, iters = scramp.ScramMechanism(mech).make_auth_info(
            password, iteration_count=iterations, salt=os.urandom(16)
        )
        out.append(ScramCredentials(hash_name, salt, iters, stored_key, server_key))
    return tuple(out)


def verify_plain(password: str, cred: ScramCredentials) -> bool:
    """Check a PLAIN password against stored SCRAM keys (recomputes PBKDF2 once)."""
    mech = "SCRAM-SHA-1" if cred.mechanism_hash == "SHA-1" else "SCRAM-SHA-256"
    _salt, stored_key, server_key, _i = scramp.ScramMechanism(mech).make_auth_info(
        password, iteration_count=cred.iterations, salt=cred.salt
    )
    return hmac.compare_digest(stored_key, cred.stored_key) and hmac.compare_digest(
        server_key, cred.server_key
    )


class SaslFailure(Exception):
    """Ends the exchange with ``<failure><condition/></failure>`` (RFC 6120 6.5)."""

    def __init__(self, condition: str, text: str | None = None) -> None:
        super().__init__(condition)
        self.condition = condition
        self.text = text


@dataclass(frozen=True)
class Challenge:
    data: bytes


@dataclass(frozen=True)
class Success:
    username: str  # as the client gave it; the caller prepares and checks it
    data: bytes | None


Step = Challenge | Success


def tls_server_end_point(cert_der: bytes) -> bytes:
    """RFC 5929 4.1: hash of our certificate, SHA-256 unless its signature uses a stronger hash."""
    from cryptography import x509

    cert = x509.load_der_x509_certificate(cert_der)
    algo = cert.signature_hash_algorithm
    name = algo.name if algo is not None else "sha256"
    if name in ("md5", "sha1"):
        name = "sha256"
    return hashlib.new(name, cert_der).digest()


def offered_mechanisms(
    secure: bool, channel_binding: bool, allow_plain_insecure: bool
) -> list[str]:
    mechs = []
    if secure and channel_binding:
        mechs += ["SCRAM-SHA-256-PLUS", "SCRAM-SHA-1-PLUS"]
    mechs += ["SCRAM-SHA-256", "SCRAM-SHA-1"]
    if secure or allow_plain_insecure:
        mechs.append("PLAIN")
    return mechs


def scram_username(client_first: bytes) -> str:
    """The ``n=`` attribute of a SCRAM client-first message, unescaped (RFC 5802 5.1)."""
    try:
        text = client_first.decode("utf-8")
        bare = text.split(",", 2)[2]
    except (UnicodeDecodeError, IndexError):
        raise SaslFailure("malformed-request", "bad SCRAM client-first message") from None
    for attr in bare.split(","):
        if attr.startswith("n="):
            return attr[2:].replace("=2C", ",").replace("=3D", "=")
    raise SaslFailure("malformed-request", "SCRAM client-first message has no username")


class ScramExchange:
    """One SCRAM exchange; ``mechanism`` is e.g. ``SCRAM-SHA-256-PLUS``."""

    def __init__(self, mechanism: str, account: Account | None, cb_data: bytes | None) -> None:
        plus = mechanism.endswith("-PLUS")
        base = mechanism.removesuffix("-PLUS")
        self._hash = SCRAM_HASHES[base]
        cred = account.scram(self._hash) if account else None
        self._cred = cred
        # An unknown user still runs the exchange against random keys, so a failure takes the
        # same path and time as a wrong password and does not reveal which accounts exist.
        if cred is None:
            salt, stored, server, iters = scramp.ScramMechanism(base).make_auth_info(
                os.urandom(16).hex(), iteration_count=DEFAULT_ITERATIONS
            )
            cred = ScramCredentials(self._hash, salt, iters, stored, server)
        creds = cred

        def auth_fn(_username: str) -> tuple[bytes, bytes, bytes, int]:
            return creds.salt, creds.stored_key, creds.server_key, creds.iterations

        cb = ("tls-server-end-point", cb_data) if cb_data is not None else None
        mech = scramp.ScramMechanism(mechanism if plus else base)
        self._server = mech.make_server(auth_fn, channel_binding=cb)
        self._stage: Literal["first", "final", "done"] = "first"
        self._username = ""

    def step(self, data: bytes) -> Step:
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            raise SaslFailure("incorrect-encoding") from None
        try:
            if self._stage == "first":
                self._username = scram_username(data)
                self._server.set_client_first(text)
                self._stage = "final"
                return Challenge(self._server.get_server_first().encode())
            if self._stage == "final":
                self._stage = "done"
                self._server.set_client_final(text)
                if self._cred is None:
                    raise SaslFailure("not-authorized")
                return Success(self._username, self._server.get_server_final().encode())
        except scramp.ScramException as exc:
            if "channel binding" in str(exc).lower() or "channel_binding" in str(exc):
                raise SaslFailure("not-authorized", "channel binding mismatch") from None
            raise SaslFailure("not-authorized") from None
        raise SaslFailure("malformed-request", "unexpected SASL response")


def parse_plain(data: bytes) -> tuple[str, str, str]:
    """RFC 4616 message: (authzid, authcid, password)."""
    parts = data.split(b"\x00")
    if len(parts) != 3:
        raise SaslFailure("malformed-request", "PLAIN needs authzid NUL authcid NUL password")
    try:
        authzid, authcid, password = (p.decode("utf-8") for p in parts)
    except UnicodeDecodeError:
        raise SaslFailure("incorrect-encoding") from None
    if not authcid or not password:
        raise SaslFailure("not-authorized")
    return authzid, authcid, password


def check_plain(
    account: Account | None, password: str, hashes: Sequence[str] = ("SHA-256", "SHA-1")
) -> bool:
    if account is None:
        return False
    for name in hashes:
        cred = account.scram(name)
        if cred is not None:
            return verify_plain(password, cred)
    return False
