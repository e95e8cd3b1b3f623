"""Aggregator endpoints (G4F): failures are the model's before they are the endpoint's.

An aggregator serves many models from many backends behind one URL; one model
failing (a backend down, a login wall, an unknown name) says nothing about the
others. Each model gets a circuit of its own: a model that keeps failing is set
aside for a while, exactly as the endpoint's circuit would set the endpoint
aside, and the endpoint's circuit opens only when failures span models (see
``Circuit(spread=True)``).
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from providers.config.shape import RoutingConfig
from providers.state.contract import CircuitStore
from providers.state.memory.circuits import InMemoryCircuits

from .circuit import OPEN, Circuit, Permit, circuit_settings

#: Models tracked per endpoint (names come from clients); the least recent go first.
MAX_MODELS = 256


class ModelHealth:
    """A circuit per model of one aggregator endpoint, bounded in number."""

    def __init__(
        self,
        *,
        clock: Callable[[], float] = time.monotonic,
        store: CircuitStore | None = None,
        endpoint: str = "",
        **settings: Any,
    ) -> None:
        #: The keywords of every model's ``Circuit`` (thresholds and waits).
        self._settings = settings
        self._clock = clock
        self._store: CircuitStore = store or InMemoryCircuits()
        self._endpoint = endpoint
        self._circuits: OrderedDict[str, Circuit] = OrderedDict()
        self._lock = threading.Lock()

    @classmethod
    def from_routing(
        cls,
        routing: RoutingConfig,
        *,
        clock: Callable[[], float],
        store: CircuitStore | None = None,
        endpoint: str = "",
    ) -> ModelHealth:
        """Model circuits with the thresholds and waits a routing configuration sets."""
        return cls(clock=clock, store=store, endpoint=endpoint, **circuit_settings(routing))

    def _circuit(self, model: str) -> Circuit:
        name = model.lower()
        with self._lock:
            circuit = self._circuits.get(name)
            if circuit is None:
                circuit = self._circuits[name] = Circuit(
                    **self._settings,
                    clock=self._clock,
                    store=self._store,
                    name=f"{self._endpoint}|model:{name}",
                )
                if len(self._circuits) > MAX_MODELS:
                    self._evict()
            else:
                self._circuits.move_to_end(name)
            return circuit

    def _evict(self) -> None:
        # Forget a model that is not set aside; if every one is, the least recent.
        for name, circuit in self._circuits.items():
            if circuit.state() != OPEN:
                del self._circuits[name]
                self._store.forget(circuit.name)
                return
        self._store.forget(self._circuits.popitem(last=False)[1].name)

    def allow(self, model: str) -> Permit | None:
        """A permit for ``model`` (the trial once its wait is over), or None while set aside."""
        return self._circuit(model).allow()

    def record(self, model: str, outcome: str, permit: Permit) -> None:
        """Feed the outcome of an attempt for ``model``."""
        self._circuit(model).record(outcome, permit)

    def release(self, model: str, permit: Permit) -> None:
        """End an attempt for ``model`` that gave no verdict."""
        self._circuit(model).release(permit)

    def due_in(self, model: str) -> float:
        """Seconds until ``model``'s trial (0 when it is not set aside)."""
        return self._circuit(model).due_in()

    def set_aside(self) -> dict[str, float]:
        """The models set aside now, with the seconds until each gets a trial."""
        with self._lock:
            circuits = list(self._circuits.items())
        return {
            name: round(wait, 3)
            for name, circuit in circuits
            if (wait := circuit.retry_in()) is not None
        }
