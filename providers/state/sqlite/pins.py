"""Session pins in the state file, for every worker of a host; local while it is away.

A read is one primary-key lookup. Writes are rare (a pin moves, or is renewed a quarter
of its lifetime before it ends); each drops the expired pins, and one in
``TRIM_EVERY`` also trims the table to ``MAX_PINS``, the soonest to expire first.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable
from pathlib import Path

from providers.state.contract import MAX_PINS
from providers.state.memory.pins import InMemoryPins
from providers.state.records import Pin
from providers.state.sqlite.file import SqliteFile

TRIM_EVERY = 32


class SqlitePins:
    """Session pins in the state file."""

    clock: Callable[[], float] | None = staticmethod(time.time)

    def __init__(
        self, file: SqliteFile | str | Path, *, timeout: float = 0.1, limit: int = MAX_PINS
    ) -> None:
        self.file = SqliteFile.of(file, timeout)
        self.standby = self.file.standby
        self._local = InMemoryPins(limit)
        self._limit = limit
        self._writes = itertools.count()

    def get(self, session: str, now: float) -> Pin | None:
        """The session's pin, unless it expired (this process's own while the file is away)."""

        def shared() -> Pin | None:
            with self.file.read() as db:
                row = db.execute(
                    "SELECT provider, key, until FROM pins WHERE session = ? AND until > ?",
                    (session, now),
                ).fetchone()
            return None if row is None else Pin(row[0], row[1], float(row[2]))

        return self.standby.run(shared, lambda: self._local.get(session, now), proves=False)

    def put(self, session: str, pin: Pin, now: float) -> None:
        """Pin the session, in the file and in this process."""
        self._local.put(session, pin, now)
        trim = next(self._writes) % TRIM_EVERY == 0

        def write() -> None:
            with self.file.write() as db:
                db.execute("DELETE FROM pins WHERE until <= ?", (now,))
                db.execute(
                    "INSERT OR REPLACE INTO pins (session, provider, key, until) VALUES (?,?,?,?)",
                    (session, pin.provider, pin.key, pin.until),
                )
                if trim:
                    db.execute(
                        "DELETE FROM pins WHERE session IN (SELECT session FROM pins ORDER BY"
                        " until LIMIT max(0, (SELECT COUNT(*) FROM pins) - ?))",
                        (self._limit,),
                    )

        self.standby.attempt(write)
