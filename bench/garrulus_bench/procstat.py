"""What the kernel says about the server and the machine: CPU time, RSS, noise."""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterable
from typing import Any

TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """utime + stime of the whole process (all threads), from /proc/PID/stat."""
    with open(f"/proc/{pid}/stat") as f:
        raw = f.read()
    fields = raw[raw.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def thread_cpu_seconds(pid: int) -> dict[int, float]:
    """utime + stime per thread (tid -> s); the main thread's tid is the pid."""
    out = {}
    for task in os.listdir(f"/proc/{pid}/task"):
        with contextlib.suppress(OSError):  # the thread ended meanwhile
            out[int(task)] = cpu_seconds_path(f"/proc/{pid}/task/{task}/stat")
    return out


def cpu_seconds_path(path: str) -> float:
    with open(path) as f:
        raw = f.read()
    fields = raw[raw.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def status_kb(pid: int) -> dict[str, int]:
    """VmRSS, VmHWM, RssAnon, RssFile (kB) and Threads from /proc/PID/status."""
    out: dict[str, int] = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM", "RssAnon", "RssFile", "Threads"):
                out[key] = int(value.split()[0])
    return out


def parse_cpu_list(text: str) -> list[int]:
    """The CPUs of a ``taskset -c`` list ("1", "0,1", "0-3", "0-6:2"), sorted; ValueError if
    it is malformed."""
    cpus: set[int] = set()
    for item in text.split(","):
        span, colon, stride = item.partition(":")
        first, dash, last = span.partition("-")
        if colon and not dash:
            raise ValueError(f"{item!r}: a stride needs a range (0-6:2)")
        lo = _cpu_number(first, item)
        hi = _cpu_number(last, item) if dash else lo
        step = _cpu_number(stride, item) if colon else 1
        if hi < lo or step < 1:
            raise ValueError(f"{item!r}: empty range or zero stride")
        cpus.update(range(lo, hi + 1, step))
    return sorted(cpus)


def _cpu_number(text: str, item: str) -> int:
    if not (text.isascii() and text.isdigit()):
        raise ValueError(f"{item!r} is not N, N-M or N-M:S")
    return int(text)


def available_cpus() -> set[int]:
    """The CPUs this process may run on (without sched_getaffinity: 0 .. cpu_count - 1)."""
    if hasattr(os, "sched_getaffinity"):
        return set(os.sched_getaffinity(0))
    return set(range(os.cpu_count() or 1))


def affinity(pid: int) -> set[int]:
    """The CPUs ``pid`` may run on (0: the calling thread); empty when it is gone."""
    try:
        return set(os.sched_getaffinity(pid))
    except OSError:
        return set()


def cpu_roles(server_pid: int | None, online: list[int]) -> dict[str, Any]:
    """Which CPUs the server and this client may run on (their affinity as the kernel has it),
    the ``online`` CPUs neither may use, and whether the two share a CPU."""
    server = affinity(server_pid) if server_pid else set()
    bench = affinity(0)
    return {
        "server_cpus": sorted(server),
        "bench_cpus": sorted(bench),
        "other_cpus": [c for c in online if c not in server | bench],
        "shares_cpu_with_bench": bool(server & bench),
    }


def _per_cpu() -> dict[int, list[int]]:
    """/proc/stat's row of every online CPU, by CPU number."""
    out = {}
    with open("/proc/stat") as f:
        for line in f:
            if line.startswith("cpu") and line[3].isdigit():
                name, *values = line.split()
                out[int(name[3:])] = [int(v) for v in values[:8]]
    return out


def _busy(before: list[int], after: list[int]) -> tuple[float, float, float]:
    """(busy ticks, total ticks, steal ticks) between two /proc/stat rows."""
    delta = [b - a for a, b in zip(before, after, strict=False)]
    total = sum(delta) or 1
    idle = delta[3] + delta[4]
    return total - idle, total, delta[7]


def _busy_s(
    before: dict[int, list[int]], after: dict[int, list[int]], cpus: Iterable[int]
) -> float:
    """Busy seconds, summed over ``cpus``, between two :func:`_per_cpu` snapshots."""
    return sum(_busy(before[c], after[c])[0] for c in cpus if c in before and c in after) / TICKS


class CpuWindow:
    """CPU use over one measured interval: the server's, ours, and everything else's.

    The server may be pinned to several CPUs (``--server-cpu 0,1``): its figures are sums over
    all its threads, so ``server_busy_pct_of_core`` (100 = one core's worth) may exceed 100,
    while ``server_busy_pct_of_pinned_cpus`` is relative to all the CPUs it may use."""

    def __init__(self, server_pid: int | None) -> None:
        self.server_pid = server_pid

    def __enter__(self) -> CpuWindow:
        self.t0 = time.perf_counter()
        self.cpus0 = _per_cpu()
        self.own0 = sum(os.times()[:2])
        self.server0 = cpu_seconds(self.server_pid) if self.server_pid else 0.0
        self.threads0 = thread_cpu_seconds(self.server_pid) if self.server_pid else {}
        return self

    def __exit__(self, *exc: object) -> None:
        self.result = self.read()

    def read(self) -> dict:
        wall = time.perf_counter() - self.t0
        cpus = _per_cpu()
        own = sum(os.times()[:2]) - self.own0
        roles = cpu_roles(self.server_pid, sorted(cpus))
        out: dict = {"wall_s": round(wall, 3), "pinning": roles, "per_cpu": {}}
        for cpu, after in cpus.items():
            busy, total, steal = _busy(self.cpus0.get(cpu, after), after)
            out["per_cpu"][f"cpu{cpu}"] = {
                "busy_pct": round(100 * busy / total, 1),
                "steal_pct": round(100 * steal / total, 1),
            }
        out["bench_cpu_s"] = round(own, 3)
        if self.server_pid:
            server = cpu_seconds(self.server_pid) - self.server0
            out["server_cpu_s"] = round(server, 3)
            out.update(_server_busy(server, wall, len(roles["server_cpus"])))
            out.update(_others(self.cpus0, cpus, roles, server + own, wall))
            out["server_cpu_by_thread_s"] = self._by_thread()
        with open("/proc/loadavg") as f:
            out["loadavg_end"] = f.read().split()[:3]
        return out

    def _by_thread(self) -> dict[str, Any]:
        assert self.server_pid is not None
        threads1 = thread_cpu_seconds(self.server_pid)
        main = threads1.get(self.server_pid, 0.0) - self.threads0.get(self.server_pid, 0.0)
        rest = sorted(
            (
                round(v - self.threads0.get(k, 0.0), 3)
                for k, v in threads1.items()
                if k != self.server_pid
            ),
            reverse=True,
        )
        return {"main (event loop)": round(main, 3), "other threads, busiest first": rest[:6]}


def _server_busy(server_s: float, wall: float, n_cpus: int) -> dict[str, float | None]:
    """The server's CPU time per wall second: in % of one core (over 100 when it runs threads
    on several CPUs at once), and in % of the CPUs it is pinned to."""
    return {
        "server_busy_pct_of_core": round(100 * server_s / wall, 1) if wall else None,
        "server_busy_pct_of_pinned_cpus": (
            round(100 * server_s / (wall * n_cpus), 1) if wall and n_cpus else None
        ),
    }


def _others(
    before: dict[int, list[int]],
    after: dict[int, list[int]],
    roles: dict[str, Any],
    known_s: float,
    wall: float,
) -> dict[str, float | None]:
    """Everybody else's CPU: ``other_cpu_s`` / ``other_cores_avg`` on any CPU (all busy time
    less ``known_s``, the server's and ours), ``noise_on_pinned_cpus_s`` on the server's and
    the client's CPUs (what competed with them), and ``other_cpus_busy_pct``, the mean busy %
    of the CPUs neither is pinned to (None when there are none)."""
    other = max(0.0, _busy_s(before, after, after) - known_s)
    pinned = set(roles["server_cpus"]) | set(roles["bench_cpus"])
    spare = roles["other_cpus"]
    return {
        "other_cpu_s": round(other, 3),
        "other_cores_avg": round(other / wall, 3) if wall else None,
        "noise_on_pinned_cpus_s": round(max(0.0, _busy_s(before, after, pinned) - known_s), 3),
        "other_cpus_busy_pct": (
            round(100 * _busy_s(before, after, spare) / (wall * len(spare)), 1)
            if wall and spare
            else None
        ),
    }


def wait_until_quiet(max_wait: float, threshold_cores: float, exclude_pids: list[int]) -> dict:
    """Wait (at most ``max_wait`` s) until processes other than ours and the server use at most
    ``threshold_cores`` over a 1 s window, on any CPU; the machine is shared, so this is
    recorded, with the part of it on our and the server's CPUs (``other_cores_on_pinned_cpus``,
    the CPUs of this thread and of ``exclude_pids``)."""
    start = time.monotonic()
    pinned = affinity(0).union(*(affinity(p) for p in exclude_pids))
    while True:
        cpus0 = _per_cpu()
        known0 = sum(os.times()[:2]) + sum(_safe_cpu(p) for p in exclude_pids)
        time.sleep(1.0)
        cpus1 = _per_cpu()
        known = sum(os.times()[:2]) + sum(_safe_cpu(p) for p in exclude_pids) - known0
        seen = round(max(0.0, _busy_s(cpus0, cpus1, cpus1) - known), 3)
        on_pinned = round(max(0.0, _busy_s(cpus0, cpus1, pinned) - known), 3)
        waited = time.monotonic() - start
        if seen <= threshold_cores or waited >= max_wait:
            return {
                "waited_s": round(waited, 1),
                "other_cores": seen,
                "other_cores_on_pinned_cpus": on_pinned,
                "quiet": seen <= threshold_cores,
            }


def _safe_cpu(pid: int) -> float:
    try:
        return cpu_seconds(pid)
    except OSError:
        return 0.0


def machine() -> dict:
    model = ""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    with open("/proc/meminfo") as f:
        mem_kb = int(f.readline().split()[1])
    return {
        "cpus": os.cpu_count(),
        "cpu_model": model,
        "mem_gib": round(mem_kb / 2**20, 1),
        "kernel": os.uname().release,
    }


def fsync_latency(directory: str, samples: int = 30) -> dict[str, Any]:
    """Median and spread of an appended 4 KiB write + fdatasync in ``directory`` (where the
    servers keep their databases). Both servers' archive rates depend on it: Prosody syncs once
    per archived copy, Garrulus once per group commit. It changes from day to day on a shared
    disk, so every result records it."""
    path = os.path.join(directory, "fsync-probe")
    times: list[float] = []
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        for _ in range(samples):
            os.write(fd, b"x" * 4096)  # appended, as journals grow: the size changes too
            start = time.perf_counter()
            os.fdatasync(fd)
            times.append(time.perf_counter() - start)
    finally:
        os.close(fd)
        with contextlib.suppress(OSError):
            os.remove(path)
    times.sort()
    return {
        "samples": samples,
        "median_ms": round(1000 * times[len(times) // 2], 3),
        "min_ms": round(1000 * times[0], 3),
        "max_ms": round(1000 * times[-1], 3),
    }
