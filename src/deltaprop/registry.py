"""Named tables: the one way deltaprop turns a name (from a config, the command line or a
model file) into a layer, loss, optimizer, schedule or initialiser.

A :class:`Registry` is a closed table: nothing outside it is ever imported or evaluated.
Aliases are entries of their own (``"mse"`` and ``"mean_squared_error"`` name the same
class), and every name is compared after :func:`normalise`, so ``"Cross-Entropy"``,
``"cross_entropy"`` and ``"CROSS ENTROPY"`` are one name.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any, Generic, TypeVar

from .errors import ConfigError

T = TypeVar("T")


def normalise(name: Any) -> str:
    """The form names are compared in: stripped, lower case, ``-`` and spaces as ``_``."""
    return str(name).strip().lower().replace("-", "_").replace(" ", "_")


class Registry(Mapping[str, T], Generic[T]):
    """A table of ``kind`` (``"loss"``, ``"optimizer"``, ...) entries by name, plus
    ``aliases``: more entries, found like the others but left out of iteration and of the
    choices an error lists. Lookups (``table[name]``, ``name in table``, ``get``)
    normalise the name first; iterating gives the main names as written."""

    def __init__(self, kind: str, entries: Mapping[str, T], *, aliases: Mapping[str, T] | None = None):
        self.kind = kind
        self._names = list(entries)
        every = [*entries.items(), *(aliases or {}).items()]
        self._entries = {normalise(name): value for name, value in every}
        if len(self._entries) != len(every):
            raise ValueError(f"two {kind} names normalise to the same key: {[name for name, _ in every]}")

    def add(self, name: str, value: T) -> None:
        """A new entry, for a module the table's own cannot import (it would import itself)."""
        key = normalise(name)
        if key in self._entries:
            raise ValueError(f"the {self.kind} {name!r} is already registered")
        self._entries[key] = value
        self._names.append(name)

    def __getitem__(self, name: str) -> T:
        return self._entries[normalise(name)]

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and normalise(name) in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self._names)

    def __len__(self) -> int:
        return len(self._names)

    def lookup(self, name: Any) -> T:
        """The entry for ``name``; an unknown name raises :class:`ConfigError` listing the choices."""
        if isinstance(name, str) and name in self:
            return self[name]
        raise ConfigError(f"unknown {self.kind} {name!r}; choose one of {', '.join(self._names)}")

    def create(self, spec: str | Mapping[str, Any], **settings: Any):
        """An instance from a name and ``settings``, or from a config mapping
        ``{"type": name, **settings}`` (what the instances' ``config()`` gives)."""
        if isinstance(spec, Mapping):
            if not isinstance(spec.get("type"), str):
                raise ConfigError(f"a {self.kind} config must be a mapping with a 'type' name, got {dict(spec)!r}")
            settings = {**{k: v for k, v in spec.items() if k != "type"}, **settings}
            spec = spec["type"]
        cls = self.lookup(spec)
        try:
            return cls(**settings)
        except TypeError as exc:
            raise ConfigError(f"bad settings for {self.kind} {spec!r}: {exc}") from None
