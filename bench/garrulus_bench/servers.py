"""Start, stop and describe the servers under test, each pinned with ``taskset -c CPUS``.

Garrulus runs from this checkout (``python -P -c 'garrulus.cli.main'``), or from the source tree
given with ``--garrulus-src`` (first on PYTHONPATH), with a config written here; every other
Python process that imports garrulus (the direct prefill) is started the same way
(:func:`garrulus_python`, :func:`garrulus_env`). Prosody runs through the shared
``prosody/start.sh`` / ``stop.sh`` and their config, with its state in a directory of ours. Both
are stopped by their own pid, never by name. ``cpus`` is a CPU list in taskset syntax ("1",
"0,1", "0-1"; ``--server-cpu``), passed as it is to ``taskset -c`` (Prosody: ``BENCH_CPU``).
"""

from __future__ import annotations

import hashlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

FULL_MODULES = ["disco", "ping", "register", "roster", "presence", "message", "offline", "mam"]
FALLBACK_MODULES = ["disco", "ping", "register", "mam"]
BENCH_DIR = Path(__file__).resolve().parents[1]  # holds garrulus_bench, no garrulus package


def garrulus_python(code: str, *args: str) -> list[str]:
    """``python -P -c CODE ARGS``. -P keeps the working directory off sys.path: with plain -c it
    comes first, before PYTHONPATH, and a run started from the checkout's root would import the
    checkout's ``garrulus/`` instead of the ``--garrulus-src`` tree."""
    return [sys.executable, "-P", "-c", code, *args]


def garrulus_env(src: Path | None, *extra: Path) -> dict[str, str]:
    """The environment for a Python that imports garrulus: ``src`` (when given) first on
    PYTHONPATH, so it wins over the installed (editable) package, then ``extra`` folders."""
    env = dict(os.environ)
    paths = [str(p) for p in ([src] if src is not None else [])] + [str(p) for p in extra]
    if paths:
        env["PYTHONPATH"] = os.pathsep.join([*paths, *filter(None, [env.get("PYTHONPATH")])])
    return env


def wait_for_port(
    host: str, port: int, timeout: float, alive: Callable[[], bool] = lambda: True
) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not alive():
            return False
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return True
        except OSError:
            time.sleep(0.1)
    return False


def _tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


class StartError(RuntimeError):
    pass


def source_hash(src: Path | None = None) -> str:
    """A digest of the garrulus package's sources, taken at every start: other people may
    change the checkout while a long run is going on, and the JSON then shows it."""
    if src is not None:
        root = src / "garrulus"
    else:
        import garrulus

        root = Path(garrulus.__file__).parent
    digest = hashlib.sha256()
    for path in sorted(root.rglob("*.py")):
        digest.update(str(path.relative_to(root)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


class GarrulusServer:
    name = "garrulus"

    def __init__(
        self,
        workdir: Path,
        host: str,
        port: int,
        domain: str,
        cpus: str,
        modules: list[str] | None = None,
        src: Path | None = None,
    ) -> None:
        self.workdir = workdir
        # Run Garrulus from this source tree (first on PYTHONPATH) instead of the installed one.
        self.src = src
        self.host, self.port, self.domain, self.cpus = host, port, domain, cpus
        self.modules = list(modules or FULL_MODULES)
        self.modules_note = ""
        self.config_path = workdir / "garrulus-bench.toml"
        self.log_path = workdir / "server.log"
        self.data_path = workdir / "data"
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0
        self.source_hashes: set[str] = set()

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    @property
    def db_path(self) -> Path:
        return self.data_path / "bench.sqlite"

    def config_text(self) -> str:
        mods = ", ".join(f'"{m}"' for m in self.modules)
        return (
            "# Written by bench/run.py; the benchmark's Garrulus configuration.\n"
            f'data_path = "{self.data_path}"\n'
            f"modules_enabled = [{mods}]\n"
            f'c2s_interfaces = ["{self.host}"]\n'
            f"c2s_ports = [{self.port}]\n"
            "c2s_direct_tls_ports = []\n"
            "c2s_require_encryption = false\n"
            "allow_unencrypted_plain_auth = true\n"
            "allow_registration = true\n"
            'storage = "sql"\n'
            'sql = { driver = "SQLite3", database = "bench.sqlite" }\n'
            "default_archive_policy = true\n"
            "max_archive_query_results = 50\n"
            # The query workload asks as fast as it can, far past the per-account throttle
            # (ACL-06) a client would meet; Prosody has none, so it is off for both to compare.
            "archive_query_rate = 0\n"
            'log = "warn"\n'
            f'\n[virtualhosts."{self.domain}"]\n'
        )

    def write_config(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.config_path.write_text(self.config_text())

    def _cli(self, *args: str) -> list[str]:
        return garrulus_python("from garrulus.cli.main import main; main()", *args)

    def _env(self) -> dict[str, str]:
        return garrulus_env(self.src)

    def check(self) -> dict[str, Any]:
        self.write_config()
        done = subprocess.run(
            self._cli("check", str(self.config_path)),
            capture_output=True,
            text=True,
            timeout=120,
            env=self._env(),
        )
        return {"ok": done.returncode == 0, "output": (done.stdout + done.stderr).strip()}

    def _spawn(self) -> None:
        self.write_config()
        self.source_hashes.add(source_hash(self.src))
        # taskset execs the interpreter, so the Popen pid is the server's pid.
        with open(self.log_path, "ab") as log:
            proc = self.proc = subprocess.Popen(
                [
                    "taskset",
                    "-c",
                    self.cpus,
                    *self._cli("serve", "--config", str(self.config_path)),
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=self._env(),
                cwd=self.workdir,
            )
        if not wait_for_port(self.host, self.port, 120, alive=lambda: proc.poll() is None):
            code = proc.poll()
            if code is None:
                self.stop()
            raise StartError(f"garrulus did not start (exit {code}): {_tail(self.log_path)}")
        self.starts += 1

    def start(self) -> None:
        """Start; if the full module list does not load, fall back to the core four + mam."""
        try:
            self._spawn()
        except StartError as exc:
            if self.modules == FALLBACK_MODULES or "unknown module" not in str(exc):
                raise
            missing = [m for m in self.modules if m not in FALLBACK_MODULES]
            self.modules_note = (
                f"modules {missing} failed to load ({str(exc).splitlines()[-1][:200]}); "
                f"ran with {FALLBACK_MODULES}: chat to a bare JID is then delivered by the "
                "core's fallback routing and initial presence is dropped"
            )
            self.modules = list(FALLBACK_MODULES)
            self._spawn()

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            self.proc = None
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(120)
        except subprocess.TimeoutExpired:
            self.proc.kill()  # our own child, by its pid
            self.proc.wait(10)
        self.proc = None

    def restart(self) -> None:
        self.stop()
        self.start()

    def describe(self) -> dict[str, Any]:
        import garrulus  # noqa: F401  (the checkout under test)

        version = ""
        try:
            from importlib.metadata import version as pkg_version

            version = pkg_version("garrulus")
        except Exception:
            pass
        commit = subprocess.run(
            ["git", "-C", str(Path(__file__).resolve().parents[2]), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
        ).stdout.strip()
        dirty = subprocess.run(
            [
                "git",
                "-C",
                str(Path(__file__).resolve().parents[2]),
                "status",
                "--porcelain",
                "--",
                "garrulus",
            ],
            capture_output=True,
            text=True,
        ).stdout.strip()
        if self.src is not None:
            # An exported tree is no git checkout: its COMMIT file (if any) names the commit.
            marker = self.src / "COMMIT"
            commit = marker.read_text().strip() if marker.exists() else "(source tree)"
            dirty = ""
        # How many modules of the tree under test have a built extension (mypyc, setup.py),
        # i.e. run compiled in the server.
        probe = subprocess.run(
            garrulus_python(
                "import garrulus, importlib.machinery as m, pathlib\n"
                "root = pathlib.Path(garrulus.__file__).parent\n"
                "print(sum(any(p.with_name(p.stem + s).exists() for s in m.EXTENSION_SUFFIXES)"
                " for p in root.rglob('*.py')))"
            ),
            env=self._env(),
            capture_output=True,
            text=True,
        )
        compiled = probe.stdout.strip() or f"unknown: {probe.stderr.strip()[-200:]}"
        return {
            "version": version,
            "commit": commit + ("+dirty" if dirty else ""),
            "compiled_modules": int(compiled) if compiled.isdigit() else compiled,
            "source_tree": str(self.src) if self.src else "the installed garrulus package",
            "python": sys.version.split()[0],
            "config": self.config_text(),
            "modules_enabled": self.modules,
            "modules_note": self.modules_note,
            "source_hashes_at_starts": sorted(self.source_hashes),
            "pinned_with": f"taskset -c {self.cpus}",
            "storage": "SQLite (sql, WAL, synchronous=FULL as Garrulus sets it)",
        }


class ProsodyServer:
    name = "prosody"

    def __init__(
        self,
        scripts: Path,
        run_dir: Path,
        host: str,
        port: int,
        domain: str,
        cpus: str,
        nagle: bool,
        loglevel: str = "warn",
    ) -> None:
        self.scripts = scripts
        self.run_dir = run_dir
        self.host, self.port, self.domain, self.cpus = host, port, domain, cpus
        self.nagle = nagle
        self.loglevel = loglevel
        self._pid: int | None = None
        self.starts = 0

    @staticmethod
    def available(scripts: Path) -> bool:
        return (scripts / "start.sh").exists() and any(
            (Path(d) / "prosody").exists() for d in os.environ.get("PATH", "").split(":")
        )

    @property
    def pid(self) -> int:
        assert self._pid is not None
        return self._pid

    @property
    def db_path(self) -> Path:
        return self.run_dir / "data" / "prosody.sqlite"

    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        env.update(
            {
                "BENCH_RUN": str(self.run_dir),
                "BENCH_C2S_PORT": str(self.port),
                "BENCH_DOMAIN": self.domain,
                "BENCH_CPU": self.cpus,
                "BENCH_LOGLEVEL": self.loglevel,
                "BENCH_NAGLE": "" if self.nagle else "0",
                "BENCH_TLS": "",
            }
        )
        return env

    def start(self, fresh: bool = False) -> None:
        self.run_dir.mkdir(parents=True, exist_ok=True)
        # start.sh chowns the run dir to 'prosody'; every parent must be searchable for it.
        for parent in [self.run_dir, *self.run_dir.parents]:
            if str(parent).startswith(("/tmp/", "/var/tmp/")) and parent != Path("/tmp"):
                parent.chmod(parent.stat().st_mode | 0o755)
        args = [str(self.scripts / "start.sh")] + (["--fresh"] if fresh else [])
        done = subprocess.run(args, env=self.env(), capture_output=True, text=True, timeout=60)
        if done.returncode != 0:
            raise StartError(
                f"prosody start failed: {done.stderr.strip()} {_tail(self.run_dir / 'prosody.log')}"
            )
        self._pid = int(done.stdout.strip().splitlines()[-1])
        self.starts += 1

    def stop(self) -> None:
        if self._pid is None:
            return
        subprocess.run(
            [str(self.scripts / "stop.sh")],
            env=self.env(),
            capture_output=True,
            text=True,
            timeout=60,
        )
        self._pid = None

    def restart(self) -> None:
        self.stop()
        self.start()

    def describe(self) -> dict[str, Any]:
        version = subprocess.run(
            ["dpkg-query", "-W", "-f=${Version}", "prosody"], capture_output=True, text=True
        ).stdout.strip()
        dbi = subprocess.run(
            ["dpkg-query", "-W", "-f=${Version}", "lua-dbi-sqlite3"], capture_output=True, text=True
        ).stdout.strip()
        return {
            "version": version,
            "lua_dbi_sqlite3": dbi,
            "config": str(self.scripts / "prosody.cfg.lua"),
            "env": {
                "BENCH_NAGLE": "" if self.nagle else "0",
                "BENCH_LOGLEVEL": self.loglevel,
                "BENCH_C2S_PORT": str(self.port),
                "BENCH_DOMAIN": self.domain,
                "BENCH_CPU": self.cpus,
            },
            "nagle": "on (Prosody 0.12 default)"
            if self.nagle
            else "off (network_settings.nagle = false, i.e. TCP_NODELAY, as Garrulus)",
            "storage": "SQLite (sql, mod_storage_sql defaults: rollback journal)",
        }
