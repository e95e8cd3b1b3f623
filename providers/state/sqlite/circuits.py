"""Where circuit state lives: in this process, or in the host's shared SQLite state file.

A circuit's state is one small record, changed by a function in one transaction,
so every worker sharing the file sees one circuit: a provider opened by one worker
is skipped by all, and its half-open trial is claimed by one of them only. A record
back at rest (closed, no failures) is deleted, so the store holds only circuits that
have something to say. A shared store that cannot answer in time falls back to this
process's own records.

Each attempt reads its provider's circuit twice (before and after), and circuits change
rarely: a process keeps what it read, and reads the table again only when the host's
shared generation word (``generation.py``) has changed since, or after ``KEEP_SECONDS``.
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
from providers.state.sqlite.generation import Generation

log = logging.getLogger(__name__)
T = TypeVar("T")

#: The longest a process answers from a record it read without reading it again, whatever
#: the generation word says (a writer that does not change the word, as an older keyrelay
#: sharing the file during an upgrade, is seen this late at most).
KEEP_SECONDS = 1.0
#: Most circuits a process keeps a read of (one per provider).
MAX_KEPT = 1024


class SqliteCircuits:
    """Circuit records in the state file, shared by the host's workers; local on failure."""

    clock: Callable[[], float] | None = staticmethod(time.time)

    def __init__(self, file: SqliteFile | str | Path, *, timeout: float = 0.1) -> None:
        self.file = SqliteFile.of(file, timeout)
        self.standby = self.file.standby
        self._local = InMemoryCircuits()
        self._generation = Generation(Path(f"{self.file.path}-circuits"))
        #: name -> (the generation word when read, when read, the record read).
        self._kept: dict[str, tuple[bytes, float, CircuitRecord]] = {}
        self.file.on_connect(self._reopened)

    def read(self, name: str) -> CircuitRecord:
        """The record of circuit ``name`` (this process's own while the file is away)."""
        seen = self._generation.value()
        kept = self._kept.get(name)
        now = time.monotonic()
        if (
            kept is not None
            and kept[0] == seen
            and now - kept[1] < KEEP_SECONDS
            and self.standby.up  # while the file is away, this process's own records answer
        ):
            return kept[2]

        def shared() -> CircuitRecord:
            with self.file.read() as db:
                row = db.execute("SELECT state FROM circuits WHERE name = ?", (name,)).fetchone()
            record = decode_record(row[0]) if row else AT_REST
            if seen is not None:
                if len(self._kept) >= MAX_KEPT:
                    self._kept.clear()
                self._kept[name] = (seen, now, record)
            return record

        return self.standby.run(shared, lambda: self._local.read(name), proves=False)

    def _reopened(self) -> None:
        """A new connection (a new process, or the file replaced): what was read is stale."""
        self._kept.clear()
        self._generation.open()

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
            self._changed(name)
            return result

        return self.standby.run(shared, lambda: self._local.change(name, fn))

    def forget(self, name: str) -> None:
        """Drop the record of ``name`` (if the file does not take it, it expires with its wait)."""
        self._local.forget(name)

        def shared() -> None:
            with self.file.write() as db:
                db.execute("DELETE FROM circuits WHERE name = ?", (name,))
            self._changed(name)

        self.standby.attempt(shared)

    def _changed(self, name: str) -> None:
        """After a committed write: every process reads the table again."""
        self._kept.pop(name, None)
        self._generation.bump()
