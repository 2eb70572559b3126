"""garrulus/_compiled.py: an extension built from an older source is refused, not run."""

from __future__ import annotations

import hashlib
import importlib.machinery
import json
from pathlib import Path

import pytest

from garrulus import _compiled

SUFFIX = importlib.machinery.EXTENSION_SUFFIXES[0]


def package(tmp_path: Path, built_from: bytes, now: bytes, *, extension: bool = True) -> Path:
    root = tmp_path / "garrulus"
    (root / "core").mkdir(parents=True)
    (root / "core" / "events.py").write_bytes(now)
    (root / "core" / "host.py").write_bytes(b"# not compiled\n")
    if extension:
        (root / "core" / ("events" + SUFFIX)).write_bytes(b"\x7fELF stand-in")
    digest = hashlib.sha256(built_from).hexdigest()
    (root / _compiled.MANIFEST).write_text(json.dumps({"core/events.py": digest}))
    return root


def test_an_extension_built_from_this_source_is_fine(tmp_path: Path) -> None:
    root = package(tmp_path, b"x = 1\n", b"x = 1\n")
    assert _compiled.stale_modules(root) == []
    assert _compiled.compiled_modules(root) == ["garrulus.core.events"]


def test_an_edited_source_makes_its_extension_stale(tmp_path: Path) -> None:
    root = package(tmp_path, b"x = 1\n", b"x = 2\n")
    assert _compiled.stale_modules(root) == ["core/events.py"]


def test_an_extension_the_last_build_did_not_make_is_stale(tmp_path: Path) -> None:
    root = package(tmp_path, b"x = 1\n", b"x = 1\n")
    (root / "core" / ("host" + SUFFIX)).write_bytes(b"\x7fELF left over")
    assert _compiled.stale_modules(root) == ["core/host.py"]


def test_a_module_that_was_not_built_runs_its_source(tmp_path: Path) -> None:
    # No compiler, or GARRULUS_PURE_PYTHON: the manifest is there, the extension is not.
    root = package(tmp_path, b"x = 1\n", b"x = 2\n", extension=False)
    assert _compiled.stale_modules(root) == []
    assert _compiled.compiled_modules(root) == []


def test_check_names_the_stale_module_and_the_fix(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = package(tmp_path, b"x = 1\n", b"x = 2\n")
    monkeypatch.setattr(_compiled, "_PACKAGE", root)
    with pytest.raises(_compiled.StaleExtension) as raised:
        _compiled.check()
    assert "core/events.py" in str(raised.value)
    assert "pip install -e ." in str(raised.value)


def test_this_checkout_has_no_stale_extension() -> None:
    assert _compiled.stale_modules() == []
