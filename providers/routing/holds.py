"""What an attempt holds while it runs: its circuit permits, its key, and a key kept past it.

``Admission`` carries the permits a candidate was let through with; ``AttemptScope`` is
what an attempt's body gets (the key's secret, its read timeout, ``keep``); ``Held`` is a
key kept past its attempt by a committed stream, given back by ``finish``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from providers.errors import ProviderError
from providers.health.circuit import Permit
from providers.health.keys import Lease

if TYPE_CHECKING:
    from .runtime import ProviderRuntime


class Admission:
    """The permits a candidate was let through with (its circuit's, and its model's on an
    aggregator); once one outcome is recorded, later attempts count as ordinary ones."""

    __slots__ = ("endpoint", "model")

    def __init__(self, endpoint: Permit, model: Permit | None) -> None:
        self.endpoint = endpoint
        self.model = model

    def spend(self) -> None:
        """The trial, if this was one, has had its verdict."""
        self.endpoint = Permit.PASS
        if self.model is not None:
            self.model = Permit.PASS


class Held:
    """A key kept past its attempt (a committed stream): ``finish`` gives it back."""

    def __init__(self, runtime: ProviderRuntime, lease: Lease, model: str) -> None:
        self._runtime, self._lease, self._model = runtime, lease, model

    def finish(self, failure: ProviderError | None) -> None:
        """Give the key back; a failure after the commit point counts against the provider."""
        runtime = self._runtime
        if failure is not None:
            runtime.keys.record(self._lease, failure)
            runtime.record(Admission(Permit.PASS, Permit.PASS), self._model, failure.outcome)
        runtime.keys.release(self._lease)


class AttemptScope:
    """What an attempt's body gets: the key's secret, the read timeout, and ``keep``."""

    def __init__(self, runtime: ProviderRuntime, lease: Lease, model: str, limit: float) -> None:
        self.secret = lease.secret
        #: The read timeout this attempt may use (adaptive, per provider and mode).
        self.limit = limit
        self._runtime, self._lease, self._model = runtime, lease, model
        self.held: Held | None = None

    def keep(self) -> Held:
        """Keep the key when the attempt ends well (a stream); ``Held.finish`` gives it back."""
        self.held = Held(self._runtime, self._lease, self._model)
        return self.held
