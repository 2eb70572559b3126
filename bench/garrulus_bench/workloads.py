"""The workloads, each against whatever server a :class:`Target` points at.

* ``register_accounts``: XEP-0077 in-band registration (both servers allow it on loopback).
* ``memory``: RSS idle, then with N idle authenticated sessions that sent initial presence.
* ``throughput``: P sender/receiver pairs, each sender keeps at most W chat messages undelivered;
  delivered msg/s, server CPU per message, and the archives' MAM counts before/after.
* ``fill``: an owner exchanges messages with C contacts through the server (both directions).
* ``queries``: MAM latency per query type, one query in flight, warm-up first.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import random
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from garrulus_bench.client import (
    NS_MAM_EXTENDED,
    Client,
    MamPage,
    StanzaErrorReply,
    connect,
    logged_in,
    x,
)
from garrulus_bench.procstat import CpuWindow, cpu_seconds, status_kb
from garrulus_bench.stats import latency_summary


@dataclass
class Target:
    host: str
    port: int
    domain: str
    password: str
    mech: str
    pid: int

    def bare(self, user: str) -> str:
        return f"{user}@{self.domain}"


def progress(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def chat_body(size: int, tag: str) -> str:
    text = f"bench {tag} "
    filler = "Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor. "
    while len(text) < size:
        text += filler
    return x(text[:size])


async def login_many(
    t: Target, names: list[str], *, presence: bool, concurrency: int = 50, resource: str = "bench"
) -> list[Client]:
    sem = asyncio.Semaphore(concurrency)

    async def one(name: str) -> Client:
        async with sem:
            return await logged_in(
                t.host,
                t.port,
                t.domain,
                name,
                t.password,
                mech=t.mech,
                resource=resource,
                presence=presence,
            )

    results = await asyncio.gather(*(one(n) for n in names), return_exceptions=True)
    errors = [r for r in results if isinstance(r, BaseException)]
    if errors:
        for r in results:
            if isinstance(r, Client):
                r.close()
        raise RuntimeError(f"{len(errors)} of {len(names)} logins failed, first: {errors[0]!r}")
    return list(results)  # type: ignore[arg-type]


def close_all(clients: list[Client]) -> None:
    for c in clients:
        c.close()


# ------------------------------------------------------------------------------ accounts


async def register_accounts(t: Target, names: list[str], concurrency: int = 20) -> dict[str, Any]:
    sem = asyncio.Semaphore(concurrency)
    outcome: dict[str, int] = {}

    async def one(name: str) -> None:
        async with sem:
            try:
                client = await connect(t.host, t.port, t.domain)
                try:
                    result = await client.register(name, t.password)
                finally:
                    client.close()
            except Exception as exc:  # counted, and the run stops below if any failed
                result = f"failed:{type(exc).__name__}"
            outcome[result] = outcome.get(result, 0) + 1

    t0 = time.perf_counter()
    with CpuWindow(t.pid) as cpu:
        await asyncio.gather(*(one(n) for n in names))
    ok = outcome.get("created", 0) + outcome.get("conflict", 0)
    if ok != len(names):
        raise RuntimeError(f"registration failed: {outcome}")
    return {
        "accounts": len(names),
        "outcome": outcome,
        "seconds": round(time.perf_counter() - t0, 2),
        "server_cpu_ms_per_account": round(1000 * cpu.result["server_cpu_s"] / len(names), 2),
    }


# ------------------------------------------------------------------------------ memory


async def memory(t: Target, names: list[str], settle: float = 3.0) -> dict[str, Any]:
    await asyncio.sleep(settle)
    idle = status_kb(t.pid)
    t0 = time.perf_counter()
    with CpuWindow(t.pid) as cpu:
        clients = await login_many(t, names, presence=True)
    opened = time.perf_counter() - t0
    # Every session's presence is processed once a ping behind it on the same stream returns.
    await asyncio.gather(*(c.ping() for c in clients))
    await asyncio.sleep(settle)
    loaded = status_kb(t.pid)
    alive = sum(1 for c in clients if not c.closed)
    close_all(clients)
    await asyncio.sleep(settle)
    after = status_kb(t.pid)
    delta = loaded["VmRSS"] - idle["VmRSS"]
    n = len(names)
    return {
        "sessions": n,
        "sessions_alive": alive,
        "presence_sent": True,
        "rss_idle_kb": idle["VmRSS"],
        "rss_with_sessions_kb": loaded["VmRSS"],
        "rss_after_close_kb": after["VmRSS"],
        "rss_delta_kb": delta,
        "per_session_kb": round(delta / n, 2),
        "open_s": round(opened, 2),
        "server_cpu_ms_per_login": round(1000 * cpu.result["server_cpu_s"] / n, 3),
        "status_idle": idle,
        "status_with_sessions": loaded,
        "cpu_during_logins": cpu.result,
    }


# ------------------------------------------------------------------------------ throughput


async def throughput(
    t: Target,
    senders: list[str],
    receivers: list[str],
    *,
    per_sender: int,
    window: int,
    body_size: int,
    verify_pairs: int,
    timeout: float,
    settle: float = 1.0,
) -> dict[str, Any]:
    pairs = len(senders)
    t_login = time.perf_counter()
    clients = await login_many(t, senders + receivers, presence=True)
    t_login = time.perf_counter() - t_login
    out_c, in_c = clients[:pairs], clients[pairs:]
    await asyncio.gather(*(c.ping() for c in clients))
    checked = sorted(
        {round(i * (pairs - 1) / max(1, verify_pairs - 1)) for i in range(verify_pairs)}
    )
    before = {}
    for i in checked:
        before[senders[i]] = await out_c[i].archive_count()
        before[receivers[i]] = await in_c[i].archive_count()

    tag = f"tp{random.getrandbits(32):08x}"
    body = chat_body(body_size, tag)
    tail = f"'><body>{body}</body></message>"
    heads = [f"<message type='chat' to='{x(t.bare(r))}' id='{tag}-" for r in receivers]
    sent = [0] * pairs
    got = [0] * pairs
    counters = {"delivered": 0, "pairs_done": 0, "errors": 0, "foreign": 0}
    finished = asyncio.get_running_loop().create_future()
    prefix = tag + "-"

    def send(i: int, n: int) -> None:
        first = sent[i]
        head = heads[i]
        out_c[i].send_bytes("".join(f"{head}{k}{tail}" for k in range(first, first + n)).encode())
        sent[i] = first + n

    def receiver(i: int):
        def on_message(node) -> None:
            if node.attrs.get("type") == "error":
                counters["errors"] += 1
                return
            if not node.attrs.get("id", "").startswith(prefix):
                counters["foreign"] += 1
                return
            got[i] += 1
            counters["delivered"] += 1
            room = min(per_sender - sent[i], window - (sent[i] - got[i]))
            if room > 0:
                send(i, room)
            if got[i] == per_sender:
                counters["pairs_done"] += 1
                if counters["pairs_done"] == pairs and not finished.done():
                    finished.set_result(time.perf_counter())

        return on_message

    def sender_got(node) -> None:
        counters["errors"] += 1  # senders receive nothing but bounces

    for i in range(pairs):
        in_c[i].on_message = receiver(i)
        out_c[i].on_message = sender_got
    per_second: list[int] = []

    async def tick() -> None:
        last = 0
        while True:
            await asyncio.sleep(1.0)
            per_second.append(counters["delivered"] - last)
            last = counters["delivered"]

    with CpuWindow(t.pid) as cpu:
        t0 = time.perf_counter()
        for i in range(pairs):
            send(i, min(window, per_sender))
        ticker = asyncio.ensure_future(tick())
        timed_out = False
        try:
            t_end = await asyncio.wait_for(finished, timeout)
        except TimeoutError:
            timed_out = True
            t_end = time.perf_counter()
        ticker.cancel()
    elapsed = t_end - t0
    delivered = counters["delivered"]
    await asyncio.sleep(settle)
    verify = []
    for i in checked:
        for name, client, expected in (
            (senders[i], out_c[i], sent[i]),
            (receivers[i], in_c[i], got[i]),
        ):
            after = await client.archive_count()
            delta = None if after is None or before[name] is None else after - before[name]
            verify.append(
                {
                    "user": name,
                    "before": before[name],
                    "after": after,
                    "grew_by": delta,
                    "expected": expected,
                }
            )
    close_all(clients)
    server_cpu = cpu.result.get("server_cpu_s")
    return {
        "pairs": pairs,
        "sessions": 2 * pairs,
        "messages_per_sender": per_sender,
        "window": window,
        "body_bytes": body_size,
        "login_s": round(t_login, 2),
        "sent": sum(sent),
        "delivered": delivered,
        "timed_out": timed_out,
        "elapsed_s": round(elapsed, 3),
        "msgs_per_s": round(delivered / elapsed, 1) if elapsed else None,
        "server_cpu_us_per_msg": round(1e6 * server_cpu / delivered, 1) if delivered else None,
        "error_stanzas": counters["errors"],
        "foreign_messages": counters["foreign"],
        "per_second_delivered": per_second,
        "cpu": cpu.result,
        "archive_check": verify,
        "archive_ok": all(v["grew_by"] == v["expected"] for v in verify),
    }


# ------------------------------------------------------------------------------ fill


async def fill(
    t: Target,
    owner: str,
    contacts: list[str],
    total: int,
    *,
    lane_window: int,
    body_size: int,
    owner_resources: int = 10,
    block: int = 25,
) -> dict[str, Any]:
    """Bring ``owner``'s archive to ``total`` messages, exchanged with the contacts through the
    server: on each contact's lane, blocks of ``block`` messages alternate direction.

    The owner is online with ``owner_resources`` resources (devices); lane i talks to resource
    i % R (contacts address that full JID, the owner sends from it), so the owner's half of the
    traffic is not funnelled through one stream."""
    owners_c = [
        await logged_in(
            t.host,
            t.port,
            t.domain,
            owner,
            t.password,
            mech=t.mech,
            resource=f"fill{r}",
            presence=True,
        )
        for r in range(owner_resources)
    ]
    lanes_c = await login_many(t, contacts, presence=True, resource="fill")
    await asyncio.gather(*(c.ping() for c in [*owners_c, *lanes_c]))
    owner_c = owners_c[0]
    existing = await owner_c.archive_count() or 0
    todo = max(0, total - existing)
    n_lanes = len(contacts)
    quota = [todo // n_lanes + (1 if i < todo % n_lanes else 0) for i in range(n_lanes)]
    sent = [0] * n_lanes
    done_n = [0] * n_lanes
    tag = f"f{random.getrandbits(32):08x}"
    body = chat_body(body_size, tag)
    tail = f"'><body>{body}</body></message>"
    to_owner = [
        f"<message type='chat' to='{x(owners_c[r].jid or t.bare(owner))}' id='{tag}-"
        for r in range(owner_resources)
    ]
    lane_owner = [owners_c[i % owner_resources] for i in range(n_lanes)]
    to_contact = [f"<message type='chat' to='{x(t.bare(c))}' id='{tag}-" for c in contacts]
    st = {"delivered": 0, "errors": 0, "foreign": 0}
    finished = asyncio.get_running_loop().create_future()
    prefix = tag + "-"

    def pump(lane: int) -> None:
        first, last = sent[lane], min(quota[lane], done_n[lane] + lane_window)
        if last <= first:
            return
        inbound, outbound = [], []
        for k in range(first, last):
            if (k // block) % 2 == 0:
                inbound.append(f"{to_owner[lane % owner_resources]}{lane}-{k}{tail}")
            else:
                outbound.append(f"{to_contact[lane]}{lane}-{k}{tail}")
        sent[lane] = last
        if inbound:
            lanes_c[lane].send_bytes("".join(inbound).encode())
        if outbound:
            lane_owner[lane].send_bytes("".join(outbound).encode())

    def on_message(node) -> None:
        if node.attrs.get("type") == "error":
            st["errors"] += 1
            return
        mid = node.attrs.get("id", "")
        if not mid.startswith(prefix):
            st["foreign"] += 1
            return
        lane = int(mid.split("-", 2)[1])
        done_n[lane] += 1
        st["delivered"] += 1
        if sent[lane] - done_n[lane] <= lane_window // 2:
            pump(lane)
        if st["delivered"] >= todo and not finished.done():
            finished.set_result(time.perf_counter())

    for c in [*owners_c, *lanes_c]:
        c.on_message = on_message
    marks: list[tuple[float, int]] = []

    async def tick() -> None:
        while True:
            await asyncio.sleep(1.0)
            marks.append((time.perf_counter() - t0, st["delivered"]))
            if len(marks) % 30 == 0:
                progress(f"fill {owner}: {st['delivered']}/{todo}")

    rss0 = status_kb(t.pid)
    with CpuWindow(t.pid) as cpu:
        t0 = time.perf_counter()
        ticker = asyncio.ensure_future(tick())
        if todo:
            for lane in range(n_lanes):
                pump(lane)
            t_end = await finished
        else:
            t_end = time.perf_counter()
        ticker.cancel()
    elapsed = t_end - t0
    await asyncio.sleep(1.0)
    count_after = await owner_c.archive_count()
    close_all([*owners_c, *lanes_c])
    # the rate over each tenth of the fill: does it slow down as the archive grows?
    segments = []
    if todo and marks:
        points = [(0.0, 0), *marks, (elapsed, st["delivered"])]
        step, nxt, last_t, last_n = max(1, todo // 10), max(1, todo // 10), 0.0, 0
        for tm, n in points:
            if n >= nxt or (tm, n) == points[-1]:
                if tm > last_t and n > last_n:
                    segments.append(
                        {
                            "up_to": existing + n,
                            "msgs_per_s": round((n - last_n) / (tm - last_t), 1),
                        }
                    )
                last_t, last_n = tm, n
                while nxt <= n:
                    nxt += step
    server_cpu = cpu.result.get("server_cpu_s")
    return {
        "method": "through the server",
        "owner": owner,
        "contacts": n_lanes,
        "owner_resources": owner_resources,
        "lane_window": lane_window,
        "existing_before": existing,
        "sent": todo,
        "delivered": st["delivered"],
        "elapsed_s": round(elapsed, 2),
        "msgs_per_s": round(st["delivered"] / elapsed, 1) if elapsed and todo else None,
        "server_cpu_us_per_msg": round(1e6 * server_cpu / todo, 1) if todo else None,
        "segments": segments,
        "count_after": count_after,
        "count_expected": existing + st["delivered"],
        "count_ok": count_after == existing + st["delivered"],
        "errors": st["errors"],
        "rss_before_kb": rss0["VmRSS"],
        "rss_after_kb": status_kb(t.pid)["VmRSS"],
        "cpu": cpu.result,
    }


# ------------------------------------------------------------------------------ queries


def parse_stamp(stamp: str) -> datetime:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00"))


def fmt_stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


async def time_window(c: Client, total: int, fraction: float) -> tuple[dict[str, str], dict]:
    """start/end covering ``fraction`` of the archive from its middle, found by bisecting
    (1 ms resolution) on the counts of ``end``-bounded queries."""
    oldest = await c.mam(max_items=1)
    newest = await c.mam(max_items=1, before=True)
    t_lo = parse_stamp(oldest.stamps[0]) - timedelta(seconds=1)
    t_hi = parse_stamp(newest.stamps[-1]) + timedelta(seconds=1)

    async def first_reaching(n: int) -> datetime:
        lo, hi = int(t_lo.timestamp() * 1000), int(t_hi.timestamp() * 1000)
        while hi - lo > 1:
            mid = (lo + hi) // 2
            upto = datetime.fromtimestamp(mid / 1000, UTC)
            count = (await c.mam({"end": fmt_stamp(upto)}, max_items=0)).count or 0
            if count >= n:
                hi = mid
            else:
                lo = mid
        return datetime.fromtimestamp(hi / 1000, UTC)

    start = await first_reaching(int(total * 0.5))
    end = await first_reaching(int(total * (0.5 + fraction)))
    if end <= start:
        end = start + timedelta(milliseconds=1)
    fields = {"start": fmt_stamp(start), "end": fmt_stamp(end - timedelta(milliseconds=1))}
    count = (await c.mam(fields, max_items=0)).count
    info = {
        "fields": fields,
        "count": count,
        "fraction": round(count / total, 4) if count is not None and total else None,
        "archive_oldest": oldest.stamps[0],
        "archive_newest": newest.stamps[-1],
    }
    return fields, info


async def queries(
    t: Target,
    owner: str,
    contacts: list[str],
    *,
    repeats: int,
    warmup: int,
    page: int,
    walk_pages: int,
    window_fraction: float = 0.01,
    sparse_repeats: int | None = None,
) -> dict[str, Any]:
    c = await logged_in(t.host, t.port, t.domain, owner, t.password, mech=t.mech, resource="q")
    features = await c.disco_features(t.bare(owner))
    extended = NS_MAM_EXTENDED in features
    total = await c.archive_count() or 0
    w_fields, w_info = await time_window(c, total, window_fraction)
    w_page = await c.mam(w_fields, max_items=page)
    mid_id = w_page.ids[0] if w_page.ids else None
    contact_jids = [t.bare(n) for n in contacts]
    nobody = t.bare(f"nobody-{owner}")
    walk_20th: list[float] = []

    async def q_last(i: int) -> MamPage:
        return await c.mam(max_items=page, before=True)

    async def q_walk(i: int) -> list[MamPage]:
        pages = []
        current = await c.mam(max_items=page, before=True)
        for _ in range(walk_pages):
            if not current.first:
                break
            current = await c.mam(max_items=page, before=current.first)
            pages.append(current)
        if len(pages) == walk_pages:
            walk_20th.append(pages[-1].latency)
        return pages

    async def q_first_norsm(i: int) -> MamPage:
        return await c.mam()

    async def q_first(i: int) -> MamPage:
        return await c.mam(max_items=page)

    async def q_with(i: int) -> MamPage:
        return await c.mam(
            {"with": contact_jids[i % len(contact_jids)]}, max_items=page, before=True
        )

    async def q_with_nobody(i: int) -> MamPage:
        return await c.mam({"with": nobody}, max_items=page, before=True)

    async def q_window(i: int) -> MamPage:
        return await c.mam(w_fields, max_items=page)

    async def q_count(i: int) -> MamPage:
        return await c.mam(max_items=0)

    async def q_after_id(i: int) -> MamPage:
        return await c.mam({"after-id": mid_id}, max_items=page)

    async def q_before_id(i: int) -> MamPage:
        return await c.mam({"before-id": mid_id}, max_items=page)

    async def q_before_id_last(i: int) -> MamPage:
        return await c.mam({"before-id": mid_id}, max_items=page, before=True)

    walks = max(1, math.ceil(repeats / walk_pages))
    plan: list[tuple[str, Any, int, int, str]] = [
        ("a_last_page", q_last, repeats, warmup, f"<max>{page}</max><before/>"),
        (
            "b_page_back",
            q_walk,
            walks,
            max(1, warmup // walk_pages),
            f"walk {walk_pages} pages back from the last page with <before>first-id</before>; "
            "latency of every page (b20_page_20_back: the 20th page only)",
        ),
        ("c_first_page", q_first, repeats, warmup, f"<max>{page}</max>, oldest first"),
        (
            "c0_first_page_no_rsm",
            q_first_norsm,
            repeats,
            warmup,
            "no RSM: the server's default page",
        ),
        (
            "d_with_contact_last_page",
            q_with,
            repeats,
            warmup,
            f"with=<contact> rotating over {len(contact_jids)} contacts (1% each), last page",
        ),
        (
            "d2_with_nobody_last_page",
            q_with_nobody,
            sparse_repeats or repeats,
            min(warmup, 5),
            f"with={nobody} (no messages), last page",
        ),
        (
            "e_time_window",
            q_window,
            repeats,
            warmup,
            f"start/end around the middle holding ~{window_fraction:.0%} of the archive, "
            "first page",
        ),
        ("f_count_only", q_count, repeats, warmup, "<max>0</max>: the RSM count alone"),
    ]
    if extended and mid_id:
        plan += [
            ("g_after_id", q_after_id, repeats, warmup, f"after-id=<mid-archive id>, max {page}"),
            (
                "g_before_id",
                q_before_id,
                repeats,
                warmup,
                f"before-id=<mid-archive id>, max {page} (no RSM <before/>)",
            ),
            (
                "g_before_id_last_page",
                q_before_id_last,
                repeats,
                warmup,
                f"before-id=<mid-archive id> + RSM <before/>, max {page}",
            ),
        ]
    results: dict[str, Any] = {}
    with CpuWindow(t.pid) as cpu:
        for name, fn, n, n_warm, desc in plan:
            for i in range(n_warm):
                with contextlib.suppress(StanzaErrorReply):  # counted in the measured loop
                    await fn(i)
            latencies: list[float] = []
            sizes: set[int] = set()
            errors: dict[str, int] = {}
            walk_20th.clear()
            cpu0 = cpu_seconds(t.pid)
            for i in range(n):
                try:
                    out = await fn(i)
                except StanzaErrorReply as exc:
                    errors[exc.condition] = errors.get(exc.condition, 0) + 1
                    continue
                for p in out if isinstance(out, list) else [out]:
                    latencies.append(p.latency)
                    sizes.add(len(p.ids))
            server_cpu = cpu_seconds(t.pid) - cpu0
            entry = {
                "desc": desc,
                **latency_summary(latencies),
                "items_per_page": sorted(sizes)[:6],
                "server_cpu_ms_per_query": round(1000 * server_cpu / max(1, len(latencies)), 3),
            }
            if errors:
                entry["errors"] = errors
            results[name] = entry
            if name == "b_page_back":
                results["b20_page_20_back"] = {
                    "desc": f"only the {walk_pages}th page of each walk",
                    **latency_summary(walk_20th),
                }
    c.close()
    return {
        "owner": owner,
        "archive_count": total,
        "mam_extended": extended,
        "window": w_info,
        "mid_id": mid_id,
        "repeats": repeats,
        "warmup": warmup,
        "page": page,
        "queries": results,
        "cpu": cpu.result,
    }
