"""The last requests keyrelay served (for the operator console), bounded, shared when state is.

Each entry is a small JSON-ready record (time, route, model asked, who served, the
attempt trail by key fingerprint). ``InMemoryRecent`` keeps them per process; the
shared stores gather a worker's entries and write them once a second, keeping the
newest ``MAX_RECENT`` for the host (SQLite) or the fleet (Redis). A store that does
not answer loses nothing but its view: the worker's own entries stand in.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable

from providers.alarm import ALARM
from providers.state.contract import Entry
from providers.state.fallback import Standby
from providers.state.memory.recent import MAX_RECENT, InMemoryRecent, bounded

FLUSH_SECONDS = 1.0


class BatchedRecent:
    """Entries gathered here and written by ``write`` once a second; read by ``read``."""

    def __init__(
        self,
        write: Callable[[list[str]], None],
        read: Callable[[int], list[str]],
        standby: Standby,
    ) -> None:
        self._write, self._read = write, read
        self.standby = standby
        self._local = InMemoryRecent()
        self._pending: list[str] = []
        self._lock = threading.Lock()

    def add(self, entry: Entry) -> None:
        """Keep one request: here at once, in the shared store within a second."""
        text = bounded(entry)
        self._local.add_text(text)
        with self._lock:
            schedule = not self._pending
            self._pending.append(text)
            del self._pending[:-MAX_RECENT]
        if schedule:
            ALARM.after(FLUSH_SECONDS, self.flush)

    def flush(self) -> None:
        """Write the pending entries (dropped if the store does not answer)."""
        with self._lock:
            pending, self._pending = self._pending, []
        # If the store does not answer, other workers miss them; this worker still has them.
        if pending:
            self.standby.attempt(lambda: self._write(pending))

    def latest(self, count: int) -> list[Entry]:
        """The newest ``count`` entries of every worker (this one's while the store is away)."""
        self.flush()
        shared = self.standby.run(lambda: self._read(count), lambda: None, proves=False)
        if shared is None:
            return self._local.latest(count)
        return [json.loads(text) for text in shared]
