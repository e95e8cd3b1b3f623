"""The records of a request's walk: its deadline, each attempt, who served, the trail."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from providers.errors import ChainExhausted, ClientGone, DeadlineExceeded, ProviderError
from providers.outcomes import SKIPPED, Skip
from providers.upstream.guard import Guard, guarded
from providers.upstream.http import Timeout

from .verdict import Facts, verdict

T = TypeVar("T")

#: Below this, an attempt could not even connect: count the deadline as spent.
MIN_ATTEMPT_SECONDS = 0.01


class Deadline:
    """``REQUEST_DEADLINE``: one budget that every attempt of a request shares."""

    def __init__(self, seconds: float, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._end = clock() + seconds

    def remaining(self) -> float:
        """Seconds left, never negative."""
        return max(0.0, self._end - self._clock())

    def expired(self) -> bool:
        """True when too little time is left to start another attempt."""
        return self.remaining() < MIN_ATTEMPT_SECONDS

    def timeout(self, connect: float, read: float) -> Timeout:
        """The (connect, read) timeout of the next attempt, cut to what remains."""
        left = self.remaining()
        if left < MIN_ATTEMPT_SECONDS:
            raise DeadlineExceeded("the request deadline ran out")
        return (min(connect, left), min(read, left))


@dataclass(frozen=True)
class Attempt:
    """One try at one provider with one key, as reported to clients and logs."""

    provider: str
    tier: int
    model: str
    key: str
    outcome: str
    status: int | None
    ms: int
    error: str | None = None
    #: The attempt's duration, unrounded (for latency histograms).
    seconds: float = 0.0
    #: Tried although its circuit had set it aside, because every option was.
    last_resort: bool = False

    def to_dict(self) -> dict[str, Any]:
        """Return the attempt as JSON-ready data (fingerprints only, never keys)."""
        data: dict[str, Any] = {
            "provider": self.provider,
            "tier": self.tier,
            "model": self.model,
            "key": self.key,
            "outcome": self.outcome,
            "status": self.status,
            "ms": self.ms,
            "error": self.error,
        }
        if self.last_resort:
            data["last_resort"] = True
        return data


@dataclass(frozen=True)
class Served:
    """Who answered a request, and what it took."""

    provider: str
    tier: int
    model: str
    key: str
    attempts: list[Attempt]

    #: The whole trail, with providers passed over.
    entries: list[Attempt] = field(default_factory=list)
    #: When (monotonic clock) the attempt that served began: a stream's latency ends at close.
    started: float = 0.0
    #: Answered from the response cache, without an upstream call.
    cached: bool = False

    @classmethod
    def of(cls, provider: Any, model: str, key: str, trail: Trail, started: float) -> Served:
        """Who served, from the provider (name, tier) and the trail that led to it."""
        return cls(
            provider=provider.name,
            tier=provider.tier,
            model=model,
            key=key,
            attempts=trail.attempts,
            entries=trail.entries,
            started=started,
        )

    def from_cache(self, now: float) -> Served:
        """The same provider and model, answered again from the cache."""
        return Served(
            provider=self.provider,
            tier=self.tier,
            model=self.model,
            key="",
            attempts=[],
            entries=[],
            started=now,
            cached=True,
        )

    @property
    def fell_back(self) -> bool:
        """True when a provider other than the first candidate served."""
        return bool(self.entries) and self.entries[0].provider != self.provider

    @property
    def first_tier(self) -> int:
        """The tier of the first candidate."""
        return self.entries[0].tier if self.entries else self.tier

    def trail(self) -> str:
        """The trail as one header value: ``provider:status:outcome:ms`` each."""
        return ", ".join(
            f"{a.provider}:{a.status if a.status is not None else '-'}:{a.outcome}:{a.ms}ms"
            for a in self.entries
        )


@dataclass
class Trail:
    """Everything that happened while walking the candidates, in order."""

    #: Attempts, and providers passed over (outcome ``skipped_<reason>``), as they happened.
    entries: list[Attempt] = field(default_factory=list)
    deadline_hit: bool = False
    last_error: ProviderError | None = None

    @property
    def attempts(self) -> list[Attempt]:
        """The requests actually sent upstream."""
        return [e for e in self.entries if not e.outcome.startswith(SKIPPED)]

    @property
    def only_busy(self) -> bool:
        """True when nothing was sent and every provider was passed over for busy keys."""
        return not self.attempts and self.skipped == {Skip.BUSY}

    @property
    def skipped(self) -> set[str]:
        """Why providers were passed over: cooling, disabled, exhausted, busy, circuit_open."""
        return {
            e.outcome.removeprefix(SKIPPED) for e in self.entries if e.outcome.startswith(SKIPPED)
        }

    def record(self, attempt: Attempt, error: ProviderError | None = None) -> None:
        """Add an attempt (and its error) to the trail."""
        self.entries.append(attempt)
        if error is not None:
            self.last_error = error

    def skip(self, provider: str, tier: int, model: str, reason: str) -> None:
        """Note a provider passed over without a request (no usable key, open circuit)."""
        self.entries.append(
            Attempt(
                provider=provider,
                tier=tier,
                model=model,
                key="",
                outcome=SKIPPED + reason,
                status=None,
                ms=0,
            )
        )

    def report(self) -> list[dict[str, Any]]:
        """The trail for the error body."""
        return [e.to_dict() for e in self.entries]

    def exhausted(self, soonest: float | None) -> ChainExhausted:
        """The verdict when nothing served, with this trail attached (``error.trail``).

        ``soonest`` is the number of seconds until some candidate's key is usable again.
        """
        error = verdict(
            Facts(
                attempts=self.attempts,
                skipped=self.skipped,
                deadline_hit=self.deadline_hit,
                last_error=self.last_error,
                soonest=soonest,
                report=self.report(),
            )
        )
        error.trail = self.entries
        return error


def within(deadline: Deadline, client_gone: Callable[[], bool] | None, call: Callable[[], T]) -> T:
    """Run one call with its connections cut when the deadline passes or the client leaves.

    The read timeout restarts with every byte; this bounds an upstream that trickles.
    """
    with guarded(deadline.remaining(), client_gone) as guard:
        try:
            result = call()
        except ProviderError:
            if guard.fired:
                raise _cut(guard) from None
            raise
    if guard.fired:
        close = getattr(result, "close", None)  # a stream opened as the guard fired
        if callable(close):
            close()
        raise _cut(guard)
    return result


def _cut(guard: Guard) -> ProviderError:
    if guard.client_left:
        return ClientGone("the client closed its connection while the upstream was answering")
    return DeadlineExceeded("the request deadline ran out while the upstream was still answering")
