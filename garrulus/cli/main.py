"""The ``garrulus`` command line: run the server and administer it."""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import click

from garrulus import __version__
from garrulus.cli.common import load, read_password, run_loop, run_with_server, setup_logging
from garrulus.core.config import Config

CONFIG_OPTION = click.option(
    "--config",
    "-c",
    "config_path",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="TOML config file (default: the built-in config serving localhost).",
)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="garrulus")
def main() -> None:
    """Garrulus: an XMPP server whose heart is the message archive (XEP-0313)."""


@main.command()
@CONFIG_OPTION
@click.option("--verbose", "-v", is_flag=True, help="Log at debug level.")
def serve(config_path: Path | None, verbose: bool) -> None:
    """Run the server until SIGTERM or Ctrl-C."""
    config = load(config_path)
    setup_logging(config, verbose)
    from garrulus.core.gc_tuning import tune_for_serving
    from garrulus.core.server import Server, StartupError

    async def run() -> int:
        server = Server(config)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        try:
            await server.start()
        except StartupError as exc:
            logging.getLogger("garrulus").error("cannot start: %s", exc)
            await server.stop()
            return 1
        tune_for_serving()
        await stop.wait()
        await server.stop()
        return 0

    sys.exit(run_loop(run()))


@main.command()
@click.argument("config_path", required=False, type=click.Path(path_type=Path, dir_okay=False))
def check(config_path: Path | None) -> None:
    """Validate a config file without starting anything (exit 0 when it is good)."""
    config = load(config_path)
    where = config_path or "the built-in config"
    click.echo(f"{where}: OK (hosts: {', '.join(config.hosts)})")


def _account_action(config: Config, action: Callable[[Any], Awaitable[Any]]) -> Any:
    """Run one account change with storage and modules up; its refusal is the exit message."""
    from garrulus.core.accounts import AccountError

    setup_logging(config, admin=True)
    try:
        return run_with_server(config, action)
    except AccountError as exc:
        raise click.ClickException(str(exc)) from None


@main.command()
@click.argument("jid")
@CONFIG_OPTION
def adduser(jid: str, config_path: Path | None) -> None:
    """Create the account JID (user@host); the password is prompted or read from stdin."""
    config = load(config_path)  # a bad config is reported before the password is asked for
    password = read_password()
    made = _account_action(config, lambda server: server.accounts.create(jid, password))
    click.echo(f"created {made}")


@main.command()
@click.argument("jid")
@CONFIG_OPTION
def passwd(jid: str, config_path: Path | None) -> None:
    """Change the password of JID; the new one is prompted or read from stdin."""
    config = load(config_path)
    password = read_password()
    changed = _account_action(config, lambda server: server.accounts.set_password(jid, password))
    click.echo(f"password of {changed} changed")


@main.command()
@click.argument("jid")
@CONFIG_OPTION
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
def deluser(jid: str, config_path: Path | None, yes: bool) -> None:
    """Delete the account JID and every piece of its data (roster, archive, offline ...)."""
    config = load(config_path)
    if not yes and sys.stdin.isatty():
        click.confirm(f"Delete {jid} and all of its data?", abort=True)
    gone = _account_action(config, lambda server: server.accounts.delete(jid))
    click.echo(f"deleted {gone} and its data")


@main.group()
def db() -> None:
    """Database schema administration."""


@db.command("upgrade")
@CONFIG_OPTION
def db_upgrade(config_path: Path | None) -> None:
    """Bring the SQL database schema up to this version (also done at every start)."""
    from garrulus.storage.migrate import current_revision, upgrade_database

    config = load(config_path)
    setup_logging(config, admin=True)
    url = config.sql_url()
    before = current_revision(url)
    upgrade_database(url)
    after = current_revision(url)
    click.echo(
        f"schema {before or 'empty'} -> {after}"
        if before != after
        else f"schema at {after}, nothing to do"
    )


def _register_subgroups() -> None:
    from garrulus.cli.mam import mam

    main.add_command(mam)


_register_subgroups()

if __name__ == "__main__":
    main()
