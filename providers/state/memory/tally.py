"""Events per name in this process."""

from __future__ import annotations

import threading
import time
from collections import OrderedDict

#: Names a process keeps (the least recently counted go first).
MAX_NAMES = 4096


#: Events kept per name: a limit never needs to count further.
MAX_EVENTS = 64


class InMemoryTally:
    """The events of this process."""

    def __init__(self) -> None:
        self._times: OrderedDict[str, list[float]] = OrderedDict()
        self._lock = threading.Lock()

    def add(self, name: str, window: float) -> int:
        """Count one event for ``name`` (bounded)."""
        now = time.time()
        with self._lock:
            times = [t for t in self._times.pop(name, []) if now - t < window]
            self._times[name] = times = [*times, now][-MAX_EVENTS:]
            while len(self._times) > MAX_NAMES:
                self._times.popitem(last=False)
            return len(times)

    def count(self, name: str, window: float) -> int:
        """The events for ``name`` in the window."""
        now = time.time()
        with self._lock:
            return sum(1 for t in self._times.get(name, []) if now - t < window)
