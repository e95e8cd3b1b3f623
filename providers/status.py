"""Frozen snapshots of the routing state, for pages, metrics, the CLI and readiness.

The web edge reads state only through these: never a runtime's keys, circuit or
latency window. Keys appear as fingerprints, base URLs without credentials.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from providers.state.records import KeyStatus

from .health.keys import KeySnapshot
from .routing.resolve import Candidate
from .routing.runtime import ProviderRuntime
from .secrets import redact_url


@dataclass(frozen=True)
class ProviderStatus:
    """One provider as an operator sees it."""

    provider: str
    prefix: str
    tier: int
    base_url: str
    keyless: bool
    key_ids: tuple[str, ...]
    #: Keys by status: usable, cooling, disabled, exhausted.
    counts: dict[str, int]
    circuit: str
    circuit_retry_in: float | None
    aggregator: bool
    #: Aggregators: models set aside after failing, with the seconds until their trial.
    models_set_aside: dict[str, float]
    #: Adaptive first-byte timeouts by mode (stream, whole).
    adaptive_timeout: dict[str, Any]
    keys: tuple[KeySnapshot, ...]
    #: Requests of this worker waiting for one of its keys to be given back.
    waiting_for_key: int = 0
    routes: tuple[str, ...] = field(default=())
    #: The request dialects it speaks natively (``chat``, ``messages``, ``responses``).
    dialects: tuple[str, ...] = field(default=("chat",))

    @property
    def usable(self) -> int:
        """How many keys can be used now."""
        return self.counts.get(KeyStatus.USABLE, 0)


def provider_status(runtime: ProviderRuntime, waiting: int = 0) -> ProviderStatus:
    """A snapshot of ``runtime``."""
    keys = runtime.keys
    return ProviderStatus(
        provider=runtime.name,
        prefix=runtime.config.prefix,
        tier=runtime.tier,
        base_url=redact_url(runtime.config.base_url),
        keyless=keys.keyless,
        key_ids=keys.key_ids,
        counts=dict(keys.counts()),
        circuit=str(runtime.circuit.state()),
        circuit_retry_in=runtime.circuit.retry_in(),
        aggregator=runtime.config.aggregator,
        models_set_aside=runtime.models.set_aside() if runtime.models else {},
        adaptive_timeout=runtime.latency.describe(),
        keys=tuple(keys.describe()),
        waiting_for_key=waiting,
        routes=runtime.config.routes,
        dialects=tuple(sorted(runtime.config.dialects)),
    )


@dataclass(frozen=True)
class RouteStep:
    """One candidate of a resolved chain, as ``flask --app wsgi route`` prints it."""

    provider: str
    tier: int
    model: str
    skip: str | None
    keyless: bool
    usable: int
    keys: int
    circuit: str


def route_step(candidate: Candidate) -> RouteStep:
    """A snapshot of one candidate."""
    runtime = candidate.provider
    return RouteStep(
        provider=runtime.name,
        tier=runtime.tier,
        model=candidate.model,
        skip=str(candidate.skip) if candidate.skip else None,
        keyless=runtime.keys.keyless,
        usable=runtime.keys.counts()[KeyStatus.USABLE],
        keys=len(runtime.keys.key_ids),
        circuit=str(runtime.circuit.state()),
    )
