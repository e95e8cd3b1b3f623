"""A circuit breaker per provider: stop sending to a provider that keeps failing.

After ``threshold`` consecutive provider failures (5xx, timeouts, broken or
malformed answers) the circuit opens for ``open_seconds``; each time it opens
again without a success in between, the wait doubles, up to ``max_open_seconds``.
When the wait is over the circuit is half-open: one trial request goes through,
and its outcome closes the circuit or opens it again.

Only the trial decides once the circuit has opened: requests that were already
in flight when it opened may still fail (or succeed) after it, and neither may
double the wait nor close the circuit early. ``allow`` hands out a ``Permit``
that the caller gives back with the outcome.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from enum import StrEnum

from .config import RoutingConfig
from .outcomes import PROVIDER_FAILURES


class CircuitState(StrEnum):
    """Where a circuit is: letting requests through, refusing them, or trying one."""

    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


class Permit(StrEnum):
    """Why a request was let through: the circuit was closed, or it is the trial."""

    PASS = "pass"
    TRIAL = "trial"


CLOSED, OPEN, HALF_OPEN = CircuitState.CLOSED, CircuitState.OPEN, CircuitState.HALF_OPEN


class Circuit:
    """The circuit of one provider; safe to use from many threads."""

    def __init__(
        self,
        *,
        threshold: int = RoutingConfig.circuit_failures,
        open_seconds: float = RoutingConfig.circuit_open_seconds,
        max_open_seconds: float = RoutingConfig.circuit_max_open_seconds,
        spread: bool = False,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._threshold = threshold
        #: An aggregator's circuit (G4F): failures open it only when they span models, or
        #: when every one of them was a connection failure (the endpoint is unreachable).
        self._spread = spread
        self._models: set[str] = set()
        self._unreachable = True
        self._open_seconds = open_seconds
        self._max_open_seconds = max_open_seconds
        self._clock = clock
        self._lock = threading.Lock()
        self._failures = 0
        self._opens = 0
        self._open_until = 0.0
        self._trial = False

    @classmethod
    def from_routing(
        cls, routing: RoutingConfig, *, spread: bool = False, clock: Callable[[], float]
    ) -> Circuit:
        """A circuit with the thresholds and waits a routing configuration sets."""
        return cls(
            threshold=routing.circuit_failures,
            open_seconds=routing.circuit_open_seconds,
            max_open_seconds=routing.circuit_max_open_seconds,
            spread=spread,
            clock=clock,
        )

    def state(self) -> CircuitState:
        """CLOSED, OPEN (refusing) or HALF_OPEN (one trial allowed)."""
        if not self._opens:
            return CLOSED
        return OPEN if self._clock() < self._open_until else HALF_OPEN

    def allow(self) -> Permit | None:
        """A permit to send a request now (the trial when half-open), or None."""
        with self._lock:
            state = self.state()
            if state == CLOSED:
                return Permit.PASS
            if state == OPEN or self._trial:
                return None
            self._trial = True
            return Permit.TRIAL

    def record(self, outcome: str, permit: Permit = Permit.PASS, model: str = "") -> None:
        """Feed an attempt's outcome (for ``model``): a provider failure, or any sign of life.

        Once the circuit has opened, only the trial's outcome counts: it closes the
        circuit, or opens it again for twice as long.
        """
        failed = outcome in PROVIDER_FAILURES
        with self._lock:
            if permit is Permit.TRIAL:
                self._trial = False
                if failed:
                    self._open()
                else:
                    self._opens = 0
                    self._reset_run()
                return
            if self._opens:
                return  # in flight since before it opened: the trial decides, not this
            if not failed:
                self._reset_run()
                return
            self._failures += 1
            self._models.add(model.lower())
            self._unreachable = self._unreachable and outcome == "connection"
            spans = not self._spread or len(self._models) > 1 or self._unreachable
            if self._failures >= self._threshold and spans:
                self._open()

    def _reset_run(self) -> None:
        self._failures = 0
        self._models.clear()
        self._unreachable = True

    def _open(self) -> None:
        self._opens += 1
        self._reset_run()
        wait = self._open_seconds * 2 ** (self._opens - 1)
        self._open_until = self._clock() + min(wait, self._max_open_seconds)

    def release(self, permit: Permit | None = Permit.TRIAL) -> None:
        """End an attempt that gave no verdict (the key, not the provider, was at fault)."""
        if permit is Permit.TRIAL:
            with self._lock:
                self._trial = False

    def retry_in(self) -> float | None:
        """Seconds until an open circuit lets a trial through, or None if it is not open."""
        if self.state() != OPEN:
            return None
        return max(0.0, self._open_until - self._clock())
