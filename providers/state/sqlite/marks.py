""" "This provider does not serve this model": 404 marks, in this process or the shared file.

Model names come from clients, so the marks are bounded (``MAX_MISSING`` per provider,
names of at most ``MAX_MODEL_NAME`` characters): past the bound the expired go first,
then the soonest to expire.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

from providers.state.contract import MAX_MISSING
from providers.state.memory.marks import InMemoryMarks
from providers.state.mirror import Mirror
from providers.state.sqlite.file import SqliteFile

#: A worker reads a provider's marks from the file at most this often (a 404 mark set by
#: another worker reaches it within this; key blocks, by contrast, are read every time).
MIRROR_SECONDS = 1.0


class SqliteMarks:
    """404 marks in the state file, for every worker of a host; local while it is away."""

    clock: Callable[[], float] | None = staticmethod(time.time)

    def __init__(self, file: SqliteFile | str | Path, *, timeout: float = 0.1) -> None:
        self.file = SqliteFile.of(file, timeout)
        self.standby = self.file.standby
        self._local = InMemoryMarks()
        #: Marks the file did not take (it may still answer reads): laid over what it says.
        self._unwritten = InMemoryMarks()
        #: Each provider's marks, as last read from the file.
        self._mirror: Mirror[dict[str, float]] = Mirror(MIRROR_SECONDS)

    def _marks_of(self, provider: str) -> dict[str, float]:
        def read() -> dict[str, float]:
            with self.file.read() as db:
                rows = db.execute(  # at most MAX_MISSING rows: expired ones go on the next mark
                    "SELECT model, until FROM marks WHERE provider = ?", (provider,)
                ).fetchall()
            return {model: float(until) for model, until in rows}

        found = self.standby.run(
            lambda: self._mirror.get(provider, read), lambda: self._local.of(provider), proves=False
        )
        unwritten = self._unwritten.of(provider)
        if not unwritten:
            return found
        return found | {m: u for m, u in unwritten.items() if u > found.get(m, 0.0)}

    def mark(self, provider: str, model: str, until: float, now: float) -> None:
        """``provider`` does not serve ``model`` until ``until`` (the file bounded too)."""
        self._local.mark(provider, model, until, now)
        self._mirror.drop(provider)  # this worker sees its own mark at once
        if not self.standby.attempt(lambda: self._write_mark(provider, model, until, now)):
            self._unwritten.mark(provider, model, until, now)
            return
        # The file writes again: what it missed is written now and no longer laid over it.
        for missed, missed_until in list(self._unwritten.of(provider).items()):
            if missed_until > now and not self.standby.attempt(
                partial(self._write_mark, provider, missed, missed_until, now)
            ):
                return
        self._unwritten.forget(provider)

    def _write_mark(self, provider: str, model: str, until: float, now: float) -> None:
        with self.file.write() as db:
            db.execute("DELETE FROM marks WHERE provider = ? AND until <= ?", (provider, now))
            db.execute(
                "INSERT OR REPLACE INTO marks (provider, model, until) VALUES (?, ?, ?)",
                (provider, model, until),
            )
            db.execute(
                "DELETE FROM marks WHERE provider = ? AND model NOT IN (SELECT model FROM marks"
                " WHERE provider = ? ORDER BY until DESC LIMIT ?)",
                (provider, provider, MAX_MISSING),
            )

    def until(self, provider: str, model: str) -> float | None:
        """When ``provider`` may serve ``model`` again, if it was marked."""
        return self._marks_of(provider).get(model)

    def any_live(self, provider: str, now: float) -> bool:
        """True when some mark of ``provider`` has not expired."""
        return any(until > now for until in self._marks_of(provider).values())

    def count(self, provider: str) -> int:
        """How many marks of ``provider`` are kept."""

        def shared() -> int:
            with self.file.read() as db:
                row = db.execute("SELECT COUNT(*) FROM marks WHERE provider = ?", (provider,))
                return int(row.fetchone()[0])

        return self.standby.run(shared, lambda: self._local.count(provider), proves=False)
