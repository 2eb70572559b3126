"""Which modules run compiled (mypyc, see setup.py), and a guard against stale extensions.

In an editable install the extensions sit next to their sources, and Python imports an
extension before a ``.py`` file of the same name: a module edited after the build would run as
it was. The build records a digest of every source it compiled (``_compiled_sources.json``);
importing ``garrulus`` compares them and refuses to run old code under a new source's name.
"""

from __future__ import annotations

import hashlib
import importlib.machinery
import json
from pathlib import Path

MANIFEST = "_compiled_sources.json"
_PACKAGE = Path(__file__).resolve().parent


class StaleExtension(ImportError):
    """A compiled module does not match its source."""


def _extension_of(source: Path) -> Path | None:
    for suffix in importlib.machinery.EXTENSION_SUFFIXES:
        candidate = source.with_name(source.stem + suffix)
        if candidate.exists():
            return candidate
    return None


def compiled_modules(package: Path = _PACKAGE) -> list[str]:
    """Dotted names of the modules that have a built extension beside their source."""
    names = []
    for source in sorted(package.rglob("*.py")):
        if _extension_of(source) is not None:
            relative = source.relative_to(package.parent).with_suffix("")
            names.append(".".join(relative.parts))
    return names


def stale_modules(package: Path = _PACKAGE) -> list[str]:
    """Sources (relative to the package) whose extension was not built from them: edited
    since the build, or compiled by an earlier build only."""
    manifest = package / MANIFEST
    if not manifest.exists():
        return []  # nothing was compiled by setup.py
    digests: dict[str, str] = json.loads(manifest.read_text())
    stale = []
    for relative, digest in sorted(digests.items()):
        source = package / relative
        if _extension_of(source) is None:
            continue  # not built (no compiler, or GARRULUS_PURE_PYTHON): the source runs
        if not source.exists() or hashlib.sha256(source.read_bytes()).hexdigest() != digest:
            stale.append(relative)
    # Left by an earlier build that compiled a module this one no longer does.
    for source in sorted(package.rglob("*.py")):
        relative = source.relative_to(package).as_posix()
        if relative not in digests and _extension_of(source) is not None:
            stale.append(relative)
    return stale


def check() -> None:
    stale = stale_modules(_PACKAGE)
    if stale:
        raise StaleExtension(
            f"compiled module(s) that do not match their source: {', '.join(stale)}. "
            "Build again with `pip install -e .`; an extension the build no longer makes must "
            "be deleted (`git clean -fX garrulus` deletes every build output, and the sources "
            "then run as they are)."
        )
