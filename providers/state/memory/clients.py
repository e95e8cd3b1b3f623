"""Client keys in this process (``memory://``, and each shared store's stand-in)."""

from __future__ import annotations

import threading
from collections.abc import Callable

from providers.clients import window
from providers.clients.records import ClientEntry, ClientRecord, decode_window
from providers.clients.window import Ask, Verdict
from providers.state.contract import StateUnavailable


class InMemoryClients:
    """Client entries by name, and their names by prefix, behind one lock.

    As a shared store's stand-in it keeps what that store said last; a window it was
    told as JSON is decoded only if the stand-in is ever asked (an outage).
    """

    clock: Callable[[], float] | None = None

    def __init__(self) -> None:
        self._entries: dict[str, ClientEntry | tuple[ClientRecord, bytes]] = {}
        self._names: dict[str, str] = {}
        self._lock = threading.Lock()

    def lookup(self, prefix: str) -> ClientEntry | None:
        """The entry whose key starts with ``prefix``."""
        with self._lock:
            name = self._names.get(prefix)
            return self._entry(name) if name is not None else None

    def entries(self) -> list[ClientEntry]:
        """Every entry, by name."""
        with self._lock:
            return [e for n in sorted(self._entries) if (e := self._entry(n)) is not None]

    def create(self, entry: ClientEntry) -> bool:
        """Add ``entry``; False when its name is taken."""
        with self._lock:
            if entry.record.name in self._entries:
                return False
            self._put(entry)
            return True

    def edit(self, name: str, fn: Callable[[ClientEntry], ClientEntry]) -> ClientEntry | None:
        """Replace the entry ``name`` by ``fn``'s result."""
        with self._lock:
            entry = self._entry(name)
            if entry is None:
                return None
            changed = fn(entry)
            self._put(changed)
            return changed

    def admit(self, prefix: str, digest: str, ask: Ask, now: float) -> Verdict:
        """Find, check and count the key in one step (``window.admit_entry``)."""
        with self._lock:
            name = self._names.get(prefix)
            changed, verdict = window.admit_entry(self._entry(name), digest, ask, now)
            if changed is not None:
                self._put(changed)
            return verdict

    def lookup_away(self, prefix: str) -> ClientEntry | None:
        """``lookup`` as a shared store's stand-in: ``StateUnavailable`` for a key this
        process never read (it may well exist: only the store can say)."""
        found = self.lookup(prefix)
        if found is None:
            raise StateUnavailable("the client key store does not answer, and this process "
                                   "never read this key")  # fmt: skip
        return found

    def admit_away(self, prefix: str, digest: str, ask: Ask, now: float) -> Verdict:
        """``admit`` as a shared store's stand-in (``StateUnavailable`` as ``lookup_away``)."""
        self.lookup_away(prefix)
        return self.admit(prefix, digest, ask, now)

    def settle(self, name: str, hold: str, tokens: int, cost: float, now: float) -> None:
        """Release ``hold`` and count what its request used."""
        with self._lock:
            entry = self._entry(name)
            if entry is not None:
                self._put(window.settle(entry, hold, tokens, cost, now))

    def keep(self, entry: ClientEntry | ClientRecord, window_json: bytes = b"") -> None:
        """Hold a copy of what the shared store said (what an outage falls back to): an
        entry, or a record and its window's JSON."""
        kept = entry if isinstance(entry, ClientEntry) else (entry, window_json)
        with self._lock:
            self._put(kept)

    def _entry(self, name: str | None) -> ClientEntry | None:
        found = self._entries.get(name) if name is not None else None
        if isinstance(found, tuple):
            record, window_json = found
            found = self._entries[record.name] = ClientEntry(record, decode_window(window_json))
        return found

    def _put(self, entry: ClientEntry | tuple[ClientRecord, bytes]) -> None:
        record = entry.record if isinstance(entry, ClientEntry) else entry[0]
        old = self._entries.get(record.name)
        if old is not None:
            old_prefix = old.record.prefix if isinstance(old, ClientEntry) else old[0].prefix
            if old_prefix != record.prefix:
                self._names.pop(old_prefix, None)
        self._entries[record.name] = entry
        self._names[record.prefix] = record.name
