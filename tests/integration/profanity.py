"""Drive the profanity console client through tmux, as a person at a terminal would."""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import subprocess
import uuid
from pathlib import Path

import pytest

# libstrophe's lines in profanity's DEBUG log: "<time>: conn: DBG: SENT: <stanza>" and
# "<time>: xmpp: DBG: RECV: <stanza>" (a stanza is on one line).
_TRAFFIC = re.compile(r": (SENT|RECV): (.*)$")


def _compact(screen: str) -> str:
    """A screen for an error message: without its blank lines and trailing spaces."""
    return "\n".join(line.rstrip() for line in screen.splitlines() if line.strip())


def require_profanity() -> None:
    missing = [tool for tool in ("profanity", "tmux") if shutil.which(tool) is None]
    if missing:
        pytest.skip(f"{' and '.join(missing)} not installed (apt-get install profanity tmux)")


class Profanity:
    """One profanity process in its own tmux server, with its own HOME (so its own settings,
    chat history and log under ``home``)."""

    def __init__(self, home: Path) -> None:
        require_profanity()
        self.home = home
        self.session = f"prof-{uuid.uuid4().hex[:8]}"
        home.mkdir(parents=True, exist_ok=True)

    def _tmux(self, *args: str) -> str:
        env = {**os.environ, "HOME": str(self.home), "TERM": "xterm-256color"}
        # A tmux server of its own (-L): a new session on a shared server would run with the
        # environment (HOME among it) of whoever started that server, not this one's.
        proc = subprocess.run(
            ["tmux", "-L", self.session, *args], capture_output=True, text=True, env=env, timeout=20
        )
        return proc.stdout

    def start(self, log_level: str = "DEBUG") -> None:
        """Start profanity; at DEBUG its log (``log``, ``traffic``) has every stanza sent and
        received."""
        self._tmux(
            "new-session", "-d", "-s", self.session, "-x", "220", "-y", "50",
            "-e", f"HOME={self.home}", "profanity", "-l", log_level,
        )  # fmt: skip

    def type(self, line: str) -> None:
        self._tmux("send-keys", "-t", self.session, "-l", line)
        self._tmux("send-keys", "-t", self.session, "Enter")

    def screen(self) -> str:
        return self._tmux("capture-pane", "-t", self.session, "-p", "-S", "-200")

    async def wait_for(self, text: str, timeout: float = 15.0, *, more_than: int = 0) -> str:
        """Wait until ``text`` is on the screen (more than ``more_than`` times)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            screen = await asyncio.to_thread(self.screen)
            if screen.count(text) > more_than:
                return screen
            if loop.time() > deadline:
                raise AssertionError(
                    f"{text!r} never appeared on profanity's screen:\n{_compact(screen)}"
                )
            await asyncio.sleep(0.2)

    async def command(self, line: str, expect: str, timeout: float = 10.0) -> str:
        """Type ``line`` and wait for ``expect`` to show up once more than it was before;
        returns the screen from that new ``expect`` on (the command's output)."""
        before = (await asyncio.to_thread(self.screen)).count(expect)
        self.type(line)
        screen = await self.wait_for(expect, timeout, more_than=before)
        start = -1
        for _ in range(before + 1):
            start = screen.index(expect, start + 1)
        return screen[start:]

    async def wait_in_any_window(self, text: str, timeout: float = 15.0) -> str:
        """Profanity opens a window per conversation: look through them for ``text``."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            for window in range(1, 6):
                self.type(f"/win {window}")
                await asyncio.sleep(0.2)
                screen = await asyncio.to_thread(self.screen)
                if text in screen:
                    return screen
            if loop.time() > deadline:
                raise AssertionError(f"{text!r} never appeared in profanity:\n{_compact(screen)}")

    async def connect(self, jid: str, password: str, port: int) -> None:
        await self.wait_for("Type '/help'")
        self.type(f"/connect {jid} server 127.0.0.1 port {port} tls trust")
        await self.wait_for("password", timeout=10)
        self.type(password)
        await self.wait_for("logged in successfully")

    @property
    def log_path(self) -> Path:
        return self.home / ".local" / "share" / "profanity" / "logs" / "profanity.log"

    def log(self) -> str:
        """Profanity's own log."""
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def traffic(self, containing: str = "") -> list[str]:
        """The stanzas profanity sent and received so far (from its DEBUG log), each as
        ``"SENT: <...>"`` or ``"RECV: <...>"``, optionally only those containing a string."""
        lines = []
        for line in self.log().splitlines():
            match = _TRAFFIC.search(line)
            if match and containing in match[2]:
                lines.append(f"{match[1]}: {match[2]}")
        return lines

    def stop(self) -> None:
        self._tmux("kill-session", "-t", self.session)  # its tmux server exits with it ...
        tmpdir = Path(os.environ.get("TMUX_TMPDIR") or "/tmp") / f"tmux-{os.getuid()}"
        (tmpdir / self.session).unlink(missing_ok=True)  # ... but leaves its socket behind
