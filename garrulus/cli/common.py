"""What every subcommand shares: loading the config, logging, running a server briefly."""

from __future__ import annotations

import asyncio
import logging
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from garrulus.core.config import Config, ConfigError, load_config
from garrulus.core.core_options import CORE_OPTIONS
from garrulus.core.module_api import ModuleError
from garrulus.core.modules import known_option_sets

T = TypeVar("T")


def load(path: Path | None) -> Config:
    """Load and validate the config, or exit 2 with every error listed."""
    try:
        extra = _extra_modules(path)
        sets = {"core": CORE_OPTIONS, **known_option_sets(extra)}
        return load_config(path, sets)
    except ConfigError as exc:
        click.echo(str(exc), err=True)
        raise SystemExit(2) from None
    except ModuleError as exc:
        click.echo(f"{path}: {exc}", err=True)
        raise SystemExit(2) from None


def _extra_modules(path: Path | None) -> list[str]:
    """Third-party modules (dotted names) named in modules_enabled, so their options count."""
    if path is None or not path.exists():
        return []
    import tomllib

    try:
        raw = tomllib.loads(path.read_text())
    except (tomllib.TOMLDecodeError, UnicodeDecodeError, OSError):
        return []  # load_config reports it properly
    names: list[str] = []
    tables: list[Any] = [raw, *((raw.get("virtualhosts") or {}).values())]
    for table in tables:
        mods = table.get("modules_enabled") if isinstance(table, dict) else None
        if isinstance(mods, list):
            names += [m for m in mods if isinstance(m, str) and "." in m]
    return names


def setup_logging(config: Config, verbose: bool = False, *, admin: bool = False) -> None:
    """Logging as configured; admin commands print only warnings unless asked (their own
    output is the answer), and schema migrations say only what they change."""
    level_name, log_file = config.log_settings()
    name = {"warn": "WARNING"}.get(level_name, level_name.upper())
    level = logging.DEBUG if verbose else getattr(logging, name, logging.INFO)
    if admin and not verbose:
        level = max(level, logging.WARNING)
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stderr)]
    if log_file is not None:
        Path(log_file).parent.mkdir(parents=True, exist_ok=True)
        handlers.append(logging.FileHandler(log_file))
    logging.basicConfig(
        level=level,
        format="%(asctime)s %(levelname)-7s %(name)s: %(message)s",
        handlers=handlers,
        force=True,
    )
    logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)


def run_loop(main: Awaitable[T]) -> T:
    """Run the server's event loop: uvloop when installed (faster sockets), else asyncio's."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(main)  # type: ignore[arg-type]
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(main)  # type: ignore[arg-type]


def run_with_server(config: Config, work: Callable[[Any], Awaitable[T]]) -> T:
    """Start the server without listeners (storage and modules only), run ``work``, stop."""
    from garrulus.core.server import Server

    async def main() -> T:
        server = Server(config)
        await server.start(listen=False)
        try:
            return await work(server)
        finally:
            await server.stop()

    return asyncio.run(main())


def read_password(confirm: bool = True) -> str:
    """From a prompt on a terminal, or the first line of standard input; never from argv."""
    if sys.stdin.isatty():
        value: str = click.prompt("Password", hide_input=True, confirmation_prompt=confirm)
        return value
    line = sys.stdin.readline()
    password = line.rstrip("\r\n")
    if not password:
        raise click.ClickException("no password on standard input")
    return password
