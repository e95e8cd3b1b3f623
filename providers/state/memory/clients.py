"""Client keys in this process (``memory://``, and each shared store's stand-in)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TypeVar

from providers.clients.records import ClientEntry

T = TypeVar("T")


class InMemoryClients:
    """Client entries by name, and their names by prefix, behind one lock."""

    clock: Callable[[], float] | None = None

    def __init__(self) -> None:
        self._entries: dict[str, ClientEntry] = {}
        self._names: dict[str, str] = {}
        self._lock = threading.Lock()

    def lookup(self, prefix: str) -> ClientEntry | None:
        """The entry whose key starts with ``prefix``."""
        name = self._names.get(prefix)
        return self._entries.get(name) if name is not None else None

    def entries(self) -> list[ClientEntry]:
        """Every entry, by name."""
        with self._lock:
            return [self._entries[n] for n in sorted(self._entries)]

    def create(self, entry: ClientEntry) -> bool:
        """Add ``entry``; False when its name is taken."""
        with self._lock:
            if entry.record.name in self._entries:
                return False
            self._put(entry)
            return True

    def edit(self, name: str, fn: Callable[[ClientEntry], ClientEntry]) -> ClientEntry | None:
        """Replace the entry ``name`` by ``fn``'s result."""
        return self.change(name, lambda entry: (changed := fn(entry), changed))

    def change(self, name: str, fn: Callable[[ClientEntry], tuple[ClientEntry, T]]) -> T | None:
        """Replace the entry by ``fn``'s first result; its second (None: no such entry)."""
        with self._lock:
            entry = self._entries.get(name)
            if entry is None:
                return None
            changed, result = fn(entry)
            self._put(changed, entry.record.prefix)
            return result

    def keep(self, entry: ClientEntry) -> None:
        """Hold a copy of what the shared store said (what an outage falls back to)."""
        with self._lock:
            old = self._entries.get(entry.record.name)
            self._put(entry, old.record.prefix if old else None)

    def _put(self, entry: ClientEntry, old_prefix: str | None = None) -> None:
        if old_prefix is not None and old_prefix != entry.record.prefix:
            self._names.pop(old_prefix, None)
        self._entries[entry.record.name] = entry
        self._names[entry.record.prefix] = entry.record.name
