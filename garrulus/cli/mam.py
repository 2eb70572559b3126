"""``garrulus mam ...``: archive administration (stats, delete, export, import, expire)."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import IO, Any
from xml.etree.ElementTree import ParseError, fromstring

import click
from tqdm import tqdm

from garrulus.cli.common import load, run_with_server, setup_logging
from garrulus.storage.api import (
    ArchiveQuery,
    ArchiveStats,
    DeleteQuery,
    Direction,
    NewArchiveItem,
)
from garrulus.xmpp.datetime import format_datetime, parse_datetime
from garrulus.xmpp.jid import JID, InvalidJID, parse_jid

CONFIG_OPTION = click.option(
    "--config",
    "-c",
    "config_path",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="TOML config file (default: the built-in config).",
)
EXPORT_PAGE = 1000
IMPORT_BATCH = 500


def _bare(text: str, what: str = "JID") -> JID:
    try:
        jid = parse_jid(text)
    except InvalidJID as exc:
        raise click.BadParameter(f"{text!r} is not a valid {what}: {exc}") from None
    if jid.resource is not None:
        raise click.BadParameter(f"{text!r}: give a bare JID (no /resource)")
    return jid


def _owner(server: Any, text: str) -> JID:
    jid = _bare(text)
    if jid.local is None or jid.domain not in server.hosts:
        raise click.ClickException(f"{text} is not a user of a host served here")
    return jid


@click.group()
def mam() -> None:
    """Administer the message archive (XEP-0313)."""


def _stats_line(s: ArchiveStats) -> str:
    oldest = format_datetime(s.oldest) if s.oldest else "-"
    newest = format_datetime(s.newest) if s.newest else "-"
    return f"{s.owner:<40} {s.count:>10} {oldest:<28} {newest:<28} {s.size_bytes:>12}"


@mam.command()
@click.argument("jid", required=False)
@CONFIG_OPTION
def stats(jid: str | None, config_path: Path | None) -> None:
    """Message counts, oldest and newest message, and stored bytes: of JID, or of every archive."""
    config = load(config_path)
    setup_logging(config, admin=True)

    async def work(server: Any) -> list[ArchiveStats]:
        owner = str(_owner(server, jid)) if jid else None
        result: list[ArchiveStats] = await server.storage.archive.stats(owner)
        return result

    rows = run_with_server(config, work)
    click.echo(f"{'archive':<40} {'messages':>10} {'oldest':<28} {'newest':<28} {'bytes':>12}")
    for row in rows:
        click.echo(_stats_line(row))
    if not jid:
        click.echo(
            f"{len(rows)} archives, {sum(r.count for r in rows)} messages, "
            f"{sum(r.size_bytes for r in rows)} bytes"
        )


@mam.command()
@click.argument("jid")
@click.option("--with", "with_jid", default=None, help="Only messages with this bare JID.")
@click.option("--before", default=None, help="Only messages older than this XEP-0082 date-time.")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@CONFIG_OPTION
def delete(
    jid: str, with_jid: str | None, before: str | None, yes: bool, config_path: Path | None
) -> None:
    """Delete messages from JID's archive (all of them, or those --with PEER / --before DATE)."""
    config = load(config_path)
    setup_logging(config, admin=True)
    cutoff: datetime | None = None
    if before is not None:
        try:
            cutoff = parse_datetime(before)
        except ValueError:
            raise click.BadParameter(
                f"{before!r} is not a date-time like 2026-01-31T00:00:00Z", param_hint="--before"
            ) from None
    peer = str(_bare(with_jid, "peer JID")) if with_jid else None
    if not yes and sys.stdin.isatty():
        click.confirm(f"Delete messages from the archive of {jid}?", abort=True)

    async def work(server: Any) -> int:
        owner = str(_owner(server, jid))
        gone: int = await server.storage.archive.delete(
            DeleteQuery(owner, with_bare=peer, before=cutoff)
        )
        if gone:
            await server.storage.archive.reclaim_space()
        return gone

    click.echo(f"deleted {run_with_server(config, work)} messages")


def _record(item: Any) -> dict[str, Any]:
    return {
        "id": item.id,
        "owner": item.owner,
        "peer": item.peer,
        "peer_resource": item.peer_resource,
        "direction": item.direction.value,
        "when": format_datetime(item.when),
        "type": item.msg_type,
        "stanza": item.stanza,
    }


@mam.command()
@click.argument("jid")
@click.option(
    "--output", "-o", type=click.File("w"), default="-", help="File to write (default stdout)."
)
@CONFIG_OPTION
def export(jid: str, output: IO[str], config_path: Path | None) -> None:
    """Write JID's archive as JSON lines, oldest first (one message per line)."""
    config = load(config_path)
    setup_logging(config, admin=True)

    async def work(server: Any) -> int:
        owner = str(_owner(server, jid))
        store = server.storage.archive
        total = sum(s.count for s in await store.stats(owner))
        written = 0
        after: str | None = None
        with tqdm(
            total=total, unit="msg", desc=f"export {owner}", file=sys.stderr, disable=None
        ) as bar:
            while True:
                page = await store.find(owner, ArchiveQuery(page_after=after, limit=EXPORT_PAGE))
                for item in page.items:
                    output.write(json.dumps(_record(item), ensure_ascii=False) + "\n")
                written += len(page.items)
                bar.update(len(page.items))
                if page.complete or not page.items:
                    return written
                after = page.items[-1].id

    count = run_with_server(config, work)
    click.echo(f"exported {count} messages", err=True)


def _items(lines: IO[str], source: str) -> Iterator[tuple[int, NewArchiveItem]]:
    from garrulus.modules.mam.archiver import dedup_key

    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
            stanza = fromstring(rec["stanza"])
            sender = parse_jid(stanza.get("from") or rec["owner"])
            direction = Direction(rec["direction"])
            item = NewArchiveItem(
                owner=str(parse_jid(rec["owner"]).bare),
                peer=str(parse_jid(rec["peer"]).bare),
                peer_resource=rec.get("peer_resource"),
                direction=direction,
                when=parse_datetime(rec["when"]),
                stanza=rec["stanza"],
                body=stanza.findtext("{jabber:client}body"),
                msg_type=rec.get("type") or stanza.get("type") or "normal",
                dedup_key=dedup_key(stanza, sender),
            )
        except (ValueError, KeyError, TypeError, ParseError, InvalidJID) as exc:
            raise click.ClickException(f"{source}:{number}: not an archive record: {exc}") from None
        yield len(line.encode()), item


@mam.command("import")
@click.argument("file", type=click.File("r"))
@CONFIG_OPTION
def import_(file: IO[str], config_path: Path | None) -> None:
    """Read JSON lines written by `garrulus mam export` into the archives they name.

    Messages already in the archive (same sender and message id) are not stored twice, so an
    interrupted import can simply be run again.
    """
    config = load(config_path)
    setup_logging(config, admin=True)
    size = Path(file.name).stat().st_size if file.name not in ("<stdin>", "-") else None

    async def work(server: Any) -> int:
        store = server.storage.archive
        batch: list[NewArchiveItem] = []
        count = 0
        with tqdm(
            total=size, unit="B", unit_scale=True, desc="import", file=sys.stderr, disable=None
        ) as bar:
            for nbytes, item in _items(file, file.name):
                domain = item.owner.rsplit("@", 1)[-1]
                if domain not in server.hosts:
                    raise click.ClickException(f"{item.owner} is not on a host served here")
                batch.append(item)
                bar.update(nbytes)
                if len(batch) >= IMPORT_BATCH:
                    count += len(await store.append_many(batch))
                    batch.clear()
            if batch:
                count += len(await store.append_many(batch))
        return count

    click.echo(f"imported {run_with_server(config, work)} messages", err=True)


@mam.command()
@CONFIG_OPTION
def expire(config_path: Path | None) -> None:
    """Remove messages older than archive_expires_after now (the server also does it regularly)."""
    from garrulus.modules.mam.expiry import expire as run_expiry

    config = load(config_path)
    setup_logging(config, admin=True)

    async def work(server: Any) -> int:
        with tqdm(unit="msg", desc="expire", file=sys.stderr, disable=None) as bar:
            deleted: int = await run_expiry(server, progress=bar.update)
        return deleted

    click.echo(f"expired {run_with_server(config, work)} messages")
