"""Where circuit state lives: in this process, or in the host's shared SQLite state file.

A circuit's state is one small record, changed by a function in one transaction,
so every worker sharing the file sees one circuit: a provider opened by one worker
is skipped by all, and its half-open trial is claimed by one of them only. A record
back at rest (closed, no failures) is deleted, so the store holds only circuits that
have something to say. A shared store that cannot answer in time falls back to this
process's own records.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from providers.state.memory.circuits import InMemoryCircuits
from providers.state.records import AT_REST, CircuitRecord, decode_record, encode_record
from providers.state.sqlite.file import SqliteFile

log = logging.getLogger(__name__)
T = TypeVar("T")


class SqliteCircuits:
    """Circuit records in the state file, shared by the host's workers; local on failure."""

    clock: Callable[[], float] | None = staticmethod(time.time)

    def __init__(self, file: SqliteFile | str | Path, *, timeout: float = 0.1) -> None:
        self.file = SqliteFile.of(file, timeout)
        self.standby = self.file.standby
        self._local = InMemoryCircuits()

    def read(self, name: str) -> CircuitRecord:
        """The record of circuit ``name`` (this process's own while the file is away)."""

        def shared() -> CircuitRecord:
            with self.file.read() as db:
                row = db.execute("SELECT state FROM circuits WHERE name = ?", (name,)).fetchone()
            return decode_record(row[0]) if row else AT_REST

        return self.standby.run(shared, lambda: self._local.read(name), proves=False)

    def change(self, name: str, fn: Callable[[CircuitRecord], tuple[CircuitRecord, T]]) -> T:
        """Replace the record by ``fn``'s first result in one transaction; return its second."""

        def shared() -> T:
            with self.file.write() as db:
                row = db.execute("SELECT state FROM circuits WHERE name = ?", (name,)).fetchone()
                record, result = fn(decode_record(row[0]) if row else AT_REST)
                if record.at_rest:
                    db.execute("DELETE FROM circuits WHERE name = ?", (name,))
                else:
                    db.execute(
                        "INSERT OR REPLACE INTO circuits (name, state) VALUES (?, ?)",
                        (name, encode_record(record)),
                    )
            return result

        return self.standby.run(shared, lambda: self._local.change(name, fn))

    def forget(self, name: str) -> None:
        """Drop the record of ``name`` (if the file does not take it, it expires with its wait)."""
        self._local.forget(name)

        def shared() -> None:
            with self.file.write() as db:
                db.execute("DELETE FROM circuits WHERE name = ?", (name,))

        self.standby.attempt(shared)
