"""Build step: the modules every archived message passes through are compiled to C with mypyc.

Why: with one core, the event loop's Python work was over half of the CPU an archived message
costs (bench/README.md). mypyc turns these typed modules into C extensions, with the same
behaviour; the ``.py`` files stay in the package and are what runs wherever the extensions were
not built. Set ``GARRULUS_PURE_PYTHON=1`` to skip compiling; a machine without a C compiler
skips it by itself (the extensions are optional).

After editing a compiled module in an editable install (``pip install -e .``), run that
command again: ``garrulus/_compiled.py`` refuses to start with an extension older than its
source.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys

from setuptools import setup

# The hot path of a message: read, parse, route, decide, archive, deliver, write.
COMPILED = [
    "garrulus/core/clock.py",
    "garrulus/core/delivery.py",
    "garrulus/core/events.py",
    "garrulus/core/host.py",
    "garrulus/core/pipeline.py",
    "garrulus/core/router.py",
    "garrulus/core/routes.py",
    "garrulus/core/session.py",
    "garrulus/modules/carbons.py",
    "garrulus/modules/mam/archiver.py",
    "garrulus/modules/mam/ids.py",
    "garrulus/modules/mam/policy.py",
    "garrulus/modules/mam/prefs.py",
    "garrulus/modules/mam/prefs_store.py",
    "garrulus/modules/mam/retraction.py",
    "garrulus/modules/message.py",
    "garrulus/net/c2s.py",
    "garrulus/storage/dedup.py",
    "garrulus/storage/ids.py",
    "garrulus/storage/sql/archive.py",
    "garrulus/storage/sql/archive_write.py",
    "garrulus/storage/sql/database.py",
    "garrulus/storage/sql/writer.py",
    "garrulus/stream/negotiation.py",
    "garrulus/stream/parser.py",
    "garrulus/stream/sm.py",
    "garrulus/xmpp/jid.py",
    "garrulus/xmpp/stanza.py",
    "garrulus/xmpp/xml.py",
]
# Not compiled, as mypyc builds them but they fail when loaded or used:
# - core/event_types.py: mypyc evaluates a dataclass's annotations when the module loads, and
#   StanzaEvent names Host and Session, which are imported for type checking only;
# - xmpp/errors.py: frozen dataclasses that are exceptions;
# - storage/api.py: a @runtime_checkable Protocol;
# - modules/smacks.py: a test hands its event a stand-in for the session (its per-stanza
#   counting is stream/sm.py, which is compiled).


# Commands that build or install code; pip's other hooks (egg_info, dist_info) only want the
# metadata, and mypycify's analysis would run once more for nothing.
_BUILDS = {"build", "build_ext", "bdist_wheel", "editable_wheel", "install", "develop"}


def _extensions() -> list:  # type: ignore[type-arg]
    if os.environ.get("GARRULUS_PURE_PYTHON") or not _BUILDS & set(sys.argv[1:]):
        return []
    try:
        from mypyc.build import mypycify
    except ImportError:
        print("garrulus: mypyc is not installed; the pure-Python modules will run", file=sys.stderr)
        return []
    # The build environment has none of the runtime dependencies, so their types are unknown
    # here: the project's strict mypy settings (pyproject.toml) are for `mypy`, not for this.
    root = os.path.dirname(os.path.abspath(__file__))
    config = os.path.join(root, "mypyc.ini")
    extensions = mypycify(["--config-file", config, *COMPILED], opt_level="3")
    # What garrulus/_compiled.py checks at import: the sources these extensions were built from.
    digests = {}
    for path in COMPILED:
        with open(os.path.join(root, path), "rb") as source:
            digests[path.removeprefix("garrulus/")] = hashlib.sha256(source.read()).hexdigest()
    with open(os.path.join(root, "garrulus", "_compiled_sources.json"), "w") as manifest:
        json.dump(digests, manifest, indent=1, sort_keys=True)
    for extension in extensions:
        extension.optional = True  # no compiler: a warning, and the .py files run
    return extensions


setup(ext_modules=_extensions())
