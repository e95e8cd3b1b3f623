"""Where circuit state lives: in this process, or in the host's shared SQLite state file.

A circuit's state is one small record, changed by a function in one transaction,
so every worker sharing the file sees one circuit: a provider opened by one worker
is skipped by all, and its half-open trial is claimed by one of them only. A record
back at rest (closed, no failures) is deleted, so the store holds only circuits that
have something to say. A shared store that cannot answer in time falls back to this
process's own records.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
import time
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol, TypeVar

from .sqlite.file import SqliteFile

log = logging.getLogger(__name__)
T = TypeVar("T")


@dataclass(frozen=True)
class CircuitRecord:
    """One circuit's state."""

    #: Failures in a row (reset by any sign of life).
    failures: int = 0
    opens: int = 0
    open_until: float = 0.0
    #: A trial is in flight until then (0: none); a trial that never reports expires.
    trial_until: float = 0.0
    #: Aggregators: the models the current run of failures spans.
    models: tuple[str, ...] = field(default=())
    #: Every failure of the current run was a connection failure.
    unreachable: bool = True
    #: The window (started by a failure): when it began, its calls and its failed calls.
    since: float = 0.0
    calls: int = 0
    failed: int = 0

    @property
    def at_rest(self) -> bool:
        """Closed with nothing counted: nothing worth keeping."""
        return not (self.failures or self.opens or self.trial_until or self.failed)


AT_REST = CircuitRecord()


class CircuitStore(Protocol):
    """Where circuit records live; ``change`` is atomic."""

    #: The clock the records' times are on (shared stores: wall-clock).
    clock: Callable[[], float] | None

    def read(self, name: str) -> CircuitRecord:
        """The record of circuit ``name``."""
        ...

    def change(self, name: str, fn: Callable[[CircuitRecord], tuple[CircuitRecord, T]]) -> T:
        """Replace the record by ``fn``'s first result atomically; return its second."""
        ...

    def forget(self, name: str) -> None:
        """Drop the record of ``name`` (a model circuit evicted from its bound)."""
        ...


class InMemoryCircuits:
    """Circuit records in this process."""

    clock: Callable[[], float] | None = None

    def __init__(self) -> None:
        self._records: dict[str, CircuitRecord] = {}
        self._lock = threading.Lock()

    def read(self, name: str) -> CircuitRecord:
        """The record of circuit ``name``."""
        return self._records.get(name, AT_REST)

    def change(self, name: str, fn: Callable[[CircuitRecord], tuple[CircuitRecord, T]]) -> T:
        """Replace the record by ``fn``'s first result atomically; return its second."""
        with self._lock:
            record, result = fn(self._records.get(name, AT_REST))
            if record.at_rest:
                self._records.pop(name, None)
            else:
                self._records[name] = record
            return result

    def forget(self, name: str) -> None:
        """Drop the record of ``name``."""
        with self._lock:
            self._records.pop(name, None)


class SqliteCircuits(SqliteFile):
    """Circuit records in the state file, shared by the host's workers; local on failure."""

    clock: Callable[[], float] | None = staticmethod(time.time)

    def __init__(self, path: str | Path, *, timeout: float = 0.1) -> None:
        self._local = InMemoryCircuits()
        self.up = True
        super().__init__(path, timeout=timeout)

    def read(self, name: str) -> CircuitRecord:
        """The record of circuit ``name`` (this process's own while the file is away)."""
        try:
            with self._read() as db:
                row = db.execute("SELECT state FROM circuits WHERE name = ?", (name,)).fetchone()
        except sqlite3.Error:
            return self._local.read(name)
        return decode_record(row[0]) if row else AT_REST

    def change(self, name: str, fn: Callable[[CircuitRecord], tuple[CircuitRecord, T]]) -> T:
        """Replace the record by ``fn``'s first result in one transaction; return its second."""
        try:
            with self._write() as db:
                row = db.execute("SELECT state FROM circuits WHERE name = ?", (name,)).fetchone()
                record, result = fn(decode_record(row[0]) if row else AT_REST)
                if record.at_rest:
                    db.execute("DELETE FROM circuits WHERE name = ?", (name,))
                else:
                    db.execute(
                        "INSERT OR REPLACE INTO circuits (name, state) VALUES (?, ?)",
                        (name, encode_record(record)),
                    )
        except sqlite3.Error as exc:
            if self.up:
                self.up = False
                log.warning("circuit state falls back to this process's own (%s)", exc)
            return self._local.change(name, fn)
        self.up = True
        return result

    def forget(self, name: str) -> None:
        """Drop the record of ``name``."""
        self._local.forget(name)
        with suppress(sqlite3.Error), self._write() as db:  # if not, it expires with its wait
            db.execute("DELETE FROM circuits WHERE name = ?", (name,))


def encode_record(record: CircuitRecord) -> str:
    """A record as JSON, for a shared store."""
    data = record.__dict__ | {"models": list(record.models)}
    return json.dumps(data, separators=(",", ":"))


def decode_record(raw: str | bytes) -> CircuitRecord:
    """A record from its JSON."""
    data = json.loads(raw)
    data["models"] = tuple(data.get("models") or ())
    return CircuitRecord(**data)
