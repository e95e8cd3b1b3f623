"""A provider at run time: its upstream, keys, circuit, model health, latency and catalog.

``ProviderRuntime.attempt`` is the one place an attempt's outcome is recorded: on
the key, on the circuit (and the model's circuit, on an aggregator) and in the
latency window, however the attempt ends; the key goes back unless the attempt
keeps it (a stream past its commit point keeps it until the stream closes).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from providers.config.catalog import Rotation
from providers.config.shape import ProviderConfig, RoutingConfig
from providers.errors import ClientGone, NoUsableKey, ProviderError, UpstreamTimeout
from providers.health.aggregator import ModelHealth
from providers.health.circuit import OPEN, Circuit, Permit
from providers.health.keys import KeyPolicy, KeyPool, Lease
from providers.health.latency import AdaptiveTimeout
from providers.health.model_lists import ModelCatalog
from providers.outcomes import Outcome, Skip
from providers.secrets import Redactor, url_secrets
from providers.state.contract import CircuitStore, KeyStore, MarkStore, UsageStore
from providers.state.records import KeyStatus, Tokens, token_counts
from providers.upstream.client import Upstream
from providers.upstream.guard import guarded
from providers.upstream.http import SessionPool, Timeout

from .holds import Admission, AttemptScope


class ProviderRuntime:
    """One configured provider with everything it needs at run time."""

    def __init__(
        self,
        config: ProviderConfig,
        routing: RoutingConfig,
        *,
        store: KeyStore,
        sessions: SessionPool,
        redact: Redactor,
        clock: Callable[[], float],
        usage: UsageStore | None = None,
        circuits: CircuitStore | None = None,
        marks: MarkStore | None = None,
        on_release: Callable[[str], None] | None = None,
    ) -> None:
        self.config, self.name, self.tier = config, config.name, config.tier
        self._usage = usage
        self._clock = clock
        self._read_timeout = routing.timeout_read
        self.upstream = Upstream.from_config(config, routing, sessions, redact)
        self.keys = KeyPool(
            config.name,
            config.keys,
            store,
            policy=KeyPolicy.from_routing(routing),
            max_in_flight=config.max_in_flight_per_key,
            clock=clock,
            on_release=on_release,
            sequential=config.rotation == Rotation.SEQUENTIAL,
        )
        self.circuit = Circuit.from_routing(
            routing, spread=config.aggregator, clock=clock, store=circuits, name=config.name
        )
        #: Aggregators (G4F): a circuit per model, so one failing model is set aside alone.
        self.models = (
            ModelHealth.from_routing(routing, clock=clock, store=circuits, endpoint=config.name)
            if config.aggregator
            else None
        )
        # Adaptive first-byte timeouts, under an aggregator's own ceiling where it has one.
        ceiling = min(config.first_byte_timeout or routing.timeout_read, routing.timeout_read)
        self.latency = AdaptiveTimeout(routing.adaptive, ceiling=ceiling)
        self._fetch_timeout: Timeout = (routing.timeout_connect, routing.models_fetch_timeout)
        self.catalog = ModelCatalog(
            declared=config.models,
            fetch=self._fetch_models,
            ignore=config.ignore,
            whitelist=config.whitelist,
            ttl=routing.models_cache_ttl,
            clock=clock,
            marks=marks,
            provider=config.name,
        )

    @contextmanager
    def attempt(
        self,
        lease: Lease,
        admission: Admission | None,
        model: str,
        mode: str | None,
        *,
        counted: bool = True,
    ) -> Iterator[AttemptScope]:
        """One attempt on ``lease``: its outcome is recorded however it ends (in usage too,
        unless not ``counted``: a model-list fetch is not a request anyone made)."""
        count = self._count if counted else _uncounted
        limit = self.latency.current(mode) if mode else self._read_timeout
        scope = AttemptScope(self, lease, model, limit)
        started = self._clock()
        try:
            yield scope
        except ClientGone:
            count(lease, Outcome.CLIENT_GONE)
            if admission is not None:
                self.release(admission, model)  # no verdict: the client left
            raise
        except ProviderError as exc:
            if mode and isinstance(exc, UpstreamTimeout):
                self.latency.timed_out(mode, limit)
            self.keys.record(lease, exc)
            count(lease, exc.outcome)
            if admission is not None:
                self.record(admission, model, exc.outcome)
            raise
        except BaseException:
            if admission is not None:
                self.release(admission, model)
            raise
        else:
            if mode:
                self.latency.observe(mode, self._clock() - started)
            self.keys.record(lease, None)
            count(lease, Outcome.SUCCESS)
            if admission is not None:
                self.record(admission, model, Outcome.SUCCESS)
        finally:
            if scope.held is None:
                self.keys.release(lease)

    def _count(self, lease: Lease, outcome: str) -> None:
        if self._usage is not None:
            self._usage.count(self.name, lease.key_id, outcome, time.time())

    def add_tokens(self, key_id: str, usage: object) -> Tokens | None:
        """Count the tokens an upstream reported (its ``usage`` object) for one of its keys;
        the counts, if it reported any."""
        tokens = token_counts(usage)
        if tokens is not None and self._usage is not None:
            self._usage.add_tokens(self.name, key_id, tokens, time.time())
        return tokens

    def _fetch_models(self) -> list[str]:
        lease = self.keys.acquire()
        if lease is None:
            raise NoUsableKey(f"{self.name} has no usable key to list its models")
        with self.attempt(lease, None, "", None, counted=False), guarded(sum(self._fetch_timeout)):
            return self.upstream.list_models(lease.secret, self._fetch_timeout)

    def model_for(self, model: str, *, fetch: bool) -> str | None:
        """This provider's id for ``model``, or None if it is not known to serve it."""
        if self.config.serves_any or not self.catalog.known:
            # G4F serves any name; a list that could not be fetched lets the upstream judge.
            return model if self.catalog.allowed(model) else None
        return self.catalog.match(model, fetch=fetch)

    def admit(self, model: str) -> Admission | Skip:
        """Permits to try ``model`` here now, or why not."""
        model_permit = None
        if self.models is not None:
            model_permit = self.models.allow(model)
            if model_permit is None:
                return Skip.MODEL_SET_ASIDE
        permit = self.circuit.allow()
        if permit is None:
            if self.models is not None and model_permit is not None:
                self.models.release(model, model_permit)
            return Skip.CIRCUIT_OPEN
        return Admission(permit, model_permit)

    def admit_last_resort(self, model: str) -> Admission:
        """Permits to try ``model`` although its circuit set it aside (every option was)."""
        model_permit = Permit.LAST_RESORT if self.models is not None else None
        return Admission(Permit.LAST_RESORT, model_permit)

    def due_in(self, model: str) -> float:
        """Seconds until the circuits in the way of ``model`` here let a trial through."""
        model_wait = self.models.due_in(model) if self.models is not None else 0.0
        return max(self.circuit.due_in(), model_wait)

    def record(self, admission: Admission, model: str, outcome: str) -> None:
        """Feed an outcome to the circuit (and the model's, on an aggregator)."""
        self.circuit.record(outcome, admission.endpoint, model)
        if self.models is not None and admission.model is not None:
            self.models.record(model, outcome, admission.model)
        admission.spend()

    def release(self, admission: Admission, model: str) -> None:
        """End an admission that gave no verdict (no key, or the client left)."""
        self.circuit.release(admission.endpoint)
        if self.models is not None and admission.model is not None:
            self.models.release(model, admission.model)

    def healthy(self) -> bool:
        """False while the circuit is open or no key is usable: such providers go last."""
        return self.circuit.state() != OPEN and self.keys.counts()[KeyStatus.USABLE] > 0

    def blocked_reason(self) -> Skip:
        """Why no key could be acquired: cooling, disabled, exhausted or busy."""
        counts = self.keys.counts()
        if counts[KeyStatus.USABLE]:
            return Skip.BUSY
        reason = max((n, s) for s, n in counts.items() if s != KeyStatus.USABLE)[1]
        return Skip(reason)

    def available_in(self) -> float | None:
        """Seconds until this provider can be tried again, if it cannot be now."""
        waits = [w for w in (self.keys.next_available_in(), self.circuit.retry_in()) if w]
        return max(waits) if waits else None


def _uncounted(lease: Lease, outcome: str) -> None:
    """Usage is not told of this attempt."""


def build_runtimes(
    config: RoutingConfig,
    *,
    store: KeyStore,
    sessions: SessionPool,
    clock: Callable[[], float],
    usage: UsageStore | None = None,
    circuits: CircuitStore | None = None,
    marks: MarkStore | None = None,
    on_release: Callable[[str], None] | None = None,
) -> dict[str, ProviderRuntime]:
    """Every configured provider at run time, by name, sharing one redactor of every secret."""
    secrets = [k for p in config.providers for k in p.keys]
    secrets += [s for p in config.providers for s in url_secrets(p.base_url)]
    redact = Redactor(secrets)
    return {
        p.name: ProviderRuntime(
            p,
            config,
            store=store,
            sessions=sessions,
            redact=redact,
            clock=clock,
            usage=usage,
            circuits=circuits,
            marks=marks,
            on_release=on_release,
        )
        for p in config.providers
    }
