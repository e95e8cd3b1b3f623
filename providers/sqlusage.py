"""Usage counts in the host's SQLite state file (``providers.usage.UsageStore``)."""

from __future__ import annotations

from pathlib import Path

from .sqlite import SqliteFile
from .usage import SECONDS_PER_DAY, UsageRow, utc_day

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
    """Usage per provider, key and UTC day, kept ``retention_days``."""

    def __init__(self, path: str | Path, *, timeout: float = 0.1, retention_days: int = 90) -> None:
        self._retention = retention_days
        self._pruned = 0.0
        super().__init__(path, timeout=timeout)

    def count(self, provider: str, key: str, outcome: str, now: float) -> None:
        """One upstream request that ended with ``outcome``."""
        won = int(outcome == "success")
        with self._write() as db:
            db.execute(_ADD_USAGE, (utc_day(now), provider, key, 1, won, 1 - won, 0, 0, 0))
            if now - self._pruned > 3600:
                self._pruned = now
                oldest = utc_day(now - self._retention * SECONDS_PER_DAY)
                db.execute("DELETE FROM usage WHERE day < ?", (oldest,))

    def add_tokens(self, provider: str, key: str, tokens: tuple[int, int, int], now: float) -> None:
        """Tokens the upstream reported for a request already counted."""
        with self._write() as db:
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
