"""Usage per client key, gathered in the process and written once a second, like the
usage per upstream key (``usagebatch``); this process's own book for ``memory://``."""

from __future__ import annotations

from providers.state.fallback import IN_PROCESS, Standby
from providers.state.records import (
    SECONDS_PER_DAY,
    ClientUsageRow,
    Tokens,
    client_usage_row,
    utc_day,
)
from providers.state.usagebatch import BatchedUsage, Pending


class BatchedClientUsage(BatchedUsage):
    """``ClientUsageStore.record``; a subclass writes a batch and reads rows back."""

    def __init__(self, retention_days: int, standby: Standby = IN_PROCESS) -> None:
        super().__init__(retention_days, standby)

    def record(self, client: str, provider: str, key: str, tokens: Tokens | None,
               cost: float, ok: bool, now: float) -> None:  # fmt: skip
        """One request of ``client`` served (``ok``) or failed by ``provider``'s ``key``."""
        prompt, completion, _, cached = tokens or (0, 0, 0, 0)
        values = (1, int(not ok), prompt, completion, cached, round(cost * 1e9))
        self._add(now, (client, provider, key), values)

    def client_rows(self, *, days: int, now: float) -> list[ClientUsageRow]:
        """The rows of the last ``days`` UTC days (today included), newest first."""
        self.flush()
        oldest = utc_day(now - (days - 1) * SECONDS_PER_DAY)
        rows = [r for r in self._read(oldest, now) if r.date >= oldest]
        return sorted(rows, key=lambda r: (r.date, r.client, r.provider, r.key), reverse=True)

    def _read(self, oldest: str, now: float) -> list[ClientUsageRow]:
        raise NotImplementedError


class InMemoryClientUsage(BatchedClientUsage):
    """Client usage in this process only."""

    def __init__(self, retention_days: int = 90) -> None:
        super().__init__(retention_days)
        self._kept: Pending = {}

    def _store_batch(self, pending: Pending, now: float) -> None:
        oldest = utc_day(now - self._retention * SECONDS_PER_DAY)
        with self._pending_lock:
            for parts, values in pending.items():
                row = self._kept.setdefault(parts, [0] * len(values))
                for i, value in enumerate(values):
                    row[i] += value
            for stale in [k for k in self._kept if k[0] < oldest]:
                del self._kept[stale]

    def _read(self, oldest: str, now: float) -> list[ClientUsageRow]:
        with self._pending_lock:
            kept = list(self._kept.items())
        return [client_usage_row(c, p, k, day, v) for (day, c, p, k), v in kept]
