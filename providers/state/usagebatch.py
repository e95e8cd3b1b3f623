"""Usage counts gathered in the process and written to a shared store once a second.

One write a second instead of one a request; the pending counts are written before
a read and at exit. Counting never fails a request: a batch the store cannot take
in time is dropped, with one warning a minute at most.
"""

from __future__ import annotations

import atexit
import logging
import threading
import time

from providers.alarm import ALARM
from providers.outcomes import Outcome
from providers.state.fallback import Standby
from providers.state.records import Tokens, utc_day

log = logging.getLogger(__name__)
#: Counts are written at most this long after they happen.
FLUSH_SECONDS = 1.0
#: (day, provider, key) -> requests, succeeded, failed, prompt, completion, total and cached
#: tokens (client usage: (day, client, provider, key) -> its own columns).
Pending = dict[tuple[str, ...], list[int]]


class BatchedUsage:
    """``UsageStore.count`` and ``add_tokens``; a subclass writes a batch in ``_store_batch``."""

    def __init__(self, retention_days: int, standby: Standby) -> None:
        self.standby = standby
        self._retention = retention_days
        self._pending: Pending = {}
        self._pending_lock = threading.Lock()
        self._flush_due = False
        #: The latest time a count was made at (retention is counted back from it).
        self._latest = 0.0
        self._warned = 0.0
        atexit.register(self.flush)

    def _add(self, now: float, parts: tuple[str, ...], values: tuple[int, ...]) -> None:
        day = utc_day(now)
        with self._pending_lock:
            self._latest = max(self._latest, now)
            row = self._pending.setdefault((day, *parts), [0] * len(values))
            for i, value in enumerate(values):
                row[i] += value
            schedule, self._flush_due = not self._flush_due, True
        if schedule:
            ALARM.after(FLUSH_SECONDS, self.flush)

    def count(self, provider: str, key: str, outcome: str, now: float) -> None:
        """One upstream request that ended with ``outcome`` (written within a second)."""
        won = int(outcome == Outcome.SUCCESS)
        self._add(now, (provider, key), (1, won, 1 - won, 0, 0, 0, 0))

    def add_tokens(self, provider: str, key: str, tokens: Tokens, now: float) -> None:
        """Tokens the upstream reported for a request already counted."""
        self._add(now, (provider, key), (0, 0, 0, *tokens))

    def flush(self) -> None:
        """Write the pending counts in one batch (dropped, with a warning, if the store does
        not answer)."""
        with self._pending_lock:
            pending, self._pending, self._flush_due = self._pending, {}, False
        if not pending:
            return
        if not self.standby.attempt(lambda: self._store_batch(pending, self._latest)):
            now = time.monotonic()
            if now - self._warned > 60:
                self._warned = now
                log.warning("usage counts were dropped: the state store did not answer")

    def _store_batch(self, pending: Pending, now: float) -> None:
        raise NotImplementedError
