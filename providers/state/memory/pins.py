"""Session pins in this process, bounded like the shared ones."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable

from providers.state.contract import MAX_PINS
from providers.state.records import Pin


class InMemoryPins:
    """Session pins in this process: the oldest written go first past ``limit``."""

    clock: Callable[[], float] | None = None

    def __init__(self, limit: int = MAX_PINS) -> None:
        self._pins: OrderedDict[str, Pin] = OrderedDict()
        self._limit = limit
        self._lock = threading.Lock()

    def get(self, session: str, now: float) -> Pin | None:
        """The session's pin, unless it expired."""
        pin = self._pins.get(session)
        return pin if pin is not None and pin.until > now else None

    def put(self, session: str, pin: Pin, now: float) -> None:
        """Pin the session."""
        with self._lock:
            self._pins.pop(session, None)
            self._pins[session] = pin
            while len(self._pins) > self._limit:
                self._pins.popitem(last=False)

    def __len__(self) -> int:
        return len(self._pins)
