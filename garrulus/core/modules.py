"""The module manager: find modules by name, check their options, load them per host.

A module is a Python module (``garrulus.modules.<name>`` for built-ins, or a dotted path) with:
``OPTIONS`` (tuple of :class:`~garrulus.core.options.Option`), optional ``DEPENDS`` (names of
modules it needs loaded first) and ``setup(module: ModuleContext)``, sync or async, whose return
value is the API other modules get from ``module.depends(name)``.
"""

from __future__ import annotations

import importlib
import inspect
from dataclasses import dataclass
from types import ModuleType
from typing import TYPE_CHECKING, Any

from garrulus.core.module_api import ModuleContext, ModuleError
from garrulus.core.options import Option

if TYPE_CHECKING:
    from garrulus.core.host import Host

BUILTIN = (
    "disco",
    "ping",
    "version",
    "time",
    "register",
    "message",
    "roster",
    "presence",
    "offline",
    "carbons",
    "blocking",
    "smacks",
    "mam",
)


@dataclass
class LoadedModule:
    name: str
    pymodule: ModuleType
    context: ModuleContext
    api: Any


def import_module(name: str) -> ModuleType:
    path = name if "." in name else f"garrulus.modules.{name}"
    try:
        return importlib.import_module(path)
    except ModuleNotFoundError as exc:
        if exc.name == path or (exc.name and path.startswith(exc.name)):
            raise ModuleError(f"unknown module {name!r} (no Python module {path})") from None
        raise


def module_options(name: str) -> tuple[Option[Any], ...]:
    return tuple(getattr(import_module(name), "OPTIONS", ()))


def known_option_sets(extra: list[str] | None = None) -> dict[str, tuple[Option[Any], ...]]:
    """Options of every built-in module (and ``extra`` ones), for config validation."""
    sets: dict[str, tuple[Option[Any], ...]] = {}
    for name in [*BUILTIN, *(extra or [])]:
        try:
            sets[name] = module_options(name)
        except ModuleError:
            if name in BUILTIN:
                continue  # a built-in not written yet has no options to declare
            raise
    return sets


async def load_module(
    host: Host, name: str, core_options: frozenset[str], _chain: tuple[str, ...] = ()
) -> LoadedModule:
    if name in host.modules:
        return host.modules[name]
    if name in _chain:
        raise ModuleError(
            f"modules depend on each other in a circle: {' -> '.join((*_chain, name))}"
        )
    pymodule = import_module(name)
    for dep in getattr(pymodule, "DEPENDS", ()):
        await load_module(host, dep, core_options, (*_chain, name))
    setup = getattr(pymodule, "setup", None)
    if setup is None:
        raise ModuleError(f"module {name!r} has no setup() function")
    declared = frozenset(o.name for o in getattr(pymodule, "OPTIONS", ()))
    ctx = ModuleContext(name, host, declared | core_options)
    try:
        api = setup(ctx)
        if inspect.isawaitable(api):
            api = await api
    except Exception:
        ctx.unload()
        raise
    loaded = LoadedModule(name, pymodule, ctx, api)
    host.modules[name] = loaded
    host.log.debug("loaded module %s", name)
    return loaded


def unload_module(host: Host, name: str) -> None:
    loaded = host.modules.pop(name, None)
    if loaded is not None:
        loaded.context.unload()
