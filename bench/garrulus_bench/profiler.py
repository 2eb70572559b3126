"""Where the Garrulus process spends its time: py-spy (optional, ``pip install py-spy``)
attached for one extra, unmeasured throughput run; summarised by own time per function and by
thread. py-spy pauses the process for each sample, so that run's rate is not a figure."""

from __future__ import annotations

import re
import shutil
import subprocess
from collections import Counter
from pathlib import Path
from typing import Any

_LINE = re.compile(r"^(?P<stack>.*) (?P<count>\d+)$")
_FRAME = re.compile(r"^(?P<func>.*?) \((?P<file>[^:()]+)(?::\d+)?\)$")


def available() -> bool:
    return shutil.which("py-spy") is not None


def start(pid: int, raw_out: Path, rate: int = 200, gil: bool = False) -> subprocess.Popen:
    return subprocess.Popen(
        [
            "py-spy",
            "record",
            "--pid",
            str(pid),
            "--rate",
            str(rate),
            "--format",
            "raw",
            "--output",
            str(raw_out),
            "--threads",
            "--nonblocking",
            *(["--gil"] if gil else []),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def stop(proc: subprocess.Popen) -> str:
    proc.send_signal(2)  # SIGINT: py-spy writes its output and exits
    try:
        _, err = proc.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()
        _, err = proc.communicate()
    return (err or b"").decode(errors="replace")[-500:]


def _short(frame: str) -> str:
    m = _FRAME.match(frame)
    if not m:
        return frame
    path = m.group("file")
    for marker in ("site-packages/", "/lib/python3.11/", "/work/main/"):
        if marker in path:
            path = path.split(marker, 1)[1]
            break
    return f"{m.group('func')} ({path})"


def summarise(raw: Path, top: int = 30) -> dict[str, Any]:
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    threads: Counter[str] = Counter()
    own_by_thread: dict[str, Counter[str]] = {}
    total = 0
    for line in raw.read_text().splitlines():
        m = _LINE.match(line)
        if not m:
            continue
        count = int(m.group("count"))
        frames = m.group("stack").split(";")
        if frames[0].startswith("thread ("):
            # "thread (TID): NAME" leads each stack; sql-reader_3 counts as sql-reader
            thread = re.sub(r"_\d+$", "", frames[0].split(": ", 1)[-1])
            threads[thread] += count
            frames = frames[1:]
        else:
            thread = "?"
        total += count
        if not frames:
            continue
        own[_short(frames[-1])] += count
        own_by_thread.setdefault(thread, Counter())[_short(frames[-1])] += count
        for f in set(_short(f) for f in frames):
            inclusive[f] += count

    def pct(n: int) -> float:
        return round(100.0 * n / total, 1) if total else 0.0

    by_thread_own = {
        t: [{"function": f, "own_pct": pct(n)} for f, n in c.most_common(12)]
        for t, c in own_by_thread.items()
    }
    return {
        "samples": total,
        "top_own_time_by_thread": by_thread_own,
        "by_thread_pct": {k: pct(v) for k, v in threads.most_common()},
        "top_own_time": [{"function": f, "own_pct": pct(n)} for f, n in own.most_common(top)],
        "top_inclusive": [
            {"function": f, "incl_pct": pct(n)} for f, n in inclusive.most_common(top)
        ],
    }
