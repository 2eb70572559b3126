"""The server's own options: Prosody's names and meanings, with Garrulus' defaults.

Modules declare theirs in a module-level ``OPTIONS`` tuple; these are the ones no module owns.
Values that are more than a plain TOML value (SQL settings, TLS files, logging, storage routing)
parse into the frozen dataclasses below, so the rest of the server never looks inside raw tables.

Paths: ``data_path`` is relative to the current directory; every other relative file path
(``sql`` SQLite database, ``certificates``, ``ssl`` files, ``log`` file, ``pidfile``) is relative to
``data_path``, as Prosody resolves its data files. Types with paths implement :class:`HasPaths`
and the config loader anchors them once ``data_path`` is known.
"""

from __future__ import annotations

import enum
import ipaddress
import logging
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, Protocol, TypeGuard, runtime_checkable

from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

from garrulus.core.options import Option, OptionValueError
from garrulus.xmpp.jid import InvalidJID, parse_jid

__all__ = [
    "ADMINS",
    "ALLOW_REGISTRATION",
    "ALLOW_UNENCRYPTED_PLAIN_AUTH",
    "AUTH_FAILURE_WINDOW",
    "C2S_CLOSE_TIMEOUT",
    "C2S_DIRECT_TLS_PORTS",
    "C2S_IDLE_TIMEOUT",
    "C2S_INTERFACES",
    "C2S_PORTS",
    "C2S_REQUIRE_ENCRYPTION",
    "C2S_STANZA_SIZE_LIMIT",
    "C2S_TIMEOUT",
    "CERTIFICATES",
    "CORE_OPTIONS",
    "DATA_PATH",
    "DEFAULT_STORAGE",
    "ENABLED",
    "INTERFACES",
    "LOG",
    "MAX_AUTH_FAILURES",
    "MODULES_DISABLED",
    "MODULES_ENABLED",
    "PIDFILE",
    "SQL",
    "SSL",
    "STORAGE",
    "STORAGE_BACKENDS",
    "HasPaths",
    "LogConfig",
    "LogLevel",
    "SqlConfig",
    "SslConfig",
    "StorageConfig",
]


@runtime_checkable
class HasPaths(Protocol):
    """A parsed value holding file paths that are relative to ``data_path`` until anchored."""

    def under(self, data_path: Path) -> HasPaths:
        """The same value with every relative path joined onto ``data_path``."""
        ...


def _anchor(path: Path, data_path: Path) -> Path:
    return path if path.is_absolute() else data_path / path


def _is_int(value: object) -> TypeGuard[int]:
    # bool is an int subclass; `true` is never a number here.
    return isinstance(value, int) and not isinstance(value, bool)


def _nonempty_path(value: object, expected: str) -> Path:
    if isinstance(value, Path):
        return value
    if isinstance(value, str) and value.strip():
        return Path(value)
    raise OptionValueError(f"expected {expected}")


def _table(value: object, expected: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise OptionValueError(f"expected {expected}")
    return value


def _unknown_keys(table: Mapping[str, Any], allowed: tuple[str, ...]) -> None:
    extra = [key for key in table if key not in allowed]
    if extra:
        raise OptionValueError(
            f"unknown key {', '.join(repr(k) for k in extra)} (allowed: {', '.join(allowed)})"
        )


# ---------------------------------------------------------------- plain numbers and lists

PORTS_EXPECTED: Final = "a list of port numbers (1-65535)"


def parse_ports(value: object) -> list[int]:
    if isinstance(value, list) and all(_is_int(p) and 1 <= p <= 65535 for p in value):
        if len(set(value)) != len(value):
            raise OptionValueError(f"expected {PORTS_EXPECTED} without repeats")
        return list(value)
    raise OptionValueError(f"expected {PORTS_EXPECTED}")


INTERFACES_EXPECTED: Final = 'a non-empty list of IP addresses ("*" means every IPv4 address)'


def parse_interfaces(value: object) -> list[str]:
    if not isinstance(value, list) or not value:
        raise OptionValueError(f"expected {INTERFACES_EXPECTED}")
    out: list[str] = []
    for item in value:
        if item == "*":
            # Prosody's "*" is every IPv4 address; "::" (every IPv6 address) is a plain address.
            out.append("0.0.0.0")
            continue
        try:
            # Host names are refused: resolving them at bind time would make the listening
            # addresses depend on DNS at startup.
            out.append(str(ipaddress.ip_address(item)))
        except (TypeError, ValueError):
            raise OptionValueError(
                f"expected {INTERFACES_EXPECTED}; {item!r} is not an IP address"
            ) from None
    return out


def _whole_number(minimum: int, expected: str) -> Callable[[object], int]:
    def parse(value: object) -> int:
        if _is_int(value) and value >= minimum:
            return value
        raise OptionValueError(f"expected {expected}")

    return parse


SECONDS_EXPECTED: Final = "a positive number of seconds"


def _seconds(value: object) -> float:
    # TOML has inf and nan; neither is a timeout.
    if (_is_int(value) or isinstance(value, float)) and math.isfinite(value) and value > 0:
        return float(value)
    raise OptionValueError(f"expected {SECONDS_EXPECTED}")


JIDS_EXPECTED: Final = 'a list of bare JIDs like "admin@example.com"'


def parse_admins(value: object) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(j, str) for j in value):
        raise OptionValueError(f"expected {JIDS_EXPECTED}")
    out: list[str] = []
    for text in value:
        try:
            jid = parse_jid(text)
        except InvalidJID as exc:
            raise OptionValueError(f"expected {JIDS_EXPECTED}; {text!r}: {exc}") from None
        if jid.local is None or jid.resource is not None:
            raise OptionValueError(f"expected {JIDS_EXPECTED}; {text!r} is not a user's bare JID")
        out.append(str(jid))
    return out


def parse_data_path(value: object) -> str:
    if isinstance(value, str) and value.strip():
        return value
    raise OptionValueError("expected a directory path (a non-empty string)")


DIRECTORY_EXPECTED: Final = "a directory path (relative to data_path)"


def parse_directory(value: object) -> Path:
    return _nonempty_path(value, DIRECTORY_EXPECTED)


FILE_EXPECTED: Final = "a file path (relative to data_path)"


def parse_optional_file(value: object) -> Path | None:
    return None if value is None else _nonempty_path(value, FILE_EXPECTED)


# ---------------------------------------------------------------- storage

STORAGE_BACKENDS: Final = ("sql", "memory")
_BACKENDS_TEXT: Final = '"sql" or "memory"'
STORAGE_EXPECTED: Final = (
    f"a backend name ({_BACKENDS_TEXT}) or a table of store name = backend name, "
    'like { archive = "sql", roster = "memory" }'
)


def _backend(value: object, expected: str) -> str:
    if isinstance(value, str) and value in STORAGE_BACKENDS:
        return value
    hint = ""
    if value == "internal":
        hint = " (Prosody's file storage has no Garrulus equivalent)"
    raise OptionValueError(f"expected {expected}{hint}")


@dataclass(frozen=True)
class StorageConfig:
    """Which backend serves which store (Prosody's ``storage`` option).

    ``backend`` is set for the one-name form (``storage = "sql"``); the table form fills
    ``stores`` and every other store uses ``default_storage``.
    """

    backend: str | None = None
    stores: tuple[tuple[str, str], ...] = ()

    def backend_for(self, store: str, default_storage: str) -> str:
        if self.backend is not None:
            return self.backend
        return dict(self.stores).get(store, default_storage)


def parse_storage(value: object) -> StorageConfig:
    if isinstance(value, StorageConfig):
        return value
    if isinstance(value, str):
        return StorageConfig(backend=_backend(value, STORAGE_EXPECTED))
    if isinstance(value, Mapping):
        stores: list[tuple[str, str]] = []
        for store, backend in value.items():
            if not isinstance(backend, str) or backend not in STORAGE_BACKENDS:
                raise OptionValueError(
                    f"expected {_BACKENDS_TEXT} as the backend of store {store!r}"
                )
            stores.append((store, backend))
        return StorageConfig(stores=tuple(stores))
    raise OptionValueError(f"expected {STORAGE_EXPECTED}")


def parse_default_storage(value: object) -> str:
    return _backend(value, f"a backend name ({_BACKENDS_TEXT})")


# ---------------------------------------------------------------- sql

SQL_EXPECTED: Final = (
    'a table: { url = "postgresql://user@host/db" }, '
    '{ driver = "SQLite3", database = "garrulus.sqlite" } or '
    '{ driver = "PostgreSQL", database = "...", host = "...", port = 5432, '
    'username = "...", password = "..." }'
)
_SQL_KEYS: Final = ("driver", "database", "host", "port", "username", "password")
_MYSQL: Final = 'MySQL is not supported; use driver = "PostgreSQL" or "SQLite3"'


@dataclass(frozen=True)
class SqlConfig:
    """Where the SQL backend's database is: a SQLAlchemy URL.

    PostgreSQL URLs name the psycopg (3) driver, the one Garrulus depends on. The password is part
    of the URL, so ``repr`` masks it: configs end up in logs.
    """

    url: str

    def __repr__(self) -> str:
        return f"SqlConfig(url={make_url(self.url).render_as_string(hide_password=True)!r})"

    @property
    def dialect(self) -> str:
        """``"sqlite"`` or ``"postgresql"``."""
        return make_url(self.url).get_backend_name()

    def under(self, data_path: Path) -> SqlConfig:
        url = make_url(self.url)
        database = url.database
        # "" and ":memory:" are SQLite's in-memory databases; "file:" names are SQLite URIs.
        if (
            url.get_backend_name() != "sqlite"
            or not database
            or database == ":memory:"
            or database.startswith("file:")
            or Path(database).is_absolute()
        ):
            return self
        anchored = url.set(database=str(data_path / database))
        return SqlConfig(anchored.render_as_string(hide_password=False))


def _sql_from_url(text: object) -> SqlConfig:
    if not isinstance(text, str):
        raise OptionValueError(f"expected {SQL_EXPECTED}; url must be a string")
    try:
        url = make_url(text)
    except ArgumentError:
        raise OptionValueError(f"expected {SQL_EXPECTED}; {text!r} is not a database URL") from None
    backend = url.get_backend_name()
    if backend in ("mysql", "mariadb"):
        raise OptionValueError(_MYSQL)
    if backend not in ("sqlite", "postgresql"):
        raise OptionValueError(f"database {backend!r} is not supported; use PostgreSQL or SQLite")
    if url.drivername == "postgresql":
        # SQLAlchemy's default PostgreSQL driver is psycopg2, which Garrulus does not install.
        return SqlConfig(
            url.set(drivername="postgresql+psycopg").render_as_string(hide_password=False)
        )
    # Otherwise the URL as written: re-rendering would escape what the user typed (":memory:").
    return SqlConfig(text)


def parse_sql(value: object) -> SqlConfig:
    if isinstance(value, SqlConfig):
        return value
    table = _table(value, SQL_EXPECTED)
    if "url" in table:
        if len(table) > 1:
            others = ", ".join(k for k in table if k != "url")
            raise OptionValueError(
                f"give either url or driver settings, not both (url and {others})"
            )
        return _sql_from_url(table["url"])
    _unknown_keys(table, (*_SQL_KEYS, "url"))
    driver = table.get("driver")
    for key in ("driver", "database", "host", "username", "password"):
        if key in table and not isinstance(table[key], str):
            raise OptionValueError(f"{key} must be a string")
    if "port" in table and not (_is_int(table["port"]) and 1 <= table["port"] <= 65535):
        raise OptionValueError("port must be a port number (1-65535)")
    kind = driver.lower() if isinstance(driver, str) else None
    if kind == "sqlite3":
        extra = [key for key in ("host", "port", "username", "password") if key in table]
        if extra:
            verb = "is" if len(extra) == 1 else "are"
            raise OptionValueError(f"{' and '.join(extra)} {verb} not used by SQLite3")
        database = table.get("database", "garrulus.sqlite")
        if not database:
            raise OptionValueError("database must name a file")
        return SqlConfig(URL.create("sqlite", database=database).render_as_string())
    if kind == "postgresql":
        if not table.get("database"):
            raise OptionValueError('driver = "PostgreSQL" needs database = "<name>"')
        url = URL.create(
            "postgresql+psycopg",
            username=table.get("username"),
            password=table.get("password"),
            host=table.get("host"),
            port=table.get("port"),
            database=table["database"],
        )
        return SqlConfig(url.render_as_string(hide_password=False))
    if kind == "mysql":
        raise OptionValueError(_MYSQL)
    raise OptionValueError('driver must be "SQLite3" or "PostgreSQL" (or give a url)')


# ---------------------------------------------------------------- tls

SSL_EXPECTED: Final = 'a table { certificate = "<file>", key = "<file>" }'


@dataclass(frozen=True)
class SslConfig:
    """An explicit certificate and key (Prosody's ``ssl`` option).

    Without it, a host's files are looked up in ``certificates`` as ``<host>.crt`` and
    ``<host>.key``.
    """

    certificate: Path
    key: Path

    def under(self, data_path: Path) -> SslConfig:
        return SslConfig(_anchor(self.certificate, data_path), _anchor(self.key, data_path))


def parse_ssl(value: object) -> SslConfig | None:
    if value is None or isinstance(value, SslConfig):
        return value
    table = _table(value, SSL_EXPECTED)
    # Prosody's ssl table also takes protocol, ciphers, ...; those are fixed here (TLS 1.2+ with
    # Python's defaults), and saying so beats ignoring them.
    _unknown_keys(table, ("certificate", "key"))
    missing = [key for key in ("certificate", "key") if key not in table]
    if missing:
        raise OptionValueError(f"expected {SSL_EXPECTED}; {' and '.join(missing)} missing")
    certificate = _nonempty_path(table["certificate"], SSL_EXPECTED)
    return SslConfig(certificate, _nonempty_path(table["key"], SSL_EXPECTED))


# ---------------------------------------------------------------- logging


class LogLevel(enum.Enum):
    """Prosody's level names."""

    DEBUG = "debug"
    INFO = "info"
    WARN = "warn"
    ERROR = "error"

    @property
    def python_level(self) -> int:
        return _PYTHON_LEVELS[self]


_PYTHON_LEVELS: Final = {
    LogLevel.DEBUG: logging.DEBUG,
    LogLevel.INFO: logging.INFO,
    LogLevel.WARN: logging.WARNING,
    LogLevel.ERROR: logging.ERROR,
}
# "warning" is Python's spelling; people who know one will type it.
_LEVEL_NAMES: Final = {**{level.value: level for level in LogLevel}, "warning": LogLevel.WARN}
LOG_EXPECTED: Final = (
    'a level ("debug", "info", "warn" or "error") or a table '
    '{ level = "debug", file = "garrulus.log" }'
)


@dataclass(frozen=True)
class LogConfig:
    """Minimum level, and the file to write to (None: standard error)."""

    level: LogLevel = LogLevel.INFO
    file: Path | None = None

    def under(self, data_path: Path) -> LogConfig:
        if self.file is None:
            return self
        return LogConfig(self.level, _anchor(self.file, data_path))


def _level(value: object) -> LogLevel:
    level = _LEVEL_NAMES.get(value.lower()) if isinstance(value, str) else None
    if level is None:
        raise OptionValueError(f"expected {LOG_EXPECTED}")
    return level


def parse_log(value: object) -> LogConfig:
    if isinstance(value, LogConfig):
        return value
    if isinstance(value, str):
        return LogConfig(_level(value))
    table = _table(value, LOG_EXPECTED)
    _unknown_keys(table, ("level", "file"))
    level = _level(table["level"]) if "level" in table else LogLevel.INFO
    file = _nonempty_path(table["file"], LOG_EXPECTED) if "file" in table else None
    return LogConfig(level, file)


# ---------------------------------------------------------------- declarations

MODULES_ENABLED: Final[Option[list[str]]] = Option(
    "modules_enabled",
    list[str],
    [
        "disco",
        "ping",
        "version",
        "time",
        "register",
        "roster",
        "presence",
        "message",
        "offline",
        "carbons",
        "blocking",
        "smacks",
        "mam",
    ],
    "Modules to load. In a host section the list adds to the global one (as in Prosody); "
    "see Config.modules_for.",
)
MODULES_DISABLED: Final[Option[list[str]]] = Option(
    "modules_disabled",
    list[str],
    [],
    "Modules not to load even though enabled: globally, or (in a host section) for that host.",
)
INTERFACES: Final[Option[list[str]]] = Option(
    "interfaces",
    list[str],
    ["127.0.0.1"],
    "Addresses every listener binds to unless its own *_interfaces option says otherwise.",
    parse=parse_interfaces,
    per_host=False,
    expected=INTERFACES_EXPECTED,
)
C2S_INTERFACES: Final[Option[list[str]]] = Option(
    "c2s_interfaces",
    list[str],
    ["127.0.0.1"],
    "Addresses the client listeners bind to; when unset, the value of 'interfaces'.",
    parse=parse_interfaces,
    per_host=False,
    expected=INTERFACES_EXPECTED,
)
C2S_PORTS: Final[Option[list[int]]] = Option(
    "c2s_ports",
    list[int],
    [5222],
    "Ports for client connections that start in plain text and upgrade with STARTTLS.",
    parse=parse_ports,
    per_host=False,
    expected=PORTS_EXPECTED,
)
C2S_DIRECT_TLS_PORTS: Final[Option[list[int]]] = Option(
    "c2s_direct_tls_ports",
    list[int],
    [5223],
    "Ports for client connections that are TLS from the first byte (XEP-0368).",
    parse=parse_ports,
    per_host=False,
    expected=PORTS_EXPECTED,
)
C2S_REQUIRE_ENCRYPTION: Final[Option[bool]] = Option(
    "c2s_require_encryption",
    bool,
    True,
    "Refuse authentication on a client stream that is not encrypted.",
)
ALLOW_UNENCRYPTED_PLAIN_AUTH: Final[Option[bool]] = Option(
    "allow_unencrypted_plain_auth",
    bool,
    False,
    "Offer SASL PLAIN on unencrypted streams (sends the password in clear text).",
)
_SIZE_EXPECTED: Final = "a whole number of bytes, at least 10000"
C2S_STANZA_SIZE_LIMIT: Final[Option[int]] = Option(
    "c2s_stanza_size_limit",
    int,
    256 * 1024,
    "Largest stanza a client may send, in bytes; the stream is closed with policy-violation "
    "beyond it. XEP-0478 asks servers to accept at least 10000.",
    parse=_whole_number(10000, _SIZE_EXPECTED),
    per_host=False,
    expected=_SIZE_EXPECTED,
)
C2S_TIMEOUT: Final[Option[float]] = Option(
    "c2s_timeout",
    float,
    # Prosody waits 300 s; a minute is ample for TLS + SASL + bind even on a slow mobile link, and
    # an unauthenticated socket held longer is mostly a way to exhaust the server.
    60.0,
    "Seconds a client connection may take to authenticate and bind before it is closed.",
    parse=_seconds,
    per_host=False,
    expected=SECONDS_EXPECTED,
)
C2S_CLOSE_TIMEOUT: Final[Option[float]] = Option(
    "c2s_close_timeout",
    float,
    5.0,
    "Seconds to wait for the client's </stream:stream> after ours before dropping the socket.",
    parse=_seconds,
    per_host=False,
    expected=SECONDS_EXPECTED,
)
C2S_IDLE_TIMEOUT: Final[Option[float]] = Option(
    "c2s_idle_timeout",
    float,
    # Longer than the keepalive interval of common clients (a few minutes), shorter than the
    # 15-30 minutes after which mobile networks and NATs silently forget a TCP connection.
    840.0,
    "Seconds without any data from a client after which the server checks the connection "
    "(XEP-0198 request or XEP-0199 ping) and closes it if that goes unanswered.",
    parse=_seconds,
    per_host=False,
    expected=SECONDS_EXPECTED,
)
_COUNT_EXPECTED: Final = "a whole number, at least 1"
MAX_AUTH_FAILURES: Final[Option[int]] = Option(
    "max_auth_failures",
    int,
    5,
    "Failed logins from one IP address, or for one account, within auth_failure_window after "
    "which further attempts are refused (temporary-auth-failure) until the window has moved on.",
    parse=_whole_number(1, _COUNT_EXPECTED),
    # Counted server-wide: an attacker should not get a fresh allowance per host name.
    per_host=False,
    expected=_COUNT_EXPECTED,
)
AUTH_FAILURE_WINDOW: Final[Option[float]] = Option(
    "auth_failure_window",
    float,
    # 5 failures per 5 minutes is about 1400 guesses a day per address: harmless against any
    # password, while a user who mistypes a few times waits minutes, not hours.
    300.0,
    "Seconds over which max_auth_failures counts failed logins (a sliding window).",
    parse=_seconds,
    per_host=False,
    expected=SECONDS_EXPECTED,
)
STORAGE: Final[Option[StorageConfig]] = Option(
    "storage",
    StorageConfig,
    StorageConfig(),
    'Backend for every store ("sql" or "memory"), or a table routing stores to backends; '
    "stores not in the table use default_storage.",
    parse=parse_storage,
    expected=STORAGE_EXPECTED,
)
DEFAULT_STORAGE: Final[Option[str]] = Option(
    "default_storage",
    str,
    "sql",
    "Backend for stores that a storage table does not name.",
    parse=parse_default_storage,
    expected=f"a backend name ({_BACKENDS_TEXT})",
)
SQL: Final[Option[SqlConfig]] = Option(
    "sql",
    SqlConfig,
    SqlConfig("sqlite:///garrulus.sqlite"),
    "The SQL database. Relative SQLite paths are relative to data_path. One database serves "
    "every host, so this is a top-level option only.",
    parse=parse_sql,
    per_host=False,
    expected=SQL_EXPECTED,
)
DATA_PATH: Final[Option[str]] = Option(
    "data_path",
    str,
    "data",
    "Directory for the server's files, relative to the current directory.",
    parse=parse_data_path,
    per_host=False,
    expected="a directory path (a non-empty string)",
)
CERTIFICATES: Final[Option[Path]] = Option(
    "certificates",
    Path,
    Path("certs"),
    "Directory searched for <host>.crt and <host>.key (relative to data_path).",
    parse=parse_directory,
    expected=DIRECTORY_EXPECTED,
)
SSL: Final[Option[SslConfig | None]] = Option(
    "ssl",
    SslConfig | None,
    None,
    "Explicit certificate and key files, instead of looking them up in 'certificates'.",
    parse=parse_ssl,
    expected=SSL_EXPECTED,
)
LOG: Final[Option[LogConfig]] = Option(
    "log",
    LogConfig,
    LogConfig(),
    "Log level, or a table with the level and a file (relative to data_path).",
    parse=parse_log,
    per_host=False,
    expected=LOG_EXPECTED,
)
ALLOW_REGISTRATION: Final[Option[bool]] = Option(
    "allow_registration",
    bool,
    False,
    "Let anyone create an account in-band (XEP-0077).",
)
ADMINS: Final[Option[list[str]]] = Option(
    "admins",
    list[str],
    [],
    "Bare JIDs of the server's administrators.",
    parse=parse_admins,
    expected=JIDS_EXPECTED,
)
PIDFILE: Final[Option[Path | None]] = Option(
    "pidfile",
    Path | None,
    None,
    "File to write the process id to (relative to data_path); none when unset.",
    parse=parse_optional_file,
    per_host=False,
    expected=FILE_EXPECTED,
)
ENABLED: Final[Option[bool]] = Option(
    "enabled",
    bool,
    True,
    "Set to false in a host section to keep its settings but not serve it (as in Prosody).",
)

CORE_OPTIONS: Final[tuple[Option[Any], ...]] = (
    MODULES_ENABLED,
    MODULES_DISABLED,
    INTERFACES,
    C2S_INTERFACES,
    C2S_PORTS,
    C2S_DIRECT_TLS_PORTS,
    C2S_REQUIRE_ENCRYPTION,
    ALLOW_UNENCRYPTED_PLAIN_AUTH,
    C2S_STANZA_SIZE_LIMIT,
    C2S_TIMEOUT,
    C2S_CLOSE_TIMEOUT,
    C2S_IDLE_TIMEOUT,
    MAX_AUTH_FAILURES,
    AUTH_FAILURE_WINDOW,
    STORAGE,
    DEFAULT_STORAGE,
    SQL,
    DATA_PATH,
    CERTIFICATES,
    SSL,
    LOG,
    ALLOW_REGISTRATION,
    ADMINS,
    PIDFILE,
    ENABLED,
)
