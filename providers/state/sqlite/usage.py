"""Usage counts in the host's SQLite state file (``providers.state.contract.UsageStore``)."""

from __future__ import annotations

from pathlib import Path

from providers.state.records import SECONDS_PER_DAY, UsageRow, utc_day
from providers.state.sqlite.file import SqliteFile
from providers.state.usagebatch import BatchedUsage, Pending

_ADD_USAGE = (
    "INSERT INTO usage (day, provider, key, requests, succeeded, failed, prompt_tokens,"
    " completion_tokens, total_tokens, cached_tokens) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
    " ON CONFLICT (day, provider, key) DO UPDATE SET requests = requests + excluded.requests,"
    " succeeded = succeeded + excluded.succeeded, failed = failed + excluded.failed,"
    " prompt_tokens = prompt_tokens + excluded.prompt_tokens,"
    " completion_tokens = completion_tokens + excluded.completion_tokens,"
    " total_tokens = total_tokens + excluded.total_tokens,"
    " cached_tokens = cached_tokens + excluded.cached_tokens"
)


class SqliteUsage(BatchedUsage):
    """Usage per provider, key and UTC day, kept ``retention_days``, written once a second."""

    def __init__(
        self, file: SqliteFile | str | Path, *, timeout: float = 0.1, retention_days: int = 90
    ) -> None:
        self.file = SqliteFile.of(file, timeout)
        self._pruned = 0.0
        super().__init__(retention_days, self.file.standby)

    def _store_batch(self, pending: Pending, now: float) -> None:
        with self.file.write() as db:
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
        with self.file.read() as db:
            found = db.execute(
                "SELECT provider, key, day, requests, succeeded, failed, prompt_tokens,"
                " completion_tokens, total_tokens, cached_tokens FROM usage WHERE day >= ?"
                " AND (? IS NULL OR provider = ?) ORDER BY day DESC, provider, key",
                (oldest, provider, provider),
            ).fetchall()
        return [UsageRow(*row) for row in found]
