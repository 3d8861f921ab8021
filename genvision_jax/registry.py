"""Named registries filled where things are defined, so a lower layer finds higher ones by name.

    DATASETS = Registry("dataset", discover="genvision_jax.data.datasets")

    @DATASETS.register("digits")                 # in genvision_jax/data/datasets/digits.py
    def make_builder(data_dir, **config): ...

    DATASETS.get("digits")                       # imports every module of the package once, then looks up

A lookup imports the modules of the `discover` package (once per process), so the package that owns
the registry never imports the modules that register (no import circle, no hand-edited table), and
a new module is found by being there.
"""

from __future__ import annotations

import importlib
import pkgutil
from typing import Any, Callable, Iterator, TypeVar

from genvision_jax.errors import UnknownNameError

T = TypeVar("T")


class Registry:
    """name -> object, with the modules of `discover` (a package name) imported on first lookup."""

    def __init__(self, kind: str, discover: str | None = None):
        self.kind = kind
        self._discover = discover
        self._discovered = discover is None
        self._entries: dict[str, Any] = {}

    def register(self, name: str, obj: Any = None) -> Callable[[T], T] | Any:
        """`register(name, obj)`, or `@register(name)` as a decorator; a name is registered once."""
        if not isinstance(name, str) or not name:
            raise ValueError(f"{self.kind} names must be non-empty strings, got {name!r}")

        def add(value):
            if name in self._entries and self._entries[name] is not value:
                raise ValueError(f"{self.kind} {name!r} is registered twice")
            self._entries[name] = value
            return value

        return add if obj is None else add(obj)

    def _discover_all(self) -> None:
        if self._discovered:
            return
        self._discovered = True
        package = importlib.import_module(self._discover)
        for info in pkgutil.iter_modules(package.__path__):
            if not info.name.startswith("_"):
                importlib.import_module(f"{self._discover}.{info.name}")

    def get(self, name: str) -> Any:
        """The object registered as `name`; an unknown name raises UnknownNameError listing the known ones."""
        self._discover_all()
        if name not in self._entries:
            raise UnknownNameError(f"unknown {self.kind} {name!r}; valid: {self.names()}")
        return self._entries[name]

    def names(self) -> list[str]:
        self._discover_all()
        return sorted(self._entries)

    def __contains__(self, name: str) -> bool:
        self._discover_all()
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())
