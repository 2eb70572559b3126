"""Command line and orchestration: one sitting, Garrulus then Prosody, one JSON object out."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import shutil
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from garrulus_bench import __version__, prefill, procstat, profiler
from garrulus_bench import workloads as wl
from garrulus_bench.servers import GarrulusServer, ProsodyServer
from garrulus_bench.stats import median, ratio

SHARED_PROSODY = Path(__file__).resolve().parents[3] / "shared" / "bench" / "prosody"
WORKLOADS = ("memory", "throughput", "queries")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(
        prog="bench/run.py",
        description="Garrulus benchmark: archived-message throughput, MAM query latency and "
        "memory per session, measured against Garrulus and (when installed) Prosody 0.12 in the "
        "same sitting. Prints one JSON object (medians and garrulus/prosody ratios).",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    ap.add_argument(
        "--quick",
        action="store_true",
        help="archives of 10k/100k, 1 throughput run, 100 query repeats (~8 min)",
    )
    ap.add_argument(
        "--servers",
        default="garrulus,prosody",
        help="which servers, in order; prosody is skipped when it is not installed",
    )
    ap.add_argument(
        "--workloads", default=",".join(WORKLOADS), help="subset of " + ",".join(WORKLOADS)
    )
    ap.add_argument("--out", type=Path, help="also write the JSON object to this file")
    ap.add_argument(
        "--sizes",
        default=None,
        help="archive sizes for the query workload (default 100000,1000000; --quick: 10000,100000)",
    )
    ap.add_argument("--pairs", type=int, default=50, help="throughput: sender/receiver pairs")
    ap.add_argument("--messages", type=int, default=500, help="throughput: messages per sender (K)")
    ap.add_argument(
        "--window", type=int, default=20, help="throughput: undelivered messages per sender"
    )
    ap.add_argument(
        "--runs",
        type=int,
        default=None,
        help="throughput runs per server, each on a fresh process (default 3; --quick 1)",
    )
    ap.add_argument("--body-size", type=int, default=100, help="chat body bytes")
    ap.add_argument(
        "--verify-pairs", type=int, default=4, help="throughput: pairs whose archives are counted"
    )
    ap.add_argument("--sessions", type=int, default=2000, help="memory: idle sessions")
    ap.add_argument(
        "--repeats", type=int, default=None, help="queries per type (default 200; --quick 100)"
    )
    ap.add_argument("--warmup", type=int, default=20, help="warm-up queries per type")
    ap.add_argument("--page", type=int, default=50, help="MAM page size (<max/>)")
    ap.add_argument(
        "--walk-pages", type=int, default=20, help="pages walked back with <before>id</before>"
    )
    ap.add_argument("--contacts", type=int, default=100, help="contacts per archive (1%% each)")
    ap.add_argument(
        "--garrulus-fill",
        choices=("auto", "server", "direct"),
        default="auto",
        help="how Garrulus archives are filled: through the server, directly through "
        "Garrulus's storage API, or through the server when the predicted time fits "
        "--fill-budget",
    )
    ap.add_argument(
        "--fill-budget",
        type=float,
        default=900.0,
        help="auto: longest through-the-server fill of one archive, in seconds",
    )
    ap.add_argument(
        "--prosody-server-fill-max",
        type=int,
        default=0,
        help="Prosody archives up to this size are filled through the server; larger "
        "ones are bulk-inserted into its SQLite table (it archives ~450 msg/s)",
    )
    ap.add_argument(
        "--prefill-rate",
        type=float,
        default=500.0,
        help="direct fills: timestamps are spread at this many messages per second (at most "
        "size/1000, so that one second holds no more than 0.1 %% of the archive)",
    )
    ap.add_argument(
        "--prosody-nagle",
        choices=("off", "on"),
        default="off",
        help="off: Prosody with network_settings.nagle=false (TCP_NODELAY, as Garrulus "
        "does), so query latency is the server's work; on: Prosody 0.12's default, "
        "which adds a ~40 ms delayed-ACK stall to multi-write MAM replies",
    )
    ap.add_argument(
        "--mech",
        choices=("SCRAM-SHA-1", "PLAIN"),
        default="SCRAM-SHA-1",
        help="SASL mechanism, the same for both servers",
    )
    ap.add_argument(
        "--profile",
        action="store_true",
        help="after the measured throughput runs, one more Garrulus run under py-spy; "
        "adds where the time goes (own time per function, per thread) to the JSON",
    )
    ap.add_argument("--profile-messages", type=int, default=600, help="K of the profiled run")
    ap.add_argument(
        "--garrulus-src",
        type=Path,
        help="run Garrulus, and the direct prefill (--garrulus-fill), from this source tree "
        "(first on PYTHONPATH), e.g. one commit exported with `git archive HEAD garrulus | tar -x "
        "-C DIR` (a file DIR/COMMIT names it), so that changes to the checkout during a long run "
        "do not leak into it",
    )
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--domain", default="bench.local")
    ap.add_argument("--password", default="benchpass")
    ap.add_argument("--garrulus-port", type=int, default=35222)
    ap.add_argument("--prosody-port", type=int, default=35223)
    ap.add_argument(
        "--server-cpu",
        default="1",
        metavar="CPUS",
        help="CPUs the servers are pinned to, a taskset -c list: 1, 0,1 or 0-1 (README: Pinning)",
    )
    ap.add_argument("--bench-cpu", type=int, default=0, help="CPU this client is pinned to")
    ap.add_argument(
        "--prosody-scripts",
        type=Path,
        default=SHARED_PROSODY,
        help="folder with Prosody's start.sh, stop.sh and prosody.cfg.lua",
    )
    ap.add_argument("--workdir", type=Path, help="state directory (default: a new temp dir)")
    ap.add_argument("--keep", action="store_true", help="keep the state directory afterwards")
    ap.add_argument(
        "--quiet-wait",
        type=float,
        default=20.0,
        help="before each measurement wait up to this long for the machine to be quiet",
    )
    ap.add_argument(
        "--quiet-threshold",
        type=float,
        default=0.3,
        help="'quiet' = other processes use at most this many cores",
    )
    args = ap.parse_args(argv)
    args.sizes = [
        int(s)
        for s in (args.sizes or ("10000,100000" if args.quick else "100000,1000000")).split(",")
    ]
    args.runs = args.runs or (1 if args.quick else 3)
    args.repeats = args.repeats or (100 if args.quick else 200)
    args.servers = [s for s in args.servers.split(",") if s]
    args.workloads = [w for w in args.workloads.split(",") if w]
    for w in args.workloads:
        if w not in WORKLOADS:
            ap.error(f"unknown workload {w}")
    args.server_cpus = server_cpus(ap, args)
    return args


def server_cpus(ap: argparse.ArgumentParser, args: argparse.Namespace) -> list[int]:
    """--server-cpu as a sorted list of CPU numbers; it and --bench-cpu must be CPUs this process
    may run on (the string itself is what taskset and Prosody's start.sh get)."""
    try:
        cpus = procstat.parse_cpu_list(args.server_cpu)
    except ValueError as exc:
        ap.error(f"--server-cpu: {exc}")
    usable = procstat.available_cpus()
    missing = [c for c in cpus if c not in usable]
    if missing:
        ap.error(f"--server-cpu: no CPU {missing} here (usable: {sorted(usable)})")
    if args.bench_cpu not in usable:
        ap.error(f"--bench-cpu: no CPU {args.bench_cpu} here (usable: {sorted(usable)})")
    return cpus


def shares_cpu(args: argparse.Namespace) -> bool:
    return args.bench_cpu in args.server_cpus


def pinning(args: argparse.Namespace) -> dict[str, Any]:
    """The JSON's "pinning" section; each measurement's ``cpu.pinning`` has the affinities the
    kernel reported then."""
    out: dict[str, Any] = {
        "servers_cpu": args.server_cpu,
        "servers_cpus": args.server_cpus,
        "bench_cpu": args.bench_cpu,
        "shares_cpu_with_bench": shares_cpu(args),
    }
    if out["shares_cpu_with_bench"]:
        out["note"] = (
            f"the client runs on CPU {args.bench_cpu} too: rates include its competition with "
            "the server; server CPU per operation is still the server's own"
        )
    return out


def owner_name(size: int) -> str:
    return f"mam{size // 1000}k" if size % 1000 == 0 else f"mam{size}"


class Runner:
    def __init__(self, args: argparse.Namespace, workdir: Path) -> None:
        self.args = args
        self.workdir = workdir
        self.started = time.monotonic()
        self.users = [f"user{i}" for i in range(max(args.sessions, 2 * args.pairs))]
        self.contacts = [f"contact{i}" for i in range(args.contacts)]
        self.owners = {size: owner_name(size) for size in args.sizes}

    def log(self, msg: str) -> None:
        wl.progress(f"+{time.monotonic() - self.started:6.0f}s {msg}")

    def quiet(self, server) -> dict:
        a = self.args
        return procstat.wait_until_quiet(a.quiet_wait, a.quiet_threshold, [server.pid])

    def target(self, server) -> wl.Target:
        a = self.args
        return wl.Target(a.host, server.port, a.domain, a.password, a.mech, server.pid)

    def make(self, name: str):
        a = self.args
        if name == "garrulus":
            return GarrulusServer(
                self.workdir / "garrulus",
                a.host,
                a.garrulus_port,
                a.domain,
                a.server_cpu,
                src=a.garrulus_src,
            )
        return ProsodyServer(
            a.prosody_scripts,
            self.workdir / "prosody",
            a.host,
            a.prosody_port,
            a.domain,
            a.server_cpu,
            nagle=a.prosody_nagle == "on",
        )

    async def run_server(self, name: str) -> dict[str, Any]:
        a = self.args
        server = self.make(name)
        out: dict[str, Any] = {}
        if name == "garrulus":
            out["config_check"] = server.check()
            server.start()
        else:
            server.start(fresh=True)
        try:
            out["server"] = server.describe()
            self.log(f"{name}: registering accounts (pid {server.pid})")
            names = (
                self.users
                + self.contacts
                + list(self.owners.values())
                + [prefill.TPL_OWNER, prefill.TPL_CONTACT]
            )
            out["accounts"] = await wl.register_accounts(self.target(server), names)
            if "memory" in a.workloads:
                server.restart()
                self.log(f"{name}: memory, {a.sessions} idle sessions")
                noise = self.quiet(server)
                out["memory"] = await wl.memory(self.target(server), self.users[: a.sessions])
                out["memory"]["quiet_wait"] = noise
            if "throughput" in a.workloads:
                out["throughput"] = await self.throughput(server, name)
            if "queries" in a.workloads:
                out["archives"] = await self.archives(server, name, out)
            out["server"]["process_starts"] = server.starts
            out["server"]["modules_enabled"] = getattr(server, "modules", None) or out[
                "server"
            ].get("modules_enabled")
            if name == "garrulus":
                out["server"]["modules_note"] = server.modules_note
                out["server"]["source_hashes_at_starts"] = sorted(server.source_hashes)
        finally:
            server.stop()
        return out

    async def throughput(self, server, name: str) -> dict[str, Any]:
        a = self.args
        runs = []
        senders = self.users[: a.pairs]
        receivers = self.users[a.pairs : 2 * a.pairs]
        for r in range(a.runs):
            server.restart()
            noise = self.quiet(server)
            self.log(f"{name}: throughput run {r + 1}/{a.runs}")
            res = await wl.throughput(
                self.target(server),
                senders,
                receivers,
                per_sender=a.messages,
                window=a.window,
                body_size=a.body_size,
                verify_pairs=a.verify_pairs,
                timeout=1800,
            )
            res["quiet_wait"] = noise
            runs.append(res)
            self.log(
                f"{name}:   {res['msgs_per_s']} msg/s, {res['server_cpu_us_per_msg']} us CPU/msg,"
                f" archive_ok={res['archive_ok']}"
            )
        summary = {
            "msgs_per_s": median([r["msgs_per_s"] for r in runs]),
            "msgs_per_s_min_max": [
                min(r["msgs_per_s"] for r in runs),
                max(r["msgs_per_s"] for r in runs),
            ],
            "server_cpu_us_per_msg": median([r["server_cpu_us_per_msg"] for r in runs]),
            "server_busy_pct_of_core": median(
                [r["cpu"].get("server_busy_pct_of_core") for r in runs]
            ),
            "server_busy_pct_of_pinned_cpus": median(
                [r["cpu"].get("server_busy_pct_of_pinned_cpus") for r in runs]
            ),
            "archive_ok_all_runs": all(r["archive_ok"] for r in runs),
            "runs": len(runs),
        }
        out: dict[str, Any] = {"median": summary, "runs": runs}
        if a.profile and name == "garrulus":
            out["profile"] = await self.profile(server, senders, receivers)
        return out

    async def profile(self, server, senders, receivers) -> dict[str, Any]:
        a = self.args
        if not profiler.available():
            return {"skipped": "py-spy is not installed (pip install py-spy)"}
        server.restart()
        self.log("garrulus: profiled throughput run (py-spy)")
        raw = self.workdir / "garrulus-throughput.pyspy.txt"
        raw_gil = self.workdir / "garrulus-throughput-gil.pyspy.txt"
        spy = profiler.start(server.pid, raw)
        spy_gil = profiler.start(server.pid, raw_gil, gil=True)
        await asyncio.sleep(1.0)
        res = await wl.throughput(
            self.target(server),
            senders,
            receivers,
            per_sender=a.profile_messages,
            window=a.window,
            body_size=a.body_size,
            verify_pairs=2,
            timeout=1800,
        )
        err = profiler.stop(spy)
        err_gil = profiler.stop(spy_gil)
        if not raw.exists():
            return {"error": err}
        summary = profiler.summarise(raw)
        summary["raw_file"] = str(raw)
        summary["note"] = (
            "py-spy --nonblocking at 200 Hz over login + the run; threads are "
            "sampled while not idle (a thread waiting to re-take the GIL after a "
            "system call counts, in the frame that made the call); own time = the "
            "innermost Python frame (time in C, e.g. SQLite, counts to the Python "
            "function that called it). gil_holder: the same, --gil, i.e. only the "
            "thread holding the GIL: where the interpreter's time goes"
        )
        if raw_gil.exists():
            summary["gil_holder"] = profiler.summarise(raw_gil)
        else:
            summary["gil_holder"] = {"error": err_gil}
        summary["run_server_cpu_by_thread_s"] = res["cpu"].get("server_cpu_by_thread_s")
        summary["run_msgs_per_s_under_profiler"] = res["msgs_per_s"]
        summary["run_server_cpu_us_per_msg"] = res["server_cpu_us_per_msg"]
        return summary

    async def archives(self, server, name: str, out: dict[str, Any]) -> dict[str, Any]:
        a = self.args
        server.restart()
        t = self.target(server)
        fills: dict[int, dict[str, Any]] = {}
        direct: list[int] = []
        rate = None  # through-the-server fill rate seen so far
        if not rate and out.get("throughput"):
            rate = out["throughput"]["median"]["msgs_per_s"]
        for size in a.sizes:
            if name == "garrulus":
                mode = a.garrulus_fill
                if mode == "auto":
                    predicted = size / rate if rate else 0.0
                    mode = "server" if predicted <= a.fill_budget else "direct"
            else:
                mode = "server" if size <= a.prosody_server_fill_max else "direct"
            if mode == "direct":
                direct.append(size)
                continue
            self.log(f"{name}: filling {self.owners[size]} to {size} through the server")
            noise = self.quiet(server)
            fills[size] = await wl.fill(
                t, self.owners[size], self.contacts, size, lane_window=10, body_size=a.body_size
            )
            fills[size]["quiet_wait"] = noise
            rate = fills[size]["msgs_per_s"] or rate
            self.log(
                f"{name}:   {fills[size]['msgs_per_s']} msg/s, "
                f"{fills[size]['server_cpu_us_per_msg']} us CPU/msg"
            )
        if direct:
            await prefill.capture_templates(t, a.body_size)
            server.stop()
            for size in direct:
                self.log(f"{name}: filling {self.owners[size]} to {size} directly (server stopped)")
                # No more than 0.1 % of the archive per second, so a 1 % time window can be cut
                # from Prosody's whole-second timestamps.
                rate_tl = min(a.prefill_rate, size / 1000)
                if name == "garrulus":
                    # In a child Python importing garrulus from --garrulus-src (when given), as
                    # the server does: the database must be written by the server's own code.
                    fills[size] = await asyncio.to_thread(
                        prefill.garrulus_prefill,
                        server.db_path,
                        a.domain,
                        self.owners[size],
                        self.contacts,
                        size,
                        rate_tl,
                        src=a.garrulus_src,
                        cwd=server.workdir,
                    )
                else:
                    fills[size] = await asyncio.to_thread(
                        prefill.prosody_prefill,
                        server.db_path,
                        a.domain,
                        self.owners[size],
                        self.contacts,
                        size,
                        rate_tl,
                    )
                if name == "garrulus" and rate:
                    fills[size]["through_server_rate_msgs_per_s"] = rate
                    fills[size]["why"] = (
                        f"predicted {size / rate:.0f} s through the server > "
                        f"--fill-budget {a.fill_budget:.0f} s"
                    )
        server.restart()  # queries on a fresh process
        result: dict[str, Any] = {}
        for size in a.sizes:
            noise = self.quiet(server)
            self.log(f"{name}: queries on {self.owners[size]} ({size})")
            q = await wl.queries(
                self.target(server),
                self.owners[size],
                self.contacts,
                repeats=a.repeats,
                warmup=a.warmup,
                page=a.page,
                walk_pages=a.walk_pages,
                sparse_repeats=min(a.repeats, 50),
            )
            q["quiet_wait"] = noise
            result[str(size)] = {"fill": fills[size], **q}
            self.log(
                f"{name}:   " + ", ".join(f"{k} {v.get('p50_ms')}" for k, v in q["queries"].items())
            )
        if server.db_path.exists():
            result["db_bytes"] = sum(
                p.stat().st_size for p in server.db_path.parent.glob(server.db_path.name + "*")
            )
        return result


def ratios(g: dict[str, Any], p: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {"note": "garrulus / prosody; > 1 means Garrulus has more of it"}
    if "throughput" in g and "throughput" in p:
        gt, pt = g["throughput"]["median"], p["throughput"]["median"]
        out["throughput_msgs_per_s"] = ratio(gt["msgs_per_s"], pt["msgs_per_s"])
        out["server_cpu_us_per_msg"] = ratio(
            gt["server_cpu_us_per_msg"], pt["server_cpu_us_per_msg"]
        )
    if "memory" in g and "memory" in p:
        for k in (
            "rss_idle_kb",
            "rss_with_sessions_kb",
            "per_session_kb",
            "server_cpu_ms_per_login",
        ):
            out[f"memory_{k}"] = ratio(g["memory"][k], p["memory"][k])
    if "archives" in g and "archives" in p:
        q: dict[str, Any] = {}
        for size, ga in g["archives"].items():
            pa = p["archives"].get(size)
            if not isinstance(ga, dict) or not isinstance(pa, dict):
                continue
            per: dict[str, Any] = {}
            for qname, gq in ga["queries"].items():
                pq = pa["queries"].get(qname)
                if pq:
                    per[qname] = {
                        k: ratio(gq.get(k), pq.get(k)) for k in ("p50_ms", "p95_ms", "p99_ms")
                    }
            q[size] = per
        out["query_latency"] = q
    return out


def targets(g: dict[str, Any], r: dict[str, Any], sizes: list[int]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if r.get("throughput_msgs_per_s") is not None:
        out["throughput_at_least_20x_prosody"] = {
            "ratio": r["throughput_msgs_per_s"],
            "met": r["throughput_msgs_per_s"] >= 20,
        }
    if "archives" in g:
        big, small = str(max(sizes)), str(min(sizes))
        qb = g["archives"][big]["queries"]
        qs = g["archives"][small]["queries"]
        slow = {
            k: v["p50_ms"] for k, v in qb.items() if v.get("p50_ms") is None or v["p50_ms"] >= 5
        }
        out[f"every_query_p50_under_5ms_at_{big}"] = {"met": not slow, "failing": slow}
        growth = {k: ratio(qb[k].get("p50_ms"), qs[k].get("p50_ms"), 2) for k in qb if k in qs}
        worse = {k: v for k, v in growth.items() if v is None or v > 1.15}
        out[f"no_query_slower_at_{big}_than_{small}"] = {
            "p50_ratio_big_over_small": growth,
            "met": not worse,
            "failing": worse,
            "tolerance": "15% (the machine is shared; see each run's cpu block)",
        }
    if "memory" in g:
        kb = g["memory"]["per_session_kb"]
        out["idle_session_under_35kb"] = {"per_session_kb": kb, "met": kb < 35}
    return out


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="garrulus-bench-"))
    workdir.mkdir(parents=True, exist_ok=True)
    workdir.chmod(0o755)
    runner = Runner(args, workdir)
    result: dict[str, Any] = {
        "bench": "garrulus bench/run.py",
        "bench_version": __version__,
        "time_utc": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "machine": procstat.machine(),
        "disk_fdatasync_at_start": procstat.fsync_latency(str(workdir)),
        "params": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
        "pinning": pinning(args),
        "servers": {},
    }
    try:
        for name in args.servers:
            if name == "prosody" and not ProsodyServer.available(args.prosody_scripts):
                result["servers"]["prosody"] = {"skipped": "prosody or its start.sh not found"}
                continue
            runner.log(f"=== {name}")
            result["servers"][name] = await runner.run_server(name)
    finally:
        result["disk_fdatasync_at_end"] = procstat.fsync_latency(str(workdir))
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
        else:
            result["workdir"] = str(workdir)
    g = result["servers"].get("garrulus", {})
    p = result["servers"].get("prosody", {})
    if g and p and "skipped" not in p:
        result["ratios_garrulus_over_prosody"] = ratios(g, p)
    if g:
        result["targets"] = targets(g, result.get("ratios_garrulus_over_prosody", {}), args.sizes)
    result["elapsed_s"] = round(time.monotonic() - runner.started, 1)
    return result


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if shares_cpu(args):
        print(
            f"warning: --server-cpu {args.server_cpu} includes the client's CPU "
            f"{args.bench_cpu} (--bench-cpu): the client competes with the server there",
            file=sys.stderr,
        )
    os.sched_setaffinity(0, {args.bench_cpu})
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = max(soft, min(hard, args.sessions + 2000))
    resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
    if want < args.sessions + 200:
        print(f"open-files limit {want} is too low for {args.sessions} sessions", file=sys.stderr)
        return 2
    result = asyncio.run(main_async(args))
    text = json.dumps(result, indent=1)
    if args.out:
        args.out.write_text(text + "\n")
    print(text)
    return 0
