"""Events per name over a sliding window, shared when state is (the console's wrong keys).

``InMemoryTally`` counts in this process. ``SharedTally`` counts in the state store, so a
limit holds for every worker on the host (SQLite) or in the fleet (Redis); while the store
does not answer, this worker's own count stands in. Names and events are bounded: a name
is kept for one window after its last event, at most ``MAX_NAMES`` of them per process and
``MAX_EVENTS`` events each.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable

from providers.state.fallback import Standby
from providers.state.memory.tally import MAX_NAMES, InMemoryTally

#: The longest window any name is counted over (a signed-out console session: a week).
MAX_WINDOW = 8 * 86400.0


#: ``add`` or ``count`` in a shared store: (name's digest, window, wall-clock now) -> events.
Counter = Callable[[str, float, float], int]
#: Rows a shared store keeps in all (the oldest go first).
MAX_SHARED_EVENTS = MAX_NAMES * 4


def digest(name: str) -> str:
    """What a shared store keeps of ``name``: fixed-size, whatever a client made it."""
    return hashlib.sha256(name.encode()).hexdigest()[:32]


class SharedTally:
    """Events counted in the shared store; this process's own count while it is away."""

    def __init__(self, add: Counter, count: Counter, standby: Standby) -> None:
        self._add, self._count = add, count
        self.standby = standby
        self._local = InMemoryTally()

    def add(self, name: str, window: float) -> int:
        """Count one event for ``name`` here and in the store."""
        local = self._local.add(name, window)
        shared = self.standby.run(lambda: self._add(digest(name), window, time.time()), lambda: 0)
        return max(local, shared)

    def count(self, name: str, window: float) -> int:
        """The events for ``name`` in the window, over every process sharing the store."""
        local = self._local.count(name, window)
        shared = self.standby.run(
            lambda: self._count(digest(name), window, time.time()), lambda: 0, proves=False
        )
        return max(local, shared)
