"""Usage per provider, key and UTC day in this process."""

from __future__ import annotations

import threading
from dataclasses import replace

from providers.outcomes import Outcome
from providers.state.records import SECONDS_PER_DAY, Tokens, UsageRow, utc_day


class InMemoryUsage:
    """Usage in this process only, pruned to ``retention_days``."""

    def __init__(self, retention_days: int = 90) -> None:
        self._rows: dict[tuple[str, str, str], UsageRow] = {}
        self._lock = threading.Lock()
        self._retention = retention_days
        #: The day the rows were last pruned on: pruning runs once a day, not per request.
        self._pruned_on = ""

    def _update(self, provider: str, key: str, now: float, **add: int) -> None:
        day = utc_day(now)
        with self._lock:
            row = self._rows.get((day, provider, key)) or UsageRow(provider, key, day)
            fields = {name: getattr(row, name) + value for name, value in add.items()}
            self._rows[(day, provider, key)] = replace(row, **fields)
            if day != self._pruned_on:
                self._pruned_on = day
                oldest = utc_day(now - self._retention * SECONDS_PER_DAY)
                for stale in [k for k in self._rows if k[0] < oldest]:
                    del self._rows[stale]

    def count(self, provider: str, key: str, outcome: str, now: float) -> None:
        """One upstream request that ended with ``outcome``."""
        won = outcome == Outcome.SUCCESS
        self._update(provider, key, now, requests=1, succeeded=int(won), failed=int(not won))

    def add_tokens(self, provider: str, key: str, tokens: Tokens, now: float) -> None:
        """Tokens the upstream reported for a request already counted."""
        prompt, completion, total, cached = tokens
        self._update(provider, key, now, prompt_tokens=prompt, completion_tokens=completion,
                     total_tokens=total, cached_tokens=cached)  # fmt: skip

    def rows(self, *, provider: str | None, days: int, now: float) -> list[UsageRow]:
        """The rows of the last ``days`` UTC days (today included), newest first."""
        oldest = utc_day(now - (days - 1) * SECONDS_PER_DAY)
        with self._lock:
            found = [
                row
                for (day, name, _), row in self._rows.items()
                if day >= oldest and (provider is None or name == provider)
            ]
        return sorted(found, key=lambda r: (r.date, r.provider, r.key), reverse=True)
