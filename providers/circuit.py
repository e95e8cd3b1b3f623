"""A circuit breaker per provider: stop sending to a provider that keeps failing.

After ``threshold`` consecutive provider failures (5xx, timeouts, broken or
malformed answers) the circuit opens for ``open_seconds``; each time it opens
again without a success in between, the wait doubles, up to ``max_open_seconds``.
When the wait is over the circuit is half-open: one trial request goes through,
and its outcome closes the circuit or opens it again.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

CLOSED = "closed"
OPEN = "open"
HALF_OPEN = "half_open"

#: Outcomes that say the provider itself is failing (the others say it is alive).
PROVIDER_FAILURES = frozenset(
    {
        "server_error",
        "connection",
        "timeout",
        "malformed",
        "in_band_error",
        "stream_interrupted",
        "too_large",
    }
)


class Circuit:
    """The circuit of one provider; safe to use from many threads."""

    def __init__(
        self,
        *,
        threshold: int = 3,
        open_seconds: float = 30.0,
        max_open_seconds: float = 600.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._threshold = threshold
        self._open_seconds = open_seconds
        self._max_open_seconds = max_open_seconds
        self._clock = clock
        self._lock = threading.Lock()
        self._failures = 0
        self._opens = 0
        self._open_until = 0.0
        self._trial = False

    def state(self) -> str:
        """CLOSED, OPEN (refusing) or HALF_OPEN (one trial allowed)."""
        if not self._opens:
            return CLOSED
        return OPEN if self._clock() < self._open_until else HALF_OPEN

    def allow(self) -> bool:
        """Whether a request may go to the provider now (claims the trial when half-open)."""
        with self._lock:
            state = self.state()
            if state == CLOSED:
                return True
            if state == OPEN or self._trial:
                return False
            self._trial = True
            return True

    def record(self, outcome: str) -> None:
        """Feed an attempt's outcome: a provider failure, or any sign of life."""
        with self._lock:
            self._trial = False
            if outcome not in PROVIDER_FAILURES:
                self._failures = self._opens = 0
                return
            self._failures += 1
            if self._opens or self._failures >= self._threshold:
                self._opens += 1
                self._failures = 0
                wait = self._open_seconds * 2 ** (self._opens - 1)
                self._open_until = self._clock() + min(wait, self._max_open_seconds)

    def release(self) -> None:
        """End a trial that gave no verdict (the key, not the provider, was at fault)."""
        with self._lock:
            self._trial = False

    def retry_in(self) -> float | None:
        """Seconds until an open circuit lets a trial through, or None if it is not open."""
        if self.state() != OPEN:
            return None
        return max(0.0, self._open_until - self._clock())
