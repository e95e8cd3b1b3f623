"""Usage counts in the host's SQLite state file (``providers.usage.UsageStore``)."""

from __future__ import annotations

import logging
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from .sqlite import SqliteFile
from .usage import SECONDS_PER_DAY, UsageRow, utc_day

log = logging.getLogger(__name__)

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
        super().__init__(path, timeout=timeout)

    def count(self, provider: str, key: str, outcome: str, now: float) -> None:
        """One upstream request that ended with ``outcome`` (dropped if the file is busy)."""
        won = int(outcome == "success")
        with self._best_effort(), self._write() as db:
            db.execute(_ADD_USAGE, (utc_day(now), provider, key, 1, won, 1 - won, 0, 0, 0))
            if now - self._pruned > 3600:
                self._pruned = now
                oldest = utc_day(now - self._retention * SECONDS_PER_DAY)
                db.execute("DELETE FROM usage WHERE day < ?", (oldest,))

    def add_tokens(self, provider: str, key: str, tokens: tuple[int, int, int], now: float) -> None:
        """Tokens the upstream reported for a request already counted."""
        with self._best_effort(), self._write() as db:
            db.execute(_ADD_USAGE, (utc_day(now), provider, key, 0, 0, 0, *tokens))

    def rows(self, *, provider: str | None, days: int, now: float) -> list[UsageRow]:
        """The rows of the last ``days`` UTC days (today included), newest first."""
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
