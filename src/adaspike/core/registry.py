"""One registry shape for everything extended by name: neurons, retime maps, models, scan backends, encoders,
surrogates, NIR conventions and profiles, conversion neurons and datasets.

A :class:`Registry` is a mapping name → entry (aliases included) with one way to add (``add`` or the ``register``
decorator), one duplicate check, one listing (``names()``, without aliases) and one error text for an unknown name.
It lives in the core, the lowest floor, so that every package can keep its own registry in it.
"""
from __future__ import annotations

from collections.abc import Iterator, MutableMapping
from importlib import import_module
from pkgutil import iter_modules
from typing import Callable, Generic, TypeVar

__all__ = ["Registry", "UnknownName", "import_package_modules"]

Entry = TypeVar("Entry")


class UnknownName(KeyError, ValueError):
    """A name nobody registered: a ValueError to callers that validate input, a KeyError to mapping code
    (``dict.get``-style lookups, ``pop``, ``monkeypatch.setitem``)."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""  # KeyError would print the message quoted


class Registry(MutableMapping[str, Entry], Generic[Entry]):
    """Entries by name. ``kind`` names what is registered, for the messages ("neuron", "dataset", ...).

    Registering another entry under a taken name (or alias) raises; registering the same entry again is a no-op,
    so that re-importing a module is harmless. Item assignment replaces on purpose (tests patch entries with it).
    """

    def __init__(self, kind: str, entries: dict[str, Entry] | None = None, *, also: tuple[str, ...] = ()):
        self.kind = kind
        self.also = tuple(also)  # names the owner handles outside the registry ("auto", "none"), for the error text
        self._entries: dict[str, Entry] = {}
        self._primary: dict[str, None] = {}  # names without aliases, in registration order
        for name, entry in (entries or {}).items():
            self.add(name, entry)

    def add(self, name: str, entry: Entry, *aliases: str, replace: bool = False) -> Entry:
        """Register ``entry`` under ``name`` and ``aliases``; raises ValueError if one is taken by another entry,
        unless ``replace``."""
        for key in (name, *aliases):
            taken = self._entries.get(key, entry)
            if taken is not entry and not replace:
                raise ValueError(f"{self.kind} name {key!r} is already registered to {_label(taken)}")
        for key in (name, *aliases):
            self._entries[key] = entry
        self._primary[name] = None
        return entry

    def register(self, name: str, *aliases: str) -> Callable[[Entry], Entry]:
        """Decorator form of :meth:`add`; returns the decorated object unchanged."""

        def wrap(entry: Entry) -> Entry:
            return self.add(name, entry, *aliases)

        return wrap

    def names(self) -> list[str]:
        """The registered names without aliases, in registration order."""
        return list(self._primary)

    def unknown(self, name: object) -> str:
        """The one error text for a name that is not registered."""
        return f"unknown {self.kind} {name!r}; choose one of {[*self.also, *sorted(self._primary)]}"

    def __getitem__(self, name: str) -> Entry:
        try:
            return self._entries[name]
        except (KeyError, TypeError):  # TypeError: an unhashable name is unknown too
            raise UnknownName(self.unknown(name)) from None

    def __setitem__(self, name: str, entry: Entry) -> None:
        self._entries[name] = entry
        self._primary[name] = None

    def __delitem__(self, name: str) -> None:
        """Remove ``name``; removing a primary name removes its aliases too."""
        entry = self[name]
        if name in self._primary:
            del self._primary[name]
            for key in [k for k, v in self._entries.items() if v is entry and k not in self._primary]:
                del self._entries[key]
        self._entries.pop(name, None)

    def __contains__(self, name: object) -> bool:
        try:
            return name in self._entries
        except TypeError:
            return False

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)

    def __repr__(self) -> str:
        return f"Registry({self.kind!r}, {self.names()})"


def _label(entry: object) -> str:
    return str(getattr(entry, "__name__", None) or getattr(entry, "name", None) or repr(entry))


def import_package_modules(package: str) -> None:
    """Import every module of ``package``: modules that register themselves when imported (a model, a dataset)
    then need no import list, so adding one is adding its file."""
    for module in iter_modules(import_module(package).__path__):
        import_module(f"{package}.{module.name}")
