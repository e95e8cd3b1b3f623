"""Usage counts in the host's SQLite state file (``providers.usage.UsageStore``)."""

from __future__ import annotations

import atexit
import logging
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from .alarm import ALARM
from .sqlite import SqliteFile
from .usage import SECONDS_PER_DAY, UsageRow, utc_day

log = logging.getLogger(__name__)
#: Counts are written at most this long after they happen.
FLUSH_SECONDS = 1.0

_ADD_USAGE = (
    "INSERT INTO usage (day, provider, key, requests, succeeded, failed, prompt_tokens,"
    " completion_tokens, total_tokens) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
    " ON CONFLICT (day, provider, key) DO UPDATE SET requests = requests + excluded.requests,"
    " succeeded = succeeded + excluded.succeeded, failed = failed + excluded.failed,"
    " prompt_tokens = prompt_tokens + excluded.prompt_tokens,"
    " completion_tokens = completion_tokens + excluded.completion_tokens,"
    " total_tokens = total_tokens + excluded.total_tokens"
)


class SqliteUsage(SqliteFile):
    """Usage per provider, key and UTC day, kept ``retention_days``.

    Counting never fails a request: a count the file cannot take in time is dropped,
    with one warning per minute at most.
    """

    _warned = 0.0

    @contextmanager
    def _best_effort(self) -> Iterator[None]:
        try:
            yield
        except sqlite3.Error as exc:
            now = time.monotonic()
            if now - self._warned > 60:
                self._warned = now
                log.warning("a usage count was dropped: the state file did not answer (%s)", exc)

    def __init__(self, path: str | Path, *, timeout: float = 0.1, retention_days: int = 90) -> None:
        self._retention = retention_days
        self._pruned = 0.0
        #: Counts not written yet, by (day, provider, key): one write a second, not one a request.
        self._pending: dict[tuple[str, str, str], list[int]] = {}
        self._pending_lock = threading.Lock()
        self._flush_due = False
        #: The latest time a count was made at (retention is counted back from it).
        self._latest = 0.0
        super().__init__(path, timeout=timeout)
        atexit.register(self.flush)

    def _add(self, now: float, provider: str, key: str, values: tuple[int, ...]) -> None:
        day = utc_day(now)
        with self._pending_lock:
            self._latest = max(self._latest, now)
            row = self._pending.setdefault((day, provider, key), [0] * 6)
            for i, value in enumerate(values):
                row[i] += value
            schedule, self._flush_due = not self._flush_due, True
        if schedule:
            ALARM.after(FLUSH_SECONDS, self.flush)

    def count(self, provider: str, key: str, outcome: str, now: float) -> None:
        """One upstream request that ended with ``outcome`` (written within a second)."""
        won = int(outcome == "success")
        self._add(now, provider, key, (1, won, 1 - won, 0, 0, 0))

    def add_tokens(self, provider: str, key: str, tokens: tuple[int, int, int], now: float) -> None:
        """Tokens the upstream reported for a request already counted."""
        self._add(now, provider, key, (0, 0, 0, *tokens))

    def flush(self) -> None:
        """Write the pending counts in one transaction (dropped, with a warning, if the file
        does not answer)."""
        with self._pending_lock:
            pending, self._pending, self._flush_due = self._pending, {}, False
        if not pending:
            return
        now = self._latest
        with self._best_effort(), self._write() as db:
            db.executemany(_ADD_USAGE, [(*k, *v) for k, v in pending.items()])
            if now - self._pruned > 3600:
                self._pruned = now
                oldest = utc_day(now - self._retention * SECONDS_PER_DAY)
                db.execute("DELETE FROM usage WHERE day < ?", (oldest,))

    def rows(self, *, provider: str | None, days: int, now: float) -> list[UsageRow]:
        """The rows of the last ``days`` UTC days (today included), newest first (this
        process's pending counts written first; other workers' within a second)."""
        self.flush()
        oldest = utc_day(now - (days - 1) * SECONDS_PER_DAY)
        with self._lock:
            found = (
                self._connect()
                .execute(
                    "SELECT provider, key, day, requests, succeeded, failed, prompt_tokens,"
                    " completion_tokens, total_tokens FROM usage WHERE day >= ?"
                    " AND (? IS NULL OR provider = ?) ORDER BY day DESC, provider, key",
                    (oldest, provider, provider),
                )
                .fetchall()
            )
        return [UsageRow(*row) for row in found]
