"""The walk: candidates and their keys, in order, under one deadline, until one serves.

Inside a provider the walk rotates keys; when the provider has no usable key, or
fails in a way that is not the key's fault, it moves to the next candidate at
once. When every key that could serve is busy (none blocked) it waits for one to
be given back. Nothing in it sleeps; every attempt's connections are cut when
the deadline passes or the client leaves.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Generic, TypeVar

from providers.config.shape import RoutingConfig
from providers.errors import ClientGone, DeadlineExceeded, ModelNotServed, ProviderError
from providers.health.keys import Lease
from providers.outcomes import Outcome, Skip
from providers.upstream.http import Timeout

from .attempts import Attempt, Deadline, Served, Trail, within
from .holds import Admission, Held
from .resolve import Candidate
from .slots import SlotQueue

T = TypeVar("T")
#: One attempt: (candidate, the key's secret, timeout) -> the answer.
Call = Callable[[Candidate, str, Timeout], T]


@dataclass(frozen=True)
class Walked(Generic[T]):
    """What served: the answer, who, and the kept key of a stream (``held``)."""

    result: T
    served: Served
    held: Held | None = None


@dataclass(frozen=True)
class _How(Generic[T]):
    """What every attempt of one walk shares: the call, the settings, and the client."""

    call: Call[T]
    config: RoutingConfig
    mode: str | None
    hold: bool
    client_gone: Callable[[], bool] | None
    clock: Callable[[], float]
    #: A session's key, by provider: tried first while it is usable.
    prefer: Mapping[str, str]


class Failover:
    """Walks candidate chains for one router; built once per worker."""

    def __init__(
        self, config: RoutingConfig, slots: SlotQueue, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._config = config
        self._slots = slots
        self._clock = clock

    def walk(
        self,
        candidates: list[Candidate],
        call: Call[T],
        *,
        mode: str | None = None,
        hold: bool = False,
        client_gone: Callable[[], bool] | None = None,
        prefer: Mapping[str, str] | None = None,
    ) -> Walked[T]:
        """Try candidates and keys in order; ``mode`` (stream/whole) picks adaptive timeouts,
        ``hold`` keeps the serving key (a stream), ``prefer`` names a session's key per
        provider. Raises the verdict when nothing served."""
        deadline = Deadline(self._config.request_deadline, self._clock)
        how = _How(call, self._config, mode, hold, client_gone, self._clock, prefer or {})
        again = False
        while True:
            trail = Trail()
            walked = self._pass(candidates, how, deadline, trail)
            if walked is not None:
                return walked
            if not trail.only_busy or deadline.expired():
                raise trail.exhausted(_soonest(candidates))
            names = {c.provider.name for c in candidates if c.skip is None}
            if not self._slots.wait(names, deadline.remaining(), client_gone, again=again):
                if client_gone is not None and client_gone():
                    raise ClientGone("the client closed its connection while waiting for a key")
                raise trail.exhausted(_soonest(candidates))
            again = True

    def _pass(
        self, candidates: list[Candidate], how: _How[T], deadline: Deadline, trail: Trail
    ) -> Walked[T] | None:
        """One walk down the candidates: what served, or None (the trail says why).

        When nothing served and some candidate was passed over by its circuit, the one whose
        circuit is due soonest is tried anyway: a circuit is keyrelay's guess, and refusing
        with an option untried is worse than one more failure.
        """
        set_aside: list[tuple[int, Candidate]] = []
        for index, candidate in enumerate(candidates):
            runtime = candidate.provider
            admission = candidate.skip or runtime.admit(candidate.model)
            if not isinstance(admission, Admission):
                trail.skip(runtime.name, runtime.tier, candidate.model, admission)
                if admission in SET_ASIDE:
                    set_aside.append((index, candidate))
                continue
            walked = _Walk(candidate, admission, deadline, trail, index == 0).keys(how)
            if walked is not None:
                return walked
        if not set_aside or deadline.expired():
            return None
        index, candidate = min(set_aside, key=lambda ic: ic[1].provider.due_in(ic[1].model))
        admission = candidate.provider.admit_last_resort(candidate.model)
        walk = _Walk(candidate, admission, deadline, trail, index == 0, last_resort=True)
        return walk.keys(how)


#: Skips that are a circuit's (keyrelay's guess), not the keys' or the client's.
SET_ASIDE = frozenset({Skip.CIRCUIT_OPEN, Skip.MODEL_SET_ASIDE})


class _Walk:
    """One admitted candidate: its keys in turn until one serves or the candidate is done."""

    def __init__(
        self,
        candidate: Candidate,
        admission: Admission,
        deadline: Deadline,
        trail: Trail,
        first: bool,
        *,
        last_resort: bool = False,
    ) -> None:
        self.candidate, self.admission, self.deadline = candidate, admission, deadline
        self.trail, self.first, self.last_resort = trail, first, last_resort

    def keys(self, how: _How[T]) -> Walked[T] | None:
        """What served, or None once no key of this candidate is left to try."""
        runtime, candidate = self.candidate.provider, self.candidate
        tried: set[str] = set()
        prefer = how.prefer.get(runtime.name)
        while (lease := runtime.keys.acquire(exclude=tried, prefer=prefer)) is not None:
            tried.add(lease.key_id)
            attempt = _Attempt(candidate, lease, self.admission, self.deadline, self.trail)
            attempt.first, attempt.last_resort = self.first, self.last_resort
            walked = attempt.run(how)
            if walked is not None or not attempt.next_key:
                return walked
        runtime.release(self.admission, candidate.model)
        if not tried:
            self.trail.skip(runtime.name, runtime.tier, candidate.model, runtime.blocked_reason())
        return None


class _Attempt:
    """One candidate, one key: run the call, and say what the walk does next."""

    def __init__(
        self,
        candidate: Candidate,
        lease: Lease,
        admission: Admission,
        deadline: Deadline,
        trail: Trail,
    ) -> None:
        self.candidate, self.lease, self.admission = candidate, lease, admission
        self.deadline, self.trail = deadline, trail
        #: The first candidate of the chain (a caller's fault there stops the walk).
        self.first = False
        #: Tried although its circuit set it aside (every option was): said in the trail.
        self.last_resort = False
        #: After a failure: try the next key of the same provider (the key was at fault).
        self.next_key = False

    def run(self, how: _How[T]) -> Walked[T] | None:
        """The answer, or None to go on (raises when the walk must stop)."""
        call, config, mode, hold = how.call, how.config, how.mode, how.hold
        client_gone, clock = how.client_gone, how.clock
        runtime, model = self.candidate.provider, self.candidate.model
        started = clock()
        try:
            with runtime.attempt(self.lease, self.admission, model, mode) as scope:
                timeout = self.deadline.timeout(config.timeout_connect, scope.limit)
                candidate, secret = self.candidate, scope.secret
                result = within(
                    self.deadline, client_gone, lambda: call(candidate, secret, timeout)
                )
                held = scope.keep() if hold else None
        except ProviderError as exc:
            self.trail.record(self._entry(started, clock, exc), exc)
            self._after(exc, config)
            return None
        self.trail.record(self._entry(started, clock, None))
        served = Served.of(self.candidate.provider, model, self.lease.key_id, self.trail, started)
        return Walked(result, served, held)

    def _after(self, exc: ProviderError, config: RoutingConfig) -> None:
        """Stop the walk (raise), or set what it tries next."""
        if isinstance(exc, ClientGone) or (exc.caller_fault and self.first):
            exc.trail = self.trail.entries
            raise exc
        if isinstance(exc, DeadlineExceeded) or self.deadline.expired():
            self.trail.deadline_hit = True
            raise self.trail.exhausted(None) from None
        if isinstance(exc, ModelNotServed):
            self.candidate.provider.catalog.mark_missing(self.candidate.model, config.not_found_ttl)
        self.next_key = exc.key_specific

    def _entry(
        self, started: float, clock: Callable[[], float], error: ProviderError | None
    ) -> Attempt:
        seconds = clock() - started
        return Attempt(
            provider=self.candidate.provider.name,
            tier=self.candidate.provider.tier,
            model=self.candidate.model,
            key=self.lease.key_id,
            outcome=error.outcome if error else Outcome.SUCCESS,
            status=error.upstream_status if error else 200,
            ms=round(seconds * 1000),
            error=error.message[:200] if error else None,
            seconds=seconds,
            last_resort=self.last_resort,
        )


def _soonest(candidates: list[Candidate]) -> float | None:
    waits = [w for c in candidates if (w := c.provider.available_in()) is not None]
    return min(waits) if waits else None
