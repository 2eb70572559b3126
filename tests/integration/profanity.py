"""Drive the profanity console client through tmux, as a person at a terminal would."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import uuid
from pathlib import Path

import pytest


def require_profanity() -> None:
    missing = [tool for tool in ("profanity", "tmux") if shutil.which(tool) is None]
    if missing:
        pytest.skip(f"{' and '.join(missing)} not installed (apt-get install profanity tmux)")


class Profanity:
    def __init__(self, home: Path) -> None:
        require_profanity()
        self.home = home
        self.session = f"prof-{uuid.uuid4().hex[:8]}"
        home.mkdir(parents=True, exist_ok=True)

    def _tmux(self, *args: str) -> str:
        env = {**os.environ, "HOME": str(self.home), "TERM": "xterm-256color"}
        proc = subprocess.run(["tmux", *args], capture_output=True, text=True, env=env, timeout=20)
        return proc.stdout

    def start(self) -> None:
        self._tmux("new-session", "-d", "-s", self.session, "-x", "220", "-y", "50", "profanity")

    def type(self, line: str) -> None:
        self._tmux("send-keys", "-t", self.session, "-l", line)
        self._tmux("send-keys", "-t", self.session, "Enter")

    def screen(self) -> str:
        return self._tmux("capture-pane", "-t", self.session, "-p", "-S", "-200")

    async def wait_for(self, text: str, timeout: float = 15.0) -> str:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            screen = await asyncio.to_thread(self.screen)
            if text in screen:
                return screen
            if loop.time() > deadline:
                raise AssertionError(f"{text!r} never appeared on profanity's screen:\n{screen}")
            await asyncio.sleep(0.2)

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
                raise AssertionError(f"{text!r} never appeared in profanity:\n{screen}")

    async def connect(self, jid: str, password: str, port: int) -> None:
        await self.wait_for("Type '/help'")
        self.type(f"/connect {jid} server 127.0.0.1 port {port} tls trust")
        await self.wait_for("password", timeout=10)
        self.type(password)
        await self.wait_for("logged in successfully")

    def stop(self) -> None:
        self._tmux("kill-session", "-t", self.session)
