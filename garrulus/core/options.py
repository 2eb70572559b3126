"""Typed option declarations: the core's and each module's, validated before anything starts.

A module lists its options in a module-level ``OPTIONS`` tuple, so ``garrulus check`` can validate
a whole config file without loading (setting up) any module.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

T = TypeVar("T")


class OptionValueError(ValueError):
    """Raised by an option's parser; the message says what was expected."""


@dataclass(frozen=True)
class Option(Generic[T]):
    """One configuration option.

    ``type`` is a type pydantic can validate strictly (``int``, ``bool``, ``list[str]``,
    ``Literal[...]``, a TypedDict ...). ``parse``, when given, takes the raw TOML value instead and
    returns the typed value or raises :class:`OptionValueError` naming the accepted forms.
    """

    name: str
    type: Any
    default: T
    doc: str
    parse: Callable[[Any], T] | None = None
    # False for options that only make sense once per process (ports, data_path, log ...).
    per_host: bool = True
    # Expected forms, shown in errors when a custom parser rejects a value.
    expected: str | None = None
