"""Loading and validating the configuration file (TOML, with Prosody's option names).

Mapping from Prosody's Lua config::

    Prosody                                  Garrulus (TOML)
    -------------------------------------    ------------------------------------------------
    c2s_ports = { 5222 }                     c2s_ports = [5222]
    storage = { archive = "sql" }            storage = { archive = "sql" }
    sql = { driver = "SQLite3", ... }        sql = { driver = "SQLite3", ... }  (or { url = "..." })
    log = { info = "prosody.log" }           log = { level = "info", file = "garrulus.log" }
    VirtualHost "example.com"                [virtualhosts."example.com"]
        allow_registration = true                allow_registration = true
    (no VirtualHost at all)                  serves "localhost"
    legacy_ssl_ports                         c2s_direct_tls_ports (the old name is refused)
    Component, Include, Lua expressions      not supported

Top-level keys are global; a ``[virtualhosts."<host>"]`` section overrides options declared with
``per_host=True`` for that host, and naming a server-wide option there is an error. Nothing is
ignored silently: an unknown key, a value of the wrong type, or a value out of range makes
:func:`load_config` raise :class:`ConfigError` listing every problem in the file at once, so a
``garrulus check`` run finds them all in one go.

Options come from option sets: the core's (:data:`~garrulus.core.core_options.CORE_OPTIONS`) and
each module's ``OPTIONS`` tuple. Options with ``parse`` are read by it; the others are validated by
pydantic in strict mode, so ``true`` is not a number and ``1`` is not a boolean. A parser also
receives the option's default, so a default may be written in its TOML form (``"1w"``); parsers
must therefore accept their own output too.
"""

from __future__ import annotations

import copy
import difflib
import functools
import json
import re
import tomllib
import types
import typing
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time
from pathlib import Path
from typing import Any, Final, Literal, TypeVar, Union, get_args, get_origin

from pydantic import TypeAdapter, ValidationError

from garrulus.core.core_options import (
    CORE_OPTIONS,
    HasPaths,
    LogConfig,
    SqlConfig,
    SslConfig,
    StorageConfig,
)
from garrulus.core.options import Option, OptionValueError
from garrulus.xmpp.jid import InvalidJID, parse_jid

__all__ = [
    "DEFAULT_CONFIG_PATH",
    "Config",
    "ConfigError",
    "OptionDeclarationError",
    "describe_type",
    "load_config",
    "toml_repr",
]

T = TypeVar("T")

DEFAULT_CONFIG_PATH: Final = Path(__file__).resolve().parent.parent / "default.toml"
DEFAULT_HOST: Final = "localhost"
_HOSTS_KEY: Final = "virtualhosts"

# Options whose unset value is another option's (Prosody: c2s_interfaces defaults to interfaces).
_FALLBACKS: Final[Mapping[str, str]] = {"c2s_interfaces": "interfaces"}
# Names a Prosody user may bring along; a pointer beats a bare "unknown option".
_PROSODY_HINTS: Final[Mapping[str, str]] = {
    "legacy_ssl_ports": "it is Prosody's old name of 'c2s_direct_tls_ports'",
    "virtualhost": 'write each host as a [virtualhosts."example.com"] section',
    "component": "components are not supported",
    "include": "includes are not supported",
}
_SUGGEST_CUTOFF: Final = 0.75
_REPR_LIMIT: Final = 120


class ConfigError(Exception):
    """The configuration file is unusable; ``errors`` holds one line per problem found."""

    def __init__(self, errors: Sequence[str]) -> None:
        self.errors: list[str] = list(errors)
        super().__init__("\n".join(self.errors))


class OptionDeclarationError(ValueError):
    """An option declaration is broken (a bug in the server or a module, not in the file)."""


# ---------------------------------------------------------------- describing types and values


def toml_repr(value: object) -> str:
    """A value as it would be written in TOML, shortened, with passwords masked."""
    text = _toml(value)
    return text if len(text) <= _REPR_LIMIT else text[: _REPR_LIMIT - 3] + "..."


_URL_PASSWORD: Final = re.compile(r"(://[^:/@]*:)[^@]*@")


def _toml(value: object, key: str | None = None) -> str:
    if key == "password":
        return '"***"'
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        if key == "url":
            value = _URL_PASSWORD.sub(r"\1***@", value)
        # JSON string syntax is TOML's basic string syntax for everything printable.
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml(item) for item in value) + "]"
    if isinstance(value, Mapping):
        if not value:
            return "{}"
        return "{ " + ", ".join(f"{_key(k)} = {_toml(v, str(k))}" for k, v in value.items()) + " }"
    return repr(value)


def _key(name: object) -> str:
    text = str(name)
    return text if re.fullmatch(r"[A-Za-z0-9_-]+", text) else json.dumps(text, ensure_ascii=False)


_PLURALS: Final[Mapping[Any, str]] = {
    bool: "true/false values",
    int: "whole numbers",
    float: "numbers",
    str: "strings",
}
_SINGULARS: Final[Mapping[Any, str]] = {
    bool: "true or false",
    int: "a whole number",
    float: "a number",
    str: "a string",
}


def describe_type(tp: Any) -> str:
    """What a value of ``tp`` looks like in TOML, for error messages ("a list of strings")."""
    if tp is Any:
        return "any value"
    if tp in _SINGULARS:
        return _SINGULARS[tp]
    origin, args = get_origin(tp), get_args(tp)
    if origin is typing.Annotated:
        return describe_type(args[0])
    if origin is Literal:
        choices = [toml_repr(a) for a in args]
        return choices[0] if len(choices) == 1 else "one of " + ", ".join(choices)
    if origin is Union or origin is types.UnionType:
        # TOML has no null, so the None of an optional option is never what the user should write.
        parts = [describe_type(a) for a in args if a is not type(None)]
        return " or ".join(parts)
    if origin in (list, tuple, set, frozenset) or origin is Sequence:
        item = args[0] if args else Any
        return f"a list of {_PLURALS.get(item, 'values (' + describe_type(item) + ')')}"
    if origin is dict or origin is Mapping:
        value = args[1] if len(args) == 2 else Any
        return f"a table of {_PLURALS.get(value, 'values (' + describe_type(value) + ')')}"
    if typing.is_typeddict(tp):
        return "a table with keys " + ", ".join(typing.get_type_hints(tp))
    return f"a {getattr(tp, '__name__', str(tp))}"


# ---------------------------------------------------------------- validating one value

_ADAPTERS: dict[Any, TypeAdapter[Any]] = {}
# Pydantic error types that only restate "wrong type": the description already says it.
_TYPE_ERRORS: Final = re.compile(r"(.*_type|literal_error|.*_parsing|union_tag_invalid)$")


def _adapter(tp: Any) -> TypeAdapter[Any]:
    try:
        adapter = _ADAPTERS.get(tp)
    except TypeError:  # unhashable type expression (e.g. Annotated with a dict): build each time
        return TypeAdapter(tp)
    if adapter is None:
        adapter = _ADAPTERS[tp] = TypeAdapter(tp)
    return adapter


def _expected(option: Option[Any]) -> str:
    return option.expected or describe_type(option.type)


def _validate(option: Option[Any], raw: object) -> Any:
    """The typed value, or raises OptionValueError saying what was expected."""
    if option.parse is not None:
        try:
            return option.parse(raw)
        except OptionValueError:
            raise
        except (ValueError, TypeError):
            # A parser that is not ours may raise plain errors whose text means nothing to a user.
            raise OptionValueError(f"expected {_expected(option)}") from None
    try:
        return _adapter(option.type).validate_python(raw, strict=True)
    except ValidationError as exc:
        details = [e["msg"] for e in exc.errors() if not _TYPE_ERRORS.match(e["type"])]
        suffix = f" ({details[0][0].lower()}{details[0][1:]})" if details else ""
        raise OptionValueError(f"expected {_expected(option)}{suffix}") from None


# ---------------------------------------------------------------- option registry


@dataclass(frozen=True)
class _Declared:
    option: Option[Any]
    source: str
    default: Any  # the default as the parser reads it


def _declare(option_sets: Mapping[str, Sequence[Option[Any]]]) -> dict[str, _Declared]:
    declared: dict[str, _Declared] = {}
    for source, options in {"core": CORE_OPTIONS, **option_sets}.items():
        for option in options:
            if option.name == _HOSTS_KEY:
                raise OptionDeclarationError(f"{source}: {_HOSTS_KEY!r} is reserved for hosts")
            previous = declared.get(option.name)
            if previous is not None:
                # Two modules may share an option (both read the same setting), but only if they
                # agree on what it means.
                if previous.option != option:
                    raise OptionDeclarationError(
                        f"option {option.name!r} is declared differently by "
                        f"{previous.source!r} and {source!r}"
                    )
                continue
            try:
                default = _validate(option, option.default)
            except OptionValueError as exc:
                raise OptionDeclarationError(
                    f"{source}: option {option.name!r} rejects its own default "
                    f"{option.default!r}: {exc}"
                ) from None
            declared[option.name] = _Declared(option, source, default)
    return declared


# ---------------------------------------------------------------- the loaded config


@dataclass(frozen=True)
class Config:
    """A validated configuration: typed values per host, defaults filled in, paths anchored.

    Values are shared, not copied: treat lists as read-only.
    """

    path: Path
    hosts: tuple[str, ...]
    data_path: Path
    _declared: Mapping[str, _Declared] = field(repr=False)
    # Effective top-level values (defaults included) and each host's own overrides.
    _global: Mapping[str, Any] = field(repr=False)
    _host_values: Mapping[str, Mapping[str, Any]] = field(repr=False)
    # (host or None, option name) pairs the file set explicitly.
    _explicit: frozenset[tuple[str | None, str]] = field(repr=False)

    def _host(self, host: str | None) -> str | None:
        if host is None or host in self._host_values:
            return host
        try:
            normal = _normalise_host(host)
        except InvalidJID:
            normal = host
        if normal not in self._host_values:
            raise KeyError(f"{host!r} is not a served host (serving: {', '.join(self.hosts)})")
        return normal

    def _option(self, name: str) -> _Declared:
        try:
            return self._declared[name]
        except KeyError:
            raise KeyError(f"no option named {name!r} is declared") from None

    def get(self, name: str, host: str | None = None) -> Any:
        """The value for ``host`` (its section, else the top level, else the default)."""
        self._option(name)
        key = self._host(host)
        if key is not None and name in self._host_values[key]:
            return self._host_values[key][name]
        return self._global[name]

    def value(self, option: Option[T], host: str | None = None) -> T:
        """Typed :meth:`get` for a declared option object."""
        result: T = self.get(option.name, host)
        return result

    def is_set(self, name: str, host: str | None = None) -> bool:
        """Whether the file gives ``name`` a value (for ``host``: in its section or globally)."""
        self._option(name)
        key = self._host(host)
        return (None, name) in self._explicit or (key is not None and (key, name) in self._explicit)

    def values_for(self, host: str | None = None) -> Mapping[str, Any]:
        """Every option's effective value for ``host`` (or the top level)."""
        key = self._host(host)
        own = self._host_values[key] if key is not None else {}
        return types.MappingProxyType({**self._global, **own})

    def source_of(self, name: str) -> str:
        """Which option set declared ``name``: "core" or a module name."""
        return self._option(name).source

    @property
    def options(self) -> Mapping[str, Option[Any]]:
        """Every declared option by name."""
        return types.MappingProxyType({n: d.option for n, d in self._declared.items()})

    def modules_for(self, host: str) -> tuple[str, ...]:
        """Modules to load on ``host``, merged as Prosody does.

        (global enabled - global disabled + host enabled) - host disabled: a host section adds to
        the global list rather than replacing it, and may disable a globally enabled module.
        """
        key = self._host(host)
        assert key is not None
        own = self._host_values[key]
        global_off = set(self._global["modules_disabled"])
        wanted = [m for m in self._global["modules_enabled"] if m not in global_off]
        wanted += own.get("modules_enabled", [])
        host_off = set(own.get("modules_disabled", []))
        return tuple(dict.fromkeys(m for m in wanted if m not in host_off))

    def storage_backend(self, store: str, host: str | None = None) -> str:
        """The backend ("sql", "memory") serving ``store`` on ``host``."""
        storage: StorageConfig = self.get("storage", host)
        default: str = self.get("default_storage", host)
        return storage.backend_for(store, default)

    def storage_backends(self, host: str | None = None) -> Callable[[str], str]:
        """:meth:`storage_backend` bound to ``host``: store name -> backend name."""
        return functools.partial(self.storage_backend, host=host)

    def sql_url(self) -> str:
        """The SQLAlchemy URL of the SQL backend's database (SQLite paths anchored)."""
        sql: SqlConfig = self.get("sql")
        return sql.url

    def log_settings(self) -> tuple[str, Path | None]:
        """Log level name (Prosody's: "debug", "info", "warn", "error") and file (None: stderr)."""
        log: LogConfig = self.get("log")
        return log.level.value, log.file

    def tls_files(self, host: str | None = None) -> tuple[Path, Path, bool]:
        """Certificate file, key file, and whether a self-signed pair may be generated there.

        An explicit ``ssl`` table names files that must exist (False). Otherwise the files are
        ``<certificates>/<host>.crt`` and ``.key`` for ``host`` (default: the first served host),
        and a missing pair may be generated (True), which is how the built-in config serves
        localhost out of the box.
        """
        name = self._host(host) or self.hosts[0]
        ssl: SslConfig | None = self.get("ssl", name)
        if ssl is not None:
            return ssl.certificate, ssl.key, False
        directory: Path = self.get("certificates", name)
        return directory / f"{name}.crt", directory / f"{name}.key", True


# ---------------------------------------------------------------- loading


def _normalise_host(name: str) -> str:
    jid = parse_jid(name)
    if not jid.is_host:
        raise InvalidJID(f"{name!r} is not a host name")
    return jid.domain


def _suggest(name: str, candidates: Iterable[str]) -> str:
    close = difflib.get_close_matches(name, list(candidates), n=1, cutoff=_SUGGEST_CUTOFF)
    return f"; did you mean '{close[0]}'?" if close else ""


def _toml_error(shown: str, text: str, exc: tomllib.TOMLDecodeError) -> str:
    # Python 3.11's TOMLDecodeError carries the position only in its message.
    message = str(exc)
    match = re.search(r"\s*\(at line (\d+), column (\d+)\)$", message)
    if match is not None:
        where = f":{match[1]}:{match[2]}"
    else:
        match = re.search(r"\s*\(at end of document\)$", message)
        lines = text.split("\n")
        where = f":{len(lines)}:{len(lines[-1]) + 1}" if match else ""
    if match is not None:
        message = message[: match.start()]
    return f"{shown}{where}: invalid TOML: {message[:1].lower()}{message[1:]}"


def _read(path: Path, shown: str) -> dict[str, Any]:
    try:
        data = path.read_bytes()
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise ConfigError([f"{shown}: cannot read the config file: {reason}"]) from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(
            [f"{shown}: not UTF-8 text (byte {exc.start}); TOML files are UTF-8"]
        ) from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError([_toml_error(shown, text, exc)]) from None


class _Loader:
    """One pass over one file, collecting every error instead of stopping at the first."""

    def __init__(
        self,
        shown: str,
        declared: Mapping[str, _Declared],
        module_names: Iterable[str],
        known_modules: frozenset[str] | None,
    ) -> None:
        self.shown = shown
        self.declared = declared
        self.module_names = frozenset(module_names)
        self.known_modules = known_modules
        self.errors: list[str] = []

    def error(self, text: str) -> None:
        self.errors.append(f"{self.shown}: {text}")

    def section(self, raw: Mapping[str, Any], section: str | None) -> dict[str, Any]:
        """Parse one table of options: the top level (section None) or one host's section."""
        where = f" in [{_HOSTS_KEY}.{json.dumps(section, ensure_ascii=False)}]" if section else ""
        values: dict[str, Any] = {}
        for name, value in raw.items():
            declared = self.declared.get(name)
            if declared is None:
                self.error(f"unknown option '{name}'{where}{self._hint(name, value)}")
                continue
            if section is not None and not declared.option.per_host:
                self.error(
                    f"option '{name}'{where}: applies to the whole server, so it belongs at the "
                    "top level, not in a host section"
                )
                continue
            try:
                values[name] = _validate(declared.option, value)
            except OptionValueError as exc:
                self.error(f"option '{name}'{where}: {exc}, got {toml_repr(value)}")
                continue
            if name in ("modules_enabled", "modules_disabled"):
                self._check_modules(name, where, values[name])
        return values

    def _hint(self, name: str, value: object) -> str:
        hint = _PROSODY_HINTS.get(name.lower())
        if hint is not None:
            return f"; {hint}"
        if isinstance(value, Mapping) and name in self.module_names:
            # [mam] archive_expires_after = ... : options are flat, as in Prosody.
            return (
                f"; options are not grouped by module: write {name}'s options as top-level "
                "keys (or in a host section)"
            )
        return _suggest(name, self.declared)

    def _check_modules(self, name: str, where: str, modules: list[str]) -> None:
        if self.known_modules is None:
            return
        for module in modules:
            if module not in self.known_modules:
                self.error(
                    f"option '{name}'{where}: no module named '{module}'"
                    f"{_suggest(module, self.known_modules)}"
                )

    def hosts(self, raw: object) -> dict[str, tuple[str, dict[str, Any]]]:
        """Host sections by normalised name: (the name as written, its parsed options)."""
        if raw is None:
            return {DEFAULT_HOST: (DEFAULT_HOST, {})}
        example = f'[{_HOSTS_KEY}."example.com"]'
        if not isinstance(raw, Mapping) or not raw:
            self.error(f"{_HOSTS_KEY} must hold host sections like {example}, got {toml_repr(raw)}")
            return {}
        hosts: dict[str, tuple[str, dict[str, Any]]] = {}
        for written, section in raw.items():
            header = f"[{_HOSTS_KEY}.{json.dumps(written, ensure_ascii=False)}]"
            if not isinstance(section, Mapping):
                self.error(f"{header} must be a table of options, got {toml_repr(section)}")
                continue
            values = self.section(section, written)
            try:
                host = _normalise_host(written)
            except InvalidJID as exc:
                self.error(f"{header}: not a valid host name ({exc})")
                continue
            if host in hosts:
                first = hosts[host][0]
                self.error(
                    f"[{_HOSTS_KEY}.{json.dumps(first, ensure_ascii=False)}] and {header} "
                    f"are the same host '{host}'"
                )
                continue
            hosts[host] = (written, values)
        return hosts

    def check_ports(self, top: Mapping[str, Any]) -> None:
        plain = set(top.get("c2s_ports", ()))
        for port in top.get("c2s_direct_tls_ports", ()):
            if port in plain:
                self.error(
                    f"options 'c2s_ports' and 'c2s_direct_tls_ports' both list port {port}; "
                    "a port is either STARTTLS or direct TLS"
                )


def _anchor(value: Any, data_path: Path) -> Any:
    if isinstance(value, Path):
        return value if value.is_absolute() else data_path / value
    if isinstance(value, HasPaths):
        return value.under(data_path)
    return value


def load_config(
    path: Path | None,
    option_sets: Mapping[str, Sequence[Option[Any]]],
    *,
    known_modules: Iterable[str] | None = None,
) -> Config:
    """Read and validate a config file; ``path=None`` reads the built-in ``default.toml``.

    ``option_sets`` maps a source ("core" or a module name) to its options; the core's are always
    included. With ``known_modules``, names in ``modules_enabled``/``modules_disabled`` must be
    among them. Raises :class:`ConfigError` listing every problem, or
    :class:`OptionDeclarationError` for a broken declaration.
    """
    declared = _declare(option_sets)
    file = DEFAULT_CONFIG_PATH if path is None else path
    shown = str(file)
    document = _read(file, shown)

    loader = _Loader(
        shown,
        declared,
        module_names=(name for name in option_sets if name != "core"),
        known_modules=None if known_modules is None else frozenset(known_modules),
    )
    raw_hosts = document.pop(_HOSTS_KEY, None)
    top = loader.section(document, None)
    hosts = loader.hosts(raw_hosts)
    loader.check_ports({**{n: d.default for n, d in declared.items()}, **top})
    enabled = [
        host
        for host, (_, values) in hosts.items()
        if values.get("enabled", top.get("enabled", declared["enabled"].default))
    ]
    if hosts and not enabled:
        loader.error("every host is disabled (enabled = false); there is nothing to serve")
    if loader.errors:
        raise ConfigError(loader.errors)

    data_path = Path(top.get("data_path", declared["data_path"].default)).absolute()
    effective: dict[str, Any] = {}
    for name, item in declared.items():
        if name in top:
            effective[name] = top[name]
        elif name in _FALLBACKS and _FALLBACKS[name] in top:
            effective[name] = top[_FALLBACKS[name]]
        else:
            # Copied so that no caller can change the declaration through a loaded config.
            effective[name] = copy.deepcopy(item.default)
        effective[name] = _anchor(effective[name], data_path)
    explicit: set[tuple[str | None, str]] = {(None, name) for name in top}
    host_values: dict[str, Mapping[str, Any]] = {}
    for host in enabled:
        values = hosts[host][1]
        host_values[host] = types.MappingProxyType(
            {name: _anchor(value, data_path) for name, value in values.items()}
        )
        explicit.update((host, name) for name in values)
    return Config(
        path=file,
        hosts=tuple(enabled),
        data_path=data_path,
        _declared=types.MappingProxyType(declared),
        _global=types.MappingProxyType(effective),
        _host_values=types.MappingProxyType(host_values),
        _explicit=frozenset(explicit),
    )
