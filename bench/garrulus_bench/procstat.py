"""What the kernel says about the server and the machine: CPU time, RSS, noise."""

from __future__ import annotations

import contextlib
import os
import time

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


def _per_cpu() -> dict[str, list[int]]:
    out = {}
    with open("/proc/stat") as f:
        for line in f:
            if line.startswith("cpu") and line[3].isdigit():
                name, *values = line.split()
                out[name] = [int(v) for v in values[:8]]
    return out


def _busy(before: list[int], after: list[int]) -> tuple[float, float, float]:
    """(busy ticks, total ticks, steal ticks) between two /proc/stat rows."""
    delta = [b - a for a, b in zip(before, after, strict=False)]
    total = sum(delta) or 1
    idle = delta[3] + delta[4]
    return total - idle, total, delta[7]


class CpuWindow:
    """CPU use over one measured interval: the server's, ours, and everything else's."""

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
        out: dict = {"wall_s": round(wall, 3), "per_cpu": {}}
        busy_all = 0.0
        for name, after in cpus.items():
            busy, total, steal = _busy(self.cpus0[name], after)
            busy_all += busy / TICKS
            out["per_cpu"][name] = {
                "busy_pct": round(100 * busy / total, 1),
                "steal_pct": round(100 * steal / total, 1),
            }
        out["bench_cpu_s"] = round(own, 3)
        if self.server_pid:
            server = cpu_seconds(self.server_pid) - self.server0
            out["server_cpu_s"] = round(server, 3)
            out["server_busy_pct_of_core"] = round(100 * server / wall, 1) if wall else None
            out["other_cpu_s"] = round(max(0.0, busy_all - server - own), 3)
            out["other_cores_avg"] = round(out["other_cpu_s"] / wall, 3) if wall else None
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
            out["server_cpu_by_thread_s"] = {
                "main (event loop)": round(main, 3),
                "other threads, busiest first": rest[:6],
            }
        with open("/proc/loadavg") as f:
            out["loadavg_end"] = f.read().split()[:3]
        return out


def wait_until_quiet(max_wait: float, threshold_cores: float, exclude_pids: list[int]) -> dict:
    """Wait (at most ``max_wait`` s) until processes other than ours and the server use at most
    ``threshold_cores`` over a 1 s window; the machine is shared, so this is recorded."""
    start = time.monotonic()
    seen = None
    while True:
        cpus0 = _per_cpu()
        own0 = sum(os.times()[:2])
        ex0 = sum(_safe_cpu(p) for p in exclude_pids)
        time.sleep(1.0)
        cpus1 = _per_cpu()
        busy = sum(_busy(cpus0[n], cpus1[n])[0] for n in cpus1) / TICKS
        other = (
            busy - (sum(os.times()[:2]) - own0) - (sum(_safe_cpu(p) for p in exclude_pids) - ex0)
        )
        seen = round(max(0.0, other), 3)
        waited = time.monotonic() - start
        if seen <= threshold_cores or waited >= max_wait:
            return {
                "waited_s": round(waited, 1),
                "other_cores": seen,
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
