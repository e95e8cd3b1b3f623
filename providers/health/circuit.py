"""A circuit breaker per provider: stop sending to a provider that keeps failing.

A circuit opens on a failure *rate*: when a window (started by a failure, lasting
``window_seconds``) holds at least ``min_calls`` calls of which ``failure_rate`` or
more were provider failures (5xx, timeouts, broken or malformed answers). A
provider that answers most requests stays in service however long it runs; one
that fails most of them is set aside. Connection failures alone (the endpoint is
unreachable) open it sooner: ``threshold`` of them in a row.

An open circuit refuses for ``open_seconds``; each time it opens again without a
success in between, the wait doubles, up to ``max_open_seconds``. When the wait is
over the circuit is half-open: one trial request goes through, and its outcome
closes the circuit or opens it again.

Only the trial decides once the circuit has opened: requests that were already
in flight when it opened may still fail (or succeed) after it, and neither may
double the wait nor close the circuit early. A last-resort attempt (every option
was set aside, ``Permit.LAST_RESORT``) may close it by succeeding, never reopen it.
``allow`` hands out a ``Permit`` that the caller gives back with the outcome.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace
from enum import StrEnum
from typing import Any

from providers.config.shape import RoutingConfig
from providers.outcomes import PROVIDER_FAILURES
from providers.state.contract import CircuitStore
from providers.state.memory.circuits import InMemoryCircuits
from providers.state.records import AT_REST, CircuitRecord


class CircuitState(StrEnum):
    """Where a circuit is: letting requests through, refusing them, or trying one."""

    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


class Permit(StrEnum):
    """Why a request was let through: the circuit was closed, or it is the trial."""

    PASS = "pass"
    TRIAL = "trial"
    #: Every option was set aside by its circuit: this one, due soonest, is tried anyway.
    LAST_RESORT = "last_resort"


CLOSED, OPEN, HALF_OPEN = CircuitState.CLOSED, CircuitState.OPEN, CircuitState.HALF_OPEN


class Circuit:
    """The circuit of one provider (or one model of an aggregator), kept in a ``CircuitStore``:
    this process's own by default, or the host's shared state file."""

    def __init__(
        self,
        *,
        threshold: int = RoutingConfig.circuit_failures,
        min_calls: int = RoutingConfig.circuit_min_calls,
        failure_rate: float = RoutingConfig.circuit_failure_rate,
        window_seconds: float = RoutingConfig.circuit_window_seconds,
        open_seconds: float = RoutingConfig.circuit_open_seconds,
        max_open_seconds: float = RoutingConfig.circuit_max_open_seconds,
        spread: bool = False,
        clock: Callable[[], float] = time.monotonic,
        store: CircuitStore | None = None,
        name: str = "",
        trial_seconds: float = RoutingConfig.request_deadline,
    ) -> None:
        self._threshold = threshold
        self._min_calls, self._rate, self._window = min_calls, failure_rate, window_seconds
        #: An aggregator's circuit (G4F): failures open it only when they span models, or
        #: when every one of them was a connection failure (the endpoint is unreachable).
        self._spread = spread
        self._open_seconds = open_seconds
        self._max_open_seconds = max_open_seconds
        self._store: CircuitStore = store or InMemoryCircuits()
        # A shared store keeps wall-clock times, the same in every process.
        self._clock = self._store.clock or clock
        self.name = name
        #: A trial that never reports (its worker died) stops blocking the circuit after this.
        self._trial_seconds = trial_seconds

    @classmethod
    def from_routing(
        cls,
        routing: RoutingConfig,
        *,
        spread: bool = False,
        clock: Callable[[], float],
        store: CircuitStore | None = None,
        name: str = "",
    ) -> Circuit:
        """A circuit with the thresholds and waits a routing configuration sets."""
        return cls(
            **circuit_settings(routing),
            spread=spread,
            clock=clock,
            store=store,
            name=name,
        )

    def _state_of(self, record: CircuitRecord, now: float) -> CircuitState:
        if not record.opens:
            return CLOSED
        return OPEN if now < record.open_until else HALF_OPEN

    def state(self) -> CircuitState:
        """CLOSED, OPEN (refusing) or HALF_OPEN (one trial allowed)."""
        return self._state_of(self._store.read(self.name), self._clock())

    def allow(self) -> Permit | None:
        """A permit to send a request now (the trial when half-open), or None.

        Only claiming the trial writes: closed and open are answered from a read.
        """
        state = self._state_of(self._store.read(self.name), self._clock())
        if state == CLOSED:
            return Permit.PASS
        if state == OPEN:
            return None
        return self._store.change(self.name, self._allow)

    def _allow(self, record: CircuitRecord) -> tuple[CircuitRecord, Permit | None]:
        now = self._clock()
        state = self._state_of(record, now)
        if state == CLOSED:
            return record, Permit.PASS
        if state == OPEN or record.trial_until > now:
            return record, None
        return replace(record, trial_until=now + self._trial_seconds), Permit.TRIAL

    def record(self, outcome: str, permit: Permit = Permit.PASS, model: str = "") -> None:
        """Feed an attempt's outcome (for ``model``): a provider failure, or any sign of life.

        Once the circuit has opened, only the trial's outcome counts: it closes the
        circuit, or opens it again for twice as long.
        """
        failed = outcome in PROVIDER_FAILURES
        unreachable = outcome == "connection"
        if not failed and permit is Permit.PASS and self._store.read(self.name).at_rest:
            return  # a success on a circuit at rest changes nothing: no write
        self._store.change(
            self.name, lambda r: (self._after(r, failed, unreachable, permit, model), None)
        )

    def _after(
        self, r: CircuitRecord, failed: bool, unreachable: bool, permit: Permit, model: str
    ) -> CircuitRecord:
        if permit is Permit.TRIAL:
            return self._open(r) if failed else AT_REST
        if r.opens:
            if permit is Permit.LAST_RESORT and not failed:
                return AT_REST  # it answered after all: evidence enough to close
            return r  # in flight since before it opened: the trial decides, not this
        now = self._clock()
        if now - r.since > self._window:  # the window is over: a new one starts at a failure
            if not failed:
                return AT_REST
            r = replace(r, since=now, calls=0, failed=0, failures=0, models=(), unreachable=True)
        r = replace(r, calls=r.calls + 1, failed=r.failed + int(failed))
        if not failed:
            return replace(r, failures=0, models=(), unreachable=True)
        models = tuple(sorted(set(r.models) | {model.lower()}))[:16]
        r = replace(
            r, failures=r.failures + 1, models=models, unreachable=r.unreachable and unreachable
        )
        spans = not self._spread or len(r.models) > 1 or r.unreachable
        return self._open(r) if spans and self._tripped(r) else r

    def _tripped(self, r: CircuitRecord) -> bool:
        """Too many of the window's calls failed, or the endpoint is unreachable."""
        if r.unreachable and r.failures >= self._threshold:
            return True
        return r.calls >= self._min_calls and r.failed >= self._rate * r.calls

    def _open(self, r: CircuitRecord) -> CircuitRecord:
        opens = r.opens + 1
        wait = min(self._open_seconds * 2 ** (opens - 1), self._max_open_seconds)
        return CircuitRecord(opens=opens, open_until=self._clock() + wait)

    def due_in(self) -> float:
        """Seconds until an open circuit's trial (0 when it is not open): the soonest goes
        first when every option is set aside."""
        return self.retry_in() or 0.0

    def release(self, permit: Permit | None = Permit.TRIAL) -> None:
        """End an attempt that gave no verdict (the key, not the provider, was at fault)."""
        if permit is Permit.TRIAL:
            self._store.change(self.name, lambda r: (replace(r, trial_until=0.0), None))

    def retry_in(self) -> float | None:
        """Seconds until an open circuit lets a trial through, or None if it is not open."""
        record, now = self._store.read(self.name), self._clock()
        if self._state_of(record, now) != OPEN:
            return None
        return max(0.0, record.open_until - now)


def circuit_settings(routing: RoutingConfig) -> dict[str, Any]:
    """The thresholds and waits of every circuit (provider or model) a configuration sets."""
    return {
        "threshold": routing.circuit_failures,
        "min_calls": routing.circuit_min_calls,
        "failure_rate": routing.circuit_failure_rate,
        "window_seconds": routing.circuit_window_seconds,
        "open_seconds": routing.circuit_open_seconds,
        "max_open_seconds": routing.circuit_max_open_seconds,
        "trial_seconds": routing.request_deadline,
    }
