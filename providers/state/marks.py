""" "This provider does not serve this model": 404 marks, in this process or the shared file.

Model names come from clients, so the marks are bounded (``MAX_MISSING`` per provider,
names of at most ``MAX_MODEL_NAME`` characters): past the bound the expired go first,
then the soonest to expire.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable
from contextlib import suppress
from pathlib import Path
from typing import Protocol

from .mirror import Mirror
from .sqlite.file import SqliteFile

#: Most 404 marks kept per provider.
MAX_MISSING = 1024


class MarkStore(Protocol):
    """Where 404 marks live (names lower-case); times on ``clock`` (None: the caller's)."""

    clock: Callable[[], float] | None

    def mark(self, provider: str, model: str, until: float, now: float) -> None:
        """``provider`` does not serve ``model`` until ``until``."""
        ...

    def until(self, provider: str, model: str) -> float | None:
        """When ``provider`` may serve ``model`` again, if it was marked."""
        ...

    def any_live(self, provider: str, now: float) -> bool:
        """True when some mark of ``provider`` has not expired."""
        ...

    def count(self, provider: str) -> int:
        """How many marks of ``provider`` are kept."""
        ...


class InMemoryMarks:
    """404 marks in this process."""

    clock: Callable[[], float] | None = None

    def __init__(self) -> None:
        self._marks: dict[str, dict[str, float]] = {}
        self._lock = threading.Lock()

    def mark(self, provider: str, model: str, until: float, now: float) -> None:
        """``provider`` does not serve ``model`` until ``until``."""
        with self._lock:
            marks = self._marks.setdefault(provider, {})
            if len(marks) >= MAX_MISSING:
                live = {m: u for m, u in marks.items() if u > now}
                keep = sorted(live.items(), key=lambda item: item[1])[-(MAX_MISSING // 2) :]
                marks = self._marks[provider] = dict(keep)
            marks[model] = until

    def until(self, provider: str, model: str) -> float | None:
        """When ``provider`` may serve ``model`` again, if it was marked."""
        return self._marks.get(provider, {}).get(model)

    def of(self, provider: str) -> dict[str, float]:
        """Every mark of ``provider``: model -> until."""
        return self._marks.get(provider) or {}

    def any_live(self, provider: str, now: float) -> bool:
        """True when some mark of ``provider`` has not expired."""
        marks = self._marks.get(provider) or {}
        return any(u > now for u in list(marks.values()))

    def count(self, provider: str) -> int:
        """How many marks of ``provider`` are kept."""
        return len(self._marks.get(provider) or {})


#: A worker reads a provider's marks from the file at most this often (a 404 mark set by
#: another worker reaches it within this; key blocks, by contrast, are read every time).
MIRROR_SECONDS = 1.0


class SqliteMarks(SqliteFile):
    """404 marks in the state file, for every worker of a host; local while it is away."""

    clock: Callable[[], float] | None = staticmethod(time.time)

    def __init__(self, path: str | Path, *, timeout: float = 0.1) -> None:
        self._local = InMemoryMarks()
        #: Each provider's marks, as last read from the file.
        self._mirror: Mirror[dict[str, float]] = Mirror(MIRROR_SECONDS)
        super().__init__(path, timeout=timeout)

    def _marks_of(self, provider: str) -> dict[str, float]:
        def read() -> dict[str, float]:
            with self._read() as db:
                rows = db.execute(  # at most MAX_MISSING rows: expired ones go on the next mark
                    "SELECT model, until FROM marks WHERE provider = ?", (provider,)
                ).fetchall()
            return {model: float(until) for model, until in rows}

        try:
            return self._mirror.get(provider, read)
        except sqlite3.Error:
            return self._local.of(provider)

    def mark(self, provider: str, model: str, until: float, now: float) -> None:
        """``provider`` does not serve ``model`` until ``until`` (the file bounded too)."""
        self._local.mark(provider, model, until, now)
        self._mirror.drop(provider)  # this worker sees its own mark at once
        with suppress(sqlite3.Error), self._write() as db:
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
        try:
            with self._read() as db:
                row = db.execute("SELECT COUNT(*) FROM marks WHERE provider = ?", (provider,))
                return int(row.fetchone()[0])
        except sqlite3.Error:
            return self._local.count(provider)
