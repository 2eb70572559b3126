"""Loading the TOML config: messages name the file, option, value and what was expected."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any, Literal

import pytest
from pydantic import Field

from garrulus.core.config import (
    DEFAULT_CONFIG_PATH,
    Config,
    ConfigError,
    OptionDeclarationError,
    describe_type,
    load_config,
    toml_repr,
)
from garrulus.core.core_options import (
    C2S_PORTS,
    CORE_OPTIONS,
    SQL_EXPECTED,
    LogConfig,
    LogLevel,
    SqlConfig,
    SslConfig,
    StorageConfig,
)
from garrulus.core.durations import DURATION_EXPECTED, parse_duration
from garrulus.core.options import Option

MAM: Mapping[str, Sequence[Option[Any]]] = {
    "mam": (
        Option(
            "archive_expires_after",
            Any,
            "1w",
            "How long messages are kept.",
            parse=parse_duration,
            expected=DURATION_EXPECTED,
        ),
        Option("max_archive_query_results", int, 50, "Largest page."),
        Option("default_archive_policy", Literal["roster", "always", "never"], "always", "."),
        Option("mam_page_floor", Annotated[int, Field(ge=1)], 10, "."),
        Option("mam_tags", dict[str, int], {}, "."),
    )
}
PORTS = "expected a list of port numbers (1-65535)"


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "garrulus.toml"
    path.write_text(text, encoding="utf-8")
    return path


def load(tmp_path: Path, text: str, **kwargs: Any) -> Config:
    return load_config(write(tmp_path, text), MAM, **kwargs)


def errors(tmp_path: Path, text: str, **kwargs: Any) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, text, **kwargs)
    assert str(caught.value) == "\n".join(caught.value.errors)
    return [line.removeprefix(f"{tmp_path / 'garrulus.toml'}: ") for line in caught.value.errors]


def error(tmp_path: Path, text: str, **kwargs: Any) -> str:
    found = errors(tmp_path, text, **kwargs)
    assert len(found) == 1, found
    return found[0]


# ---------------------------------------------------------------- unknown options


def test_unknown_option(tmp_path: Path) -> None:
    assert error(tmp_path, "frobnicate = 1") == "unknown option 'frobnicate'"


def test_message_starts_with_the_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, "frobnicate = 1")
    assert caught.value.errors == [f"{tmp_path / 'garrulus.toml'}: unknown option 'frobnicate'"]


def test_typo_suggests_the_option(tmp_path: Path) -> None:
    assert (
        error(tmp_path, "c2s_port = [5222]")
        == "unknown option 'c2s_port'; did you mean 'c2s_ports'?"
    )


def test_typo_of_a_module_option(tmp_path: Path) -> None:
    assert (
        error(tmp_path, 'archive_expire_after = "1d"')
        == "unknown option 'archive_expire_after'; did you mean 'archive_expires_after'?"
    )


def test_typo_in_a_host_section(tmp_path: Path) -> None:
    text = '[virtualhosts."example.com"]\nallow_registraton = true'
    assert error(tmp_path, text) == (
        """unknown option 'allow_registraton' in [virtualhosts."example.com"]; """
        "did you mean 'allow_registration'?"
    )


def test_prosody_old_name(tmp_path: Path) -> None:
    assert error(tmp_path, "legacy_ssl_ports = [5223]") == (
        "unknown option 'legacy_ssl_ports'; it is Prosody's old name of 'c2s_direct_tls_ports'"
    )


def test_options_grouped_under_module_name(tmp_path: Path) -> None:
    assert error(tmp_path, '[mam]\narchive_expires_after = "1d"') == (
        "unknown option 'mam'; options are not grouped by module: write mam's options as "
        "top-level keys (or in a host section)"
    )


# ---------------------------------------------------------------- wrong types


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("allow_registration = 1", "option 'allow_registration': expected true or false, got 1"),
        (
            'allow_registration = "yes"',
            """option 'allow_registration': expected true or false, got "yes\"""",
        ),
        (
            'modules_enabled = "mam"',
            """option 'modules_enabled': expected a list of strings, got "mam\"""",
        ),
        (
            "modules_enabled = [1, 2]",
            "option 'modules_enabled': expected a list of strings, got [1, 2]",
        ),
        (
            'c2s_stanza_size_limit = "big"',
            "option 'c2s_stanza_size_limit': expected a whole number of bytes, at least 10000, "
            'got "big"',
        ),
        (
            "c2s_stanza_size_limit = 9999",
            "option 'c2s_stanza_size_limit': expected a whole number of bytes, at least 10000, "
            "got 9999",
        ),
        (
            "c2s_timeout = true",
            "option 'c2s_timeout': expected a positive number of seconds, got true",
        ),
        (
            "c2s_idle_timeout = 0",
            "option 'c2s_idle_timeout': expected a positive number of seconds, got 0",
        ),
        (
            "c2s_close_timeout = inf",
            "option 'c2s_close_timeout': expected a positive number of seconds, got inf",
        ),
        (
            "max_archive_query_results = 5.5",
            "option 'max_archive_query_results': expected a whole number, got 5.5",
        ),
        (
            "max_archive_query_results = true",
            "option 'max_archive_query_results': expected a whole number, got true",
        ),
        (
            'default_archive_policy = "roaster"',
            'option \'default_archive_policy\': expected one of "roster", "always", "never", '
            'got "roaster"',
        ),
        (
            "mam_page_floor = 0",
            "option 'mam_page_floor': expected a whole number "
            "(input should be greater than or equal to 1), got 0",
        ),
        (
            'mam_tags = { a = "x" }',
            """option 'mam_tags': expected a table of whole numbers, got { a = "x" }""",
        ),
        (
            'archive_expires_after = "1x"',
            f"""option 'archive_expires_after': expected {DURATION_EXPECTED}, got "1x\"""",
        ),
        (
            "archive_expires_after = 1.5",
            f"option 'archive_expires_after': expected {DURATION_EXPECTED}, got 1.5",
        ),
        (
            'data_path = ""',
            """option 'data_path': expected a directory path (a non-empty string), got \"\"""",
        ),
        (
            "certificates = 5",
            "option 'certificates': expected a directory path (relative to data_path), got 5",
        ),
        (
            'pidfile = ""',
            """option 'pidfile': expected a file path (relative to data_path), got \"\"""",
        ),
    ],
)
def test_wrong_type(tmp_path: Path, text: str, message: str) -> None:
    assert error(tmp_path, text) == message


# ---------------------------------------------------------------- ports and interfaces


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ('"5222"', f'{PORTS}, got "5222"'),
        ("5222", f"{PORTS}, got 5222"),
        ("[0]", f"{PORTS}, got [0]"),
        ("[65536]", f"{PORTS}, got [65536]"),
        ("[true]", f"{PORTS}, got [true]"),
        ('["5222"]', f'{PORTS}, got ["5222"]'),
        ("[5222, 5222]", f"{PORTS} without repeats, got [5222, 5222]"),
    ],
)
def test_bad_ports(tmp_path: Path, value: str, message: str) -> None:
    assert error(tmp_path, f"c2s_ports = {value}") == f"option 'c2s_ports': {message}"


def test_port_both_starttls_and_direct_tls(tmp_path: Path) -> None:
    assert error(tmp_path, "c2s_direct_tls_ports = [5222]") == (
        "options 'c2s_ports' and 'c2s_direct_tls_ports' both list port 5222; "
        "a port is either STARTTLS or direct TLS"
    )


@pytest.mark.parametrize(
    ("value", "detail"),
    [
        ("[]", ""),
        ('"127.0.0.1"', ""),
        ('["localhost"]', "; 'localhost' is not an IP address"),
        ('["1.2.3.4.5"]', "; '1.2.3.4.5' is not an IP address"),
    ],
)
def test_bad_interfaces(tmp_path: Path, value: str, detail: str) -> None:
    assert error(tmp_path, f"c2s_interfaces = {value}") == (
        "option 'c2s_interfaces': expected a non-empty list of IP addresses "
        f'("*" means every IPv4 address){detail}, got {value.replace(chr(39), chr(34))}'
    )


# ---------------------------------------------------------------- host sections


def test_server_wide_option_in_host_section(tmp_path: Path) -> None:
    text = '[virtualhosts."localhost"]\nc2s_ports = [5222]'
    assert error(tmp_path, text) == (
        """option 'c2s_ports' in [virtualhosts."localhost"]: applies to the whole server, """
        "so it belongs at the top level, not in a host section"
    )


def test_wrong_value_in_host_section(tmp_path: Path) -> None:
    text = '[virtualhosts."localhost"]\nallow_registration = "no"'
    assert error(tmp_path, text) == (
        """option 'allow_registration' in [virtualhosts."localhost"]: expected true or false, """
        'got "no"'
    )


def test_invalid_host_name(tmp_path: Path) -> None:
    assert error(tmp_path, '[virtualhosts."a b"]') == (
        """[virtualhosts."a b"]: not a valid host name (invalid domainpart 'a b')"""
    )


def test_user_jid_as_host_name(tmp_path: Path) -> None:
    assert error(tmp_path, '[virtualhosts."me@example.com"]') == (
        """[virtualhosts."me@example.com"]: not a valid host name """
        "('me@example.com' is not a host name)"
    )


def test_same_host_twice_after_normalising(tmp_path: Path) -> None:
    text = '[virtualhosts."Example.com"]\n[virtualhosts."example.COM"]'
    assert error(tmp_path, text) == (
        """[virtualhosts."Example.com"] and [virtualhosts."example.COM"] """
        "are the same host 'example.com'"
    )


def test_virtualhosts_not_sections(tmp_path: Path) -> None:
    assert error(tmp_path, 'virtualhosts = ["example.com"]') == (
        """virtualhosts must hold host sections like [virtualhosts."example.com"], """
        'got ["example.com"]'
    )


def test_empty_virtualhosts(tmp_path: Path) -> None:
    assert error(tmp_path, "[virtualhosts]") == (
        """virtualhosts must hold host sections like [virtualhosts."example.com"], got {}"""
    )


def test_host_section_not_a_table(tmp_path: Path) -> None:
    assert error(tmp_path, '[virtualhosts]\n"example.com" = true') == (
        """[virtualhosts."example.com"] must be a table of options, got true"""
    )


def test_every_host_disabled(tmp_path: Path) -> None:
    text = '[virtualhosts."example.com"]\nenabled = false'
    assert error(tmp_path, text) == (
        "every host is disabled (enabled = false); there is nothing to serve"
    )


# ---------------------------------------------------------------- sql, storage, log, ssl, admins


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (
            '{ driver = "MySQL", database = "x", password = "hunter2" }',
            'MySQL is not supported; use driver = "PostgreSQL" or "SQLite3", '
            'got { driver = "MySQL", database = "x", password = "***" }',
        ),
        (
            '{ url = "mysql://u:hunter2@db/x" }',
            'MySQL is not supported; use driver = "PostgreSQL" or "SQLite3", '
            'got { url = "mysql://u:***@db/x" }',
        ),
        (
            '{ driver = "Oracle" }',
            'driver must be "SQLite3" or "PostgreSQL" (or give a url), got { driver = "Oracle" }',
        ),
        (
            '{ url = "oracle://db/x" }',
            "database 'oracle' is not supported; use PostgreSQL or SQLite, "
            'got { url = "oracle://db/x" }',
        ),
        (
            '{ url = "nonsense" }',
            f"expected {SQL_EXPECTED}; 'nonsense' is not a database URL, "
            'got { url = "nonsense" }',
        ),
        (
            '{ url = "sqlite://", driver = "SQLite3" }',
            "give either url or driver settings, not both (url and driver), "
            'got { url = "sqlite://", driver = "SQLite3" }',
        ),
        (
            '{ driver = "SQLite3", host = "db" }',
            'host is not used by SQLite3, got { driver = "SQLite3", host = "db" }',
        ),
        (
            '{ driver = "PostgreSQL" }',
            'driver = "PostgreSQL" needs database = "<name>", got { driver = "PostgreSQL" }',
        ),
        (
            '{ driver = "PostgreSQL", database = "x", port = 0 }',
            "port must be a port number (1-65535), "
            'got { driver = "PostgreSQL", database = "x", port = 0 }',
        ),
        (
            '{ driver = "SQLite3", file = "x" }',
            "unknown key 'file' (allowed: driver, database, host, port, username, password, "
            'url), got { driver = "SQLite3", file = "x" }',
        ),
        ('"sqlite:///x"', f'expected {SQL_EXPECTED}, got "sqlite:///x"'),
    ],
)
def test_bad_sql(tmp_path: Path, value: str, message: str) -> None:
    assert error(tmp_path, f"sql = {value}") == f"option 'sql': {message}"


def test_sql_is_server_wide(tmp_path: Path) -> None:
    text = '[virtualhosts."localhost"]\nsql = { driver = "SQLite3" }'
    assert error(tmp_path, text).startswith(
        """option 'sql' in [virtualhosts."localhost"]: applies to the whole server"""
    )


STORAGE = (
    'expected a backend name ("sql" or "memory") or a table of store name = backend name, '
    'like { archive = "sql", roster = "memory" }'
)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ('"disk"', f'{STORAGE}, got "disk"'),
        (
            '"internal"',
            f'{STORAGE} (Prosody\'s file storage has no Garrulus equivalent), got "internal"',
        ),
        (
            '{ archive = "disk" }',
            """expected "sql" or "memory" as the backend of store 'archive', """
            'got { archive = "disk" }',
        ),
        ("[]", f"{STORAGE}, got []"),
    ],
)
def test_bad_storage(tmp_path: Path, value: str, message: str) -> None:
    assert error(tmp_path, f"storage = {value}") == f"option 'storage': {message}"


LOG = (
    'expected a level ("debug", "info", "warn" or "error") or a table '
    '{ level = "debug", file = "garrulus.log" }'
)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ('"loud"', f'{LOG}, got "loud"'),
        ('"/var/log/garrulus.log"', f'{LOG}, got "/var/log/garrulus.log"'),
        ('{ level = "trace" }', f'{LOG}, got {{ level = "trace" }}'),
        (
            '{ info = "garrulus.log" }',
            "unknown key 'info' (allowed: level, file), got { info = \"garrulus.log\" }",
        ),
        ("3", f"{LOG}, got 3"),
    ],
)
def test_bad_log(tmp_path: Path, value: str, message: str) -> None:
    assert error(tmp_path, f"log = {value}") == f"option 'log': {message}"


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (
            '{ certificate = "a.crt" }',
            'expected a table { certificate = "<file>", key = "<file>" }; key missing, '
            'got { certificate = "a.crt" }',
        ),
        (
            '{ certificate = "a.crt", key = "a.key", protocol = "tlsv1_2+" }',
            "unknown key 'protocol' (allowed: certificate, key), "
            'got { certificate = "a.crt", key = "a.key", protocol = "tlsv1_2+" }',
        ),
    ],
)
def test_bad_ssl(tmp_path: Path, value: str, message: str) -> None:
    assert error(tmp_path, f"ssl = {value}") == f"option 'ssl': {message}"


@pytest.mark.parametrize(
    ("value", "detail"),
    [
        ('["admin@example.com/phone"]', "'admin@example.com/phone' is not a user's bare JID"),
        ('["example.com"]', "'example.com' is not a user's bare JID"),
        ('["@example.com"]', "'@example.com': empty localpart"),
    ],
)
def test_bad_admins(tmp_path: Path, value: str, detail: str) -> None:
    assert error(tmp_path, f"admins = {value}") == (
        f"""option 'admins': expected a list of bare JIDs like "admin@example.com"; {detail}, """
        f"got {value}"
    )


def test_unknown_module(tmp_path: Path) -> None:
    text = 'modules_enabled = ["disco", "mamm"]\nmodules_disabled = ["nope"]'
    assert errors(tmp_path, text, known_modules=["disco", "mam"]) == [
        "option 'modules_enabled': no module named 'mamm'; did you mean 'mam'?",
        "option 'modules_disabled': no module named 'nope'",
    ]


# ---------------------------------------------------------------- files


def test_toml_syntax_error_gives_line_and_column(tmp_path: Path) -> None:
    path = write(tmp_path, 'allow_registration = true\nadmins = ["a@b"\n')
    with pytest.raises(ConfigError) as caught:
        load_config(path, {})
    assert caught.value.errors == [f"{path}:3:1: invalid TOML: unclosed array"]


def test_toml_duplicate_key(tmp_path: Path) -> None:
    path = write(tmp_path, "c2s_ports = [1]\nc2s_ports = [2]\n")
    with pytest.raises(ConfigError) as caught:
        load_config(path, {})
    assert caught.value.errors == [f"{path}:2:16: invalid TOML: cannot overwrite a value"]


def test_toml_bad_value_line(tmp_path: Path) -> None:
    path = write(tmp_path, "a = 1\nb = \n")
    with pytest.raises(ConfigError) as caught:
        load_config(path, {})
    assert caught.value.errors == [f"{path}:2:5: invalid TOML: invalid value"]


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nope.toml"
    with pytest.raises(ConfigError) as caught:
        load_config(path, {})
    assert caught.value.errors == [
        f"{path}: cannot read the config file: No such file or directory"
    ]


def test_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "garrulus.toml"
    path.write_bytes(b'log = "\xff"\n')
    with pytest.raises(ConfigError) as caught:
        load_config(path, {})
    assert caught.value.errors == [f"{path}: not UTF-8 text (byte 7); TOML files are UTF-8"]


# ---------------------------------------------------------------- many errors at once


def test_all_errors_are_reported_together(tmp_path: Path) -> None:
    text = """
c2s_port = [5222]
allow_registration = "yes"
log = "loud"
archive_expires_after = "soon"

[virtualhosts."example.com"]
c2s_ports = [5222]
max_archive_query_results = "many"
"""
    assert errors(tmp_path, text) == [
        "unknown option 'c2s_port'; did you mean 'c2s_ports'?",
        """option 'allow_registration': expected true or false, got "yes\"""",
        f"""option 'log': {LOG}, got "loud\"""",
        f"""option 'archive_expires_after': expected {DURATION_EXPECTED}, got "soon\"""",
        """option 'c2s_ports' in [virtualhosts."example.com"]: applies to the whole server, """
        "so it belongs at the top level, not in a host section",
        """option 'max_archive_query_results' in [virtualhosts."example.com"]: """
        'expected a whole number, got "many"',
    ]


# ---------------------------------------------------------------- good configs


def test_empty_file_gives_defaults_and_localhost(tmp_path: Path) -> None:
    config = load(tmp_path, "")
    assert config.hosts == ("localhost",)
    for option in CORE_OPTIONS:
        if option.name not in ("sql", "certificates"):  # anchored under data_path
            assert config.get(option.name) == option.default, option.name
    assert config.get("c2s_ports", "localhost") == [5222]
    assert config.get("archive_expires_after") == timedelta(days=7)  # default parsed too
    assert config.get("max_archive_query_results", "localhost") == 50
    assert config.is_set("c2s_ports") is False


def test_defaults_are_not_shared_with_the_declaration(tmp_path: Path) -> None:
    config = load(tmp_path, "")
    config.get("modules_enabled").append("oops")
    assert "oops" not in load(tmp_path, "").get("modules_enabled")


def test_host_overrides_global_overrides_default(tmp_path: Path) -> None:
    config = load(
        tmp_path,
        """
allow_registration = true
archive_expires_after = "1m"

[virtualhosts."a.example"]
archive_expires_after = "never"

[virtualhosts."B.Example"]
allow_registration = false
max_archive_query_results = 100
""",
    )
    assert config.hosts == ("a.example", "b.example")
    assert config.get("allow_registration") is True
    assert config.get("allow_registration", "a.example") is True
    assert config.get("allow_registration", "b.example") is False
    assert config.get("archive_expires_after", "a.example") is None
    assert config.get("archive_expires_after", "b.example") == timedelta(days=31)
    assert config.get("max_archive_query_results", "a.example") == 50
    assert config.get("max_archive_query_results", "b.example") == 100
    assert config.get("max_archive_query_results", "B.EXAMPLE") == 100  # normalised lookup
    assert config.is_set("max_archive_query_results", "b.example") is True
    assert config.is_set("max_archive_query_results", "a.example") is False
    assert config.is_set("allow_registration", "a.example") is True
    assert config.source_of("archive_expires_after") == "mam"
    assert config.source_of("c2s_ports") == "core"
    values = config.values_for("b.example")
    assert values["max_archive_query_results"] == 100
    assert values["allow_registration"] is False


def test_host_names_are_normalised(tmp_path: Path) -> None:
    config = load(tmp_path, '[virtualhosts."BÜCHER.Example."]\n[virtualhosts."localhost"]')
    assert config.hosts == ("bücher.example", "localhost")


def test_disabled_host_is_not_served(tmp_path: Path) -> None:
    text = '[virtualhosts."a.example"]\n[virtualhosts."b.example"]\nenabled = false'
    config = load(tmp_path, text)
    assert config.hosts == ("a.example",)
    with pytest.raises(KeyError):
        config.get("allow_registration", "b.example")


def test_typed_access(tmp_path: Path) -> None:
    config = load(tmp_path, "c2s_ports = [5000, 5001]")
    ports: list[int] = config.value(C2S_PORTS)
    assert ports == [5000, 5001]
    assert config.is_set("c2s_ports")


def test_unknown_name_or_host_is_a_key_error(tmp_path: Path) -> None:
    config = load(tmp_path, "")
    with pytest.raises(KeyError, match="no option named 'nope'"):
        config.get("nope")
    with pytest.raises(KeyError, match=r"'example\.org' is not a served host"):
        config.get("c2s_ports", "example.org")


def test_paths_are_anchored_under_data_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    config = load(
        tmp_path,
        """
data_path = "var"
pidfile = "garrulus.pid"
log = { level = "debug", file = "log/garrulus.log" }
ssl = { certificate = "tls/a.crt", key = "/etc/ssl/a.key" }
""",
    )
    var = tmp_path / "var"
    assert config.data_path == var
    assert config.get("pidfile") == var / "garrulus.pid"
    assert config.get("log") == LogConfig(LogLevel.DEBUG, var / "log" / "garrulus.log")
    assert config.log_settings() == ("debug", var / "log" / "garrulus.log")
    assert config.get("ssl") == SslConfig(var / "tls" / "a.crt", Path("/etc/ssl/a.key"))
    assert config.tls_files() == (var / "tls" / "a.crt", Path("/etc/ssl/a.key"), False)
    assert config.get("certificates") == var / "certs"
    assert config.sql_url() == f"sqlite:///{var}/garrulus.sqlite"


def test_certificates_directory_per_host(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    config = load(tmp_path, '[virtualhosts."example.com"]\ncertificates = "/etc/garrulus"')
    assert config.tls_files() == (
        Path("/etc/garrulus/example.com.crt"),
        Path("/etc/garrulus/example.com.key"),
        True,
    )


@pytest.mark.parametrize(
    ("value", "url"),
    [
        ('{ driver = "SQLite3", database = "/srv/g.sqlite" }', "sqlite:////srv/g.sqlite"),
        ('{ driver = "sqlite3" }', "sqlite:///{data}/garrulus.sqlite"),
        ('{ url = "sqlite:///rel.db" }', "sqlite:///{data}/rel.db"),
        ('{ url = "sqlite://" }', "sqlite://"),
        ('{ url = "sqlite:///:memory:" }', "sqlite:///:memory:"),
        (
            '{ url = "postgresql://user@127.0.0.1/test" }',
            "postgresql+psycopg://user@127.0.0.1/test",
        ),
        (
            '{ driver = "PostgreSQL", database = "g", host = "db", port = 5433, '
            'username = "u", password = "p@ss" }',
            "postgresql+psycopg://u:p%40ss@db:5433/g",
        ),
        ('{ driver = "PostgreSQL", database = "g" }', "postgresql+psycopg:///g"),
    ],
)
def test_sql_forms(tmp_path: Path, value: str, url: str) -> None:
    config = load(tmp_path, f"sql = {value}")
    assert config.sql_url() == url.format(data=config.data_path)
    assert config.get("sql") == SqlConfig(url.format(data=config.data_path))


def test_sql_repr_hides_the_password() -> None:
    assert repr(SqlConfig("postgresql+psycopg://u:secret@db/g")) == (
        "SqlConfig(url='postgresql+psycopg://u:***@db/g')"
    )
    assert SqlConfig("sqlite:///x").dialect == "sqlite"


def test_storage_routing(tmp_path: Path) -> None:
    config = load(
        tmp_path,
        """
default_storage = "memory"
storage = { archive = "sql" }

[virtualhosts."a.example"]
[virtualhosts."b.example"]
storage = "memory"
""",
    )
    assert config.get("storage") == StorageConfig(stores=(("archive", "sql"),))
    assert config.storage_backend("archive", "a.example") == "sql"
    assert config.storage_backend("roster", "a.example") == "memory"
    assert config.storage_backend("archive", "b.example") == "memory"
    backend_for = config.storage_backends("a.example")
    assert backend_for("archive") == "sql"


def test_default_storage_is_sql(tmp_path: Path) -> None:
    assert load(tmp_path, "").storage_backend("archive") == "sql"


def test_interfaces_fallback(tmp_path: Path) -> None:
    assert load(tmp_path, 'interfaces = ["*", "::"]').get("c2s_interfaces") == ["0.0.0.0", "::"]
    text = 'interfaces = ["::1"]\nc2s_interfaces = ["127.0.0.1"]'
    assert load(tmp_path, text).get("c2s_interfaces") == ["127.0.0.1"]


def test_modules_merge_like_prosody(tmp_path: Path) -> None:
    config = load(
        tmp_path,
        """
modules_enabled = ["disco", "ping", "mam", "carbons"]
modules_disabled = ["carbons"]

[virtualhosts."a.example"]
modules_enabled = ["register", "carbons"]
modules_disabled = ["ping"]

[virtualhosts."b.example"]
""",
    )
    assert config.modules_for("a.example") == ("disco", "mam", "register", "carbons")
    assert config.modules_for("b.example") == ("disco", "ping", "mam")


def test_log_forms(tmp_path: Path) -> None:
    assert load(tmp_path, 'log = "WARNING"').get("log") == LogConfig(LogLevel.WARN)
    assert LogLevel.WARN.python_level == 30


def test_admins_are_prepared(tmp_path: Path) -> None:
    config = load(tmp_path, 'admins = ["Admin@Example.COM"]')
    assert config.get("admins") == ["admin@example.com"]


def test_known_modules_accepts_listed_ones(tmp_path: Path) -> None:
    config = load(tmp_path, 'modules_enabled = ["mam"]', known_modules=["mam"])
    assert config.get("modules_enabled") == ["mam"]


def test_builtin_default_toml_loads(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    config = load_config(None, MAM, known_modules=[m for m in CORE_OPTIONS[0].default])
    assert config.path == DEFAULT_CONFIG_PATH
    assert config.hosts == ("localhost",)
    assert config.data_path == tmp_path / "data"
    assert config.sql_url() == f"sqlite:///{tmp_path}/data/garrulus.sqlite"
    assert config.storage_backend("archive") == "sql"
    assert config.tls_files("localhost") == (
        tmp_path / "data" / "certs" / "localhost.crt",
        tmp_path / "data" / "certs" / "localhost.key",
        True,
    )
    assert config.modules_for("localhost") == tuple(CORE_OPTIONS[0].default)
    assert config.get("c2s_require_encryption") is True


def test_default_toml_comments_show_module_defaults() -> None:
    # Uncommenting the documented mam lines must give the declared defaults.
    lines = DEFAULT_CONFIG_PATH.read_text(encoding="utf-8").splitlines()
    shown = {line.removeprefix("# ").split("#")[0].strip() for line in lines}
    assert 'archive_expires_after = "1w"' in shown
    assert "default_archive_policy = true" in shown
    assert "max_archive_query_results = 50" in shown


def test_every_core_option_is_documented() -> None:
    text = DEFAULT_CONFIG_PATH.read_text(encoding="utf-8")
    documented = set(re.findall(r"^#? ?(\w+) =", text, re.MULTILINE))
    assert [o.name for o in CORE_OPTIONS if o.name not in documented] == []


# ---------------------------------------------------------------- declarations


def test_conflicting_declarations(tmp_path: Path) -> None:
    sets = {
        "a": (Option("shared", int, 1, "."),),
        "b": (Option("shared", int, 2, "."),),
    }
    with pytest.raises(OptionDeclarationError, match="declared differently by 'a' and 'b'"):
        load_config(write(tmp_path, ""), sets)


def test_identical_declarations_are_shared(tmp_path: Path) -> None:
    option = Option("shared", int, 1, ".")
    config = load_config(write(tmp_path, "shared = 3"), {"a": (option,), "b": (option,)})
    assert config.get("shared") == 3
    assert config.source_of("shared") == "a"


def test_default_must_satisfy_its_type(tmp_path: Path) -> None:
    with pytest.raises(OptionDeclarationError, match="'bad' rejects its own default '5'"):
        load_config(write(tmp_path, ""), {"m": (Option("bad", int, "5", "."),)})


def test_option_may_not_be_called_virtualhosts(tmp_path: Path) -> None:
    with pytest.raises(OptionDeclarationError, match="reserved"):
        load_config(write(tmp_path, ""), {"m": (Option("virtualhosts", int, 1, "."),)})


# ---------------------------------------------------------------- helpers


@pytest.mark.parametrize(
    ("tp", "text"),
    [
        (bool, "true or false"),
        (int, "a whole number"),
        (list[str], "a list of strings"),
        (list[list[int]], "a list of values (a list of whole numbers)"),
        (Literal["a"], '"a"'),
        (int | None, "a whole number"),
        (int | str, "a whole number or a string"),
        (dict[str, bool], "a table of true/false values"),
        (Any, "any value"),
    ],
)
def test_describe_type(tp: Any, text: str) -> None:
    assert describe_type(tp) == text


def test_toml_repr_shortens() -> None:
    assert toml_repr("x" * 200).endswith("xx...")
    assert len(toml_repr("x" * 200)) == 120
    assert toml_repr({"a b": [1, 2.5, False]}) == '{ "a b" = [1, 2.5, false] }'
