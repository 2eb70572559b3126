"""Archives filled directly in a server's database (server stopped), row for row in the format
the server itself writes, when filling through the server would take too long.

The format is not guessed: :func:`capture_templates` sends two real messages through the running
server between two dedicated accounts (one each way), and the rows the server stored for them,
in both archives, become the templates; only the JIDs, message ids, keys and times change.

* Prosody 0.12 (mod_storage_sql + mod_mam): table ``prosodyarchive`` (sort_id autoincrement,
  host, user, store='archive', key=a UUID, when=integer seconds, with=the peer's bare JID,
  type='xml', value=the stanza as Prosody serialises it); both the sender's and the recipient's
  copy, as mod_mam stores them. Inserted in time order in one transaction.
* Garrulus: through its own storage API (``SqlArchiveStore.append_many``) with historic
  timestamps, so ids, indexes and ``archive_owner_stats`` are exactly what the server keeps.
  This runs in a child Python started like the server (:func:`garrulus_prefill`): it imports
  garrulus from ``--garrulus-src`` when given (else the installed package), so the storage code
  and the migrations that open the database are those of the server that then serves it. The
  fill's record names that source (``garrulus_source``: path, digest, schema revision).

Messages follow the same pattern as the through-the-server fill: message i is on contact
i % C's lane; on each lane blocks of 25 alternate between contact->owner and owner->contact.
Times are evenly spread at ``rate`` messages per second, ending two minutes before now.
"""

from __future__ import annotations

import asyncio
import json
import os
import pwd
import sqlite3
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from garrulus_bench.client import logged_in
from garrulus_bench.servers import BENCH_DIR, garrulus_env, garrulus_python, source_hash
from garrulus_bench.workloads import Target, chat_body
from garrulus_bench.xml_stream import Node

TPL_OWNER, TPL_CONTACT = "tplowner", "tplcontact"
TPL_IN, TPL_OUT = "tplmsgin", "tplmsgout"  # message ids: contact->owner and owner->contact
BLOCK = 25


async def capture_templates(t: Target, body_size: int) -> None:
    """Exchange one message each way between the template accounts (already registered)."""
    owner = await logged_in(
        t.host, t.port, t.domain, TPL_OWNER, t.password, mech=t.mech, resource="fill", presence=True
    )
    contact = await logged_in(
        t.host,
        t.port,
        t.domain,
        TPL_CONTACT,
        t.password,
        mech=t.mech,
        resource="fill",
        presence=True,
    )
    got: list[str] = []
    done: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def on_message(node: Node) -> None:
        got.append(node.attrs.get("id", ""))
        if len(got) == 2 and not done.done():
            done.set_result(None)

    owner.on_message = contact.on_message = on_message
    body = chat_body(body_size, "prefill")
    contact.send(
        f"<message type='chat' to='{t.bare(TPL_OWNER)}' id='{TPL_IN}'><body>{body}</body></message>"
    )
    owner.send(
        f"<message type='chat' to='{t.bare(TPL_CONTACT)}' id='{TPL_OUT}'>"
        f"<body>{body}</body></message>"
    )
    await asyncio.wait_for(done, 30)
    await owner.ping()
    await contact.ping()
    owner.close()
    contact.close()


def _plan(n: int, contacts: int) -> Iterator[tuple[int, int, bool]]:
    """(index, lane, inbound?) for every message."""
    for i in range(n):
        lane = i % contacts
        yield i, lane, ((i // contacts) // BLOCK) % 2 == 0


def _subst(text: str, owner: str, contact: str, msg_id: str, tpl_id: str) -> str:
    return (
        text.replace(TPL_OWNER + "@", owner + "@")
        .replace(TPL_CONTACT + "@", contact + "@")
        .replace(tpl_id, msg_id)
    )


# ------------------------------------------------------------------------------ Prosody


def prosody_prefill(
    db_path: Path, domain: str, owner: str, contacts: list[str], n: int, rate: float
) -> dict[str, Any]:
    t_start = time.perf_counter()
    con = sqlite3.connect(db_path, isolation_level=None)
    con.execute("PRAGMA cache_size = -1000000")
    rows = con.execute(
        'SELECT "user", "with", "type", "value" FROM "prosodyarchive" WHERE "host" = ? AND '
        '"user" IN (?, ?) ORDER BY "sort_id"',
        (domain, TPL_OWNER, TPL_CONTACT),
    ).fetchall()
    tpl: dict[tuple[str, str], tuple[str, str]] = {}
    for user, _with, typ, value in rows:
        kind = TPL_IN if TPL_IN in value else TPL_OUT
        tpl[(kind, user)] = (typ, value)
    if len(tpl) != 4:
        raise RuntimeError(f"prosody template rows not found (got {sorted(tpl)})")
    owner_jid = f"{owner}@{domain}"
    end = int(time.time()) - 120
    begin = end - n / rate
    insert = (
        'INSERT INTO "prosodyarchive" ("host", "user", "store", "when", "with", "key", '
        '"type", "value") VALUES (?, ?, ?, ?, ?, ?, ?, ?)'
    )

    def gen() -> Iterator[tuple[str, str, str, int, str, str, str, str]]:
        for i, lane, inbound in _plan(n, len(contacts)):
            contact = contacts[lane]
            when = int(begin + i / rate)
            kind = TPL_IN if inbound else TPL_OUT
            msg_id = f"pf{i}"
            typ, value = tpl[(kind, TPL_OWNER)]
            yield (
                domain,
                owner,
                "archive",
                when,
                f"{contact}@{domain}",
                str(uuid.uuid4()),
                typ,
                _subst(value, owner, contact, msg_id, kind),
            )
            typ, value = tpl[(kind, TPL_CONTACT)]
            yield (
                domain,
                contact,
                "archive",
                when,
                owner_jid,
                str(uuid.uuid4()),
                typ,
                _subst(value, owner, contact, msg_id, kind),
            )

    con.execute("BEGIN")
    con.executemany(insert, gen())
    con.execute("COMMIT")
    count = con.execute(
        'SELECT COUNT(*) FROM "prosodyarchive" WHERE "host" = ? AND "user" = ? AND "store" = ?',
        (domain, owner, "archive"),
    ).fetchone()[0]
    con.close()
    pw = pwd.getpwnam("prosody")
    for path in db_path.parent.iterdir():
        os.chown(path, pw.pw_uid, pw.pw_gid)
    seconds = time.perf_counter() - t_start
    return {
        "method": "direct (bulk insert into prosodyarchive, Prosody stopped)",
        "owner": owner,
        "messages": n,
        "rows_inserted": 2 * n,
        "owner_rows_after": count,
        "seconds": round(seconds, 1),
        "rows_per_s": round(2 * n / seconds),
        "timestamps": {
            "from": datetime.fromtimestamp(begin, UTC).isoformat(),
            "to": datetime.fromtimestamp(end, UTC).isoformat(),
            "msgs_per_s_of_timeline": rate,
        },
        "template_value_example": tpl[(TPL_IN, TPL_OWNER)][1],
    }


# ------------------------------------------------------------------------------ Garrulus


def garrulus_prefill(
    db_path: Path,
    domain: str,
    owner: str,
    contacts: list[str],
    n: int,
    rate: float,
    *,
    src: Path | None = None,
    cwd: Path | None = None,
    timeout: float = 4 * 3600,
) -> dict[str, Any]:
    """Fill ``owner``'s archive directly (server stopped), in a child Python that imports
    garrulus from ``src`` (first on PYTHONPATH, as :class:`GarrulusServer` runs it) or, without
    ``src``, from the installed package; never from this process's garrulus. Blocking: call it
    from a thread. Raises RuntimeError when the child fails or imported another garrulus."""
    cwd = cwd or db_path.parent
    request = {
        "db_path": str(db_path),
        "domain": domain,
        "owner": owner,
        "contacts": contacts,
        "n": n,
        "rate": rate,
    }
    fd, result_name = tempfile.mkstemp(prefix=f"prefill-{owner}-", suffix=".json", dir=cwd)
    os.close(fd)
    result_path = Path(result_name)
    try:
        done = subprocess.run(
            garrulus_python(
                "from garrulus_bench.prefill import _prefill_child; _prefill_child()",
                json.dumps(request),
                str(result_path),
            ),
            env=garrulus_env(src, BENCH_DIR),
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if done.returncode != 0:
            tail = "\n".join((done.stdout + done.stderr).strip().splitlines()[-30:])
            raise RuntimeError(f"garrulus prefill failed (exit {done.returncode}):\n{tail}")
        result: dict[str, Any] = json.loads(result_path.read_text())
    finally:
        result_path.unlink(missing_ok=True)
    used = result["garrulus_source"]
    if src is not None and Path(used["imported_from"]) != (src / "garrulus").resolve():
        raise RuntimeError(
            f"garrulus prefill imported {used['imported_from']}, not --garrulus-src {src}"
        )
    used["source_tree"] = str(src) if src is not None else "the installed garrulus package"
    used["schema_revision_after"] = _schema_revision(db_path)
    return result


def _schema_revision(db_path: Path) -> str | None:
    """The Alembic revision the database is at (None without one)."""
    con = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
    try:
        row = con.execute("SELECT version_num FROM alembic_version").fetchone()
    except sqlite3.Error:
        row = None
    finally:
        con.close()
    return None if row is None else str(row[0])


def _prefill_child() -> None:
    """The child of :func:`garrulus_prefill`: argv = request JSON, result file."""
    request = json.loads(sys.argv[1])
    import garrulus

    package = Path(garrulus.__file__).resolve().parent
    used: dict[str, Any] = {"imported_from": str(package), "source_hash": source_hash()}
    try:
        from garrulus.storage.migrate import head_revision

        used["schema_head"] = head_revision()
    except ImportError:  # a source tree from before migrations
        pass
    result = asyncio.run(
        garrulus_prefill_in_process(
            Path(request["db_path"]),
            request["domain"],
            request["owner"],
            request["contacts"],
            request["n"],
            request["rate"],
        )
    )
    result["garrulus_source"] = used
    Path(sys.argv[2]).write_text(json.dumps(result))


async def garrulus_prefill_in_process(
    db_path: Path, domain: str, owner: str, contacts: list[str], n: int, rate: float
) -> dict[str, Any]:
    """The fill itself, with whatever garrulus this process imports: the bench calls it only
    through :func:`garrulus_prefill`, which makes that the server's own source."""
    from garrulus.storage.api import Direction, NewArchiveItem
    from garrulus.storage.manager import open_storage

    t_start = time.perf_counter()
    # Opened first: the database is created/migrated by this garrulus's own migrations (a no-op
    # when the server, from the same source, already did) before any row is read or written.
    stores = await open_storage({}, f"sqlite:///{db_path}")
    try:
        archive = stores.archive
        cols = (
            "owner",
            "peer",
            "peer_resource",
            "direction",
            "msg_type",
            "stanza",
            "body",
            "dedup_key",
        )
        con = sqlite3.connect(db_path)
        try:
            rows = con.execute(
                f"SELECT {', '.join(cols)} FROM archive WHERE owner IN (?, ?) ORDER BY id",
                (f"{TPL_OWNER}@{domain}", f"{TPL_CONTACT}@{domain}"),
            ).fetchall()
        finally:
            con.close()
        tpl: dict[tuple[str, str], dict[str, Any]] = {}
        for row in rows:
            r = dict(zip(cols, row, strict=True))
            kind = TPL_IN if TPL_IN in r["stanza"] else TPL_OUT
            tpl[(kind, r["owner"].split("@")[0])] = r
        if len(tpl) != 4:
            raise RuntimeError(f"garrulus template rows not found (got {sorted(tpl)})")
        end = datetime.now(UTC) - timedelta(seconds=120)
        begin = end - timedelta(seconds=n / rate)

        def item(
            r: dict[str, Any], contact: str, msg_id: str, kind: str, when: datetime
        ) -> NewArchiveItem:
            def s(v: str) -> str:
                return _subst(v, owner, contact, msg_id, kind)

            return NewArchiveItem(
                owner=s(r["owner"]),
                peer=s(r["peer"]),
                peer_resource=r["peer_resource"],
                direction=Direction(r["direction"]),
                when=when,
                stanza=s(r["stanza"]),
                body=r["body"],
                msg_type=r["msg_type"],
                dedup_key=None if r["dedup_key"] is None else s(r["dedup_key"]),
            )

        batch: list[NewArchiveItem] = []
        for i, lane, inbound in _plan(n, len(contacts)):
            contact = contacts[lane]
            kind = TPL_IN if inbound else TPL_OUT
            when = begin + timedelta(seconds=i / rate)
            msg_id = f"pf{i}"
            batch.append(item(tpl[(kind, TPL_OWNER)], contact, msg_id, kind, when))
            batch.append(item(tpl[(kind, TPL_CONTACT)], contact, msg_id, kind, when))
            if len(batch) >= 20000:
                await archive.append_many(batch)
                batch = []
        if batch:
            await archive.append_many(batch)
    finally:
        await stores.close()
    seconds = time.perf_counter() - t_start
    return {
        "method": "direct (Garrulus storage API append_many, server stopped)",
        "owner": owner,
        "messages": n,
        "rows_inserted": 2 * n,
        "seconds": round(seconds, 1),
        "rows_per_s": round(2 * n / seconds),
        "timestamps": {
            "from": begin.isoformat(),
            "to": end.isoformat(),
            "msgs_per_s_of_timeline": rate,
        },
    }
