"""The style rules hold: ruff and mypy (strict) are clean on the package and its tests."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, cwd=ROOT, capture_output=True, text=True, timeout=600)


@pytest.mark.skipif(shutil.which("ruff") is None, reason="ruff is not installed")
def test_ruff_is_clean() -> None:
    proc = _run("ruff", "check", "garrulus", "tests")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    proc = _run("ruff", "format", "--check", "garrulus", "tests")
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_mypy_strict_is_clean() -> None:
    pytest.importorskip("mypy")
    proc = _run(sys.executable, "-m", "mypy", "garrulus")
    assert proc.returncode == 0, proc.stdout + proc.stderr
