"""The command line, run as an operator would: a real process, stdin for passwords."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

GARRULUS = [sys.executable, "-m", "garrulus.cli.main"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "garrulus.toml"
    path.write_text(
        f'data_path = "{tmp_path / "data"}"\n'
        'modules_enabled = ["disco", "ping", "mam"]\n'
        f"c2s_ports = [{free_port()}]\n"
        f"c2s_direct_tls_ports = [{free_port()}]\n"
    )
    return path


def run(*args: str, stdin: str = "", check: bool = True) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        [*GARRULUS, *args], input=stdin, capture_output=True, text=True, timeout=60
    )
    if check:
        assert proc.returncode == 0, proc.stderr
    return proc


def test_help_describes_every_command() -> None:
    out = run("--help").stdout
    for command in ("serve", "check", "adduser", "passwd", "deluser", "db", "mam"):
        assert command in out
    assert "stats" in run("mam", "--help").stdout


def test_check_good_and_bad(tmp_path: Path, config: Path) -> None:
    assert "OK" in run("check", str(config)).stdout
    bad = tmp_path / "bad.toml"
    bad.write_text('c2s_ports = "5222"\narchive_expires_after = "1x"\nmodules_enabeld = []\n')
    proc = run("check", str(bad), check=False)
    assert proc.returncode == 2
    assert "option 'c2s_ports'" in proc.stderr and "bad.toml" in proc.stderr
    assert "option 'archive_expires_after'" in proc.stderr and '"1x"' in proc.stderr
    assert "did you mean 'modules_enabled'" in proc.stderr


def test_user_lifecycle_passwords_from_stdin(config: Path) -> None:
    assert (
        "created alice@localhost"
        in run("adduser", "alice@localhost", "-c", str(config), stdin="pw1\n").stdout
    )
    proc = run("adduser", "alice@localhost", "-c", str(config), stdin="pw1\n", check=False)
    assert proc.returncode == 1 and "already exists" in proc.stderr
    assert "changed" in run("passwd", "alice@localhost", "-c", str(config), stdin="pw2\n").stdout
    assert "deleted" in run("deluser", "alice@localhost", "--yes", "-c", str(config)).stdout
    proc = run("passwd", "alice@localhost", "-c", str(config), stdin="pw3\n", check=False)
    assert proc.returncode == 1 and "does not exist" in proc.stderr
    proc = run("adduser", "nobody@elsewhere.example", "-c", str(config), stdin="x\n", check=False)
    assert proc.returncode == 1 and "not served here" in proc.stderr


def test_password_is_not_stored_in_clear(config: Path, tmp_path: Path) -> None:
    run("adduser", "bob@localhost", "-c", str(config), stdin="very-secret-password\n")
    for path in (tmp_path / "data").rglob("*"):
        if path.is_file():
            assert b"very-secret-password" not in path.read_bytes(), path


def test_serve_stops_cleanly_and_busy_port_fails(config: Path) -> None:
    first = subprocess.Popen(
        [*GARRULUS, "serve", "-c", str(config)], stderr=subprocess.PIPE, text=True
    )
    try:
        deadline = time.monotonic() + 30
        port = int(config.read_text().split("c2s_ports = [")[1].split("]")[0])
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.1)
        second = run("serve", "-c", str(config), check=False)
        assert second.returncode != 0
        assert "already in use" in second.stderr and "c2s_ports" in second.stderr
    finally:
        first.send_signal(signal.SIGTERM)
        _, err = first.communicate(timeout=30)
    assert first.returncode == 0, err
    assert "stopped" in err


def test_mam_export_import_round_trip(config: Path, tmp_path: Path) -> None:
    run("adduser", "alice@localhost", "-c", str(config), stdin="pw\n")
    dump = tmp_path / "dump.jsonl"
    records = [
        {
            "owner": "alice@localhost",
            "peer": "bob@localhost",
            "peer_resource": None,
            "direction": "in",
            "when": f"2026-01-0{i}T10:00:00Z",
            "type": "chat",
            "stanza": f"<message xmlns='jabber:client' from='bob@localhost/x' to='alice@localhost' "
            f"type='chat' id='m{i}'><body>hello {i}</body></message>",
        }
        for i in range(1, 6)
    ]
    dump.write_text("".join(json.dumps(r) + "\n" for r in records))
    assert "imported 5" in run("mam", "import", str(dump), "-c", str(config)).stderr
    run("mam", "import", str(dump), "-c", str(config))  # again: nothing is stored twice
    stats = run("mam", "stats", "alice@localhost", "-c", str(config)).stdout
    assert "alice@localhost" in stats and " 5 " in stats
    out = run("mam", "export", "alice@localhost", "-c", str(config)).stdout
    exported = [json.loads(line) for line in out.splitlines()]
    assert [r["stanza"] for r in exported] == [r["stanza"] for r in records]
    assert [r["when"][:10] for r in exported] == [r["when"][:10] for r in records]
    run(
        "mam",
        "delete",
        "alice@localhost",
        "--before",
        "2026-01-03T00:00:00Z",
        "--yes",
        "-c",
        str(config),
    )
    out = run("mam", "export", "alice@localhost", "-c", str(config)).stdout
    assert len(out.splitlines()) == 3
    bad = tmp_path / "bad.jsonl"
    bad.write_text("{not json\n")
    proc = run("mam", "import", str(bad), "-c", str(config), check=False)
    assert proc.returncode == 1 and "bad.jsonl:1" in proc.stderr


async def test_served_process_accepts_tls_logins(config: Path) -> None:
    """The production path (the CLI's event loop, uvloop when installed) with STARTTLS and
    direct TLS, driven by slixmpp."""
    import asyncio
    import ssl

    import slixmpp

    run("adduser", "alice@localhost", "-c", str(config), stdin="pw\n")
    text = config.read_text()
    port = int(text.split("c2s_ports = [")[1].split("]")[0])
    tls_port = int(text.split("c2s_direct_tls_ports = [")[1].split("]")[0])
    proc = subprocess.Popen(
        [*GARRULUS, "serve", "-c", str(config)], stderr=subprocess.PIPE, text=True
    )
    try:
        for _ in range(300):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                await asyncio.sleep(0.1)
        for direct in (False, True):
            xmpp = slixmpp.ClientXMPP("alice@localhost", "pw")
            xmpp.ssl_context.check_hostname = False
            xmpp.ssl_context.verify_mode = ssl.CERT_NONE
            xmpp.use_aiodns = False
            xmpp.use_ipv6 = False
            xmpp.enable_direct_tls = direct
            xmpp.enable_starttls = not direct
            started: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
            xmpp.add_event_handler(
                "session_start", lambda _e, f=started: f.done() or f.set_result(True)
            )
            xmpp.connect("127.0.0.1", tls_port if direct else port)
            assert await asyncio.wait_for(started, 15)
            xmpp.disconnect()
            await asyncio.sleep(0.1)
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert "authenticated" in err and "Traceback" not in err


def test_db_upgrade_brings_the_schema_to_head(config: Path) -> None:
    first = run("db", "upgrade", "-c", str(config)).stdout
    assert "schema empty ->" in first
    again = run("db", "upgrade", "-c", str(config)).stdout
    assert "nothing to do" in again
