"""The router: resolve a model to a chain of candidates, then walk it until one serves.

Inside a provider the router rotates keys; when the provider has no usable key
or fails in a way that is not the key's fault, it moves to the next candidate
at once. One deadline bounds the whole walk, and nothing in it ever sleeps.
"""

from __future__ import annotations

import itertools
import json
import time
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, NamedTuple, TypeVar

from .aggregator import ModelHealth
from .cache import LRUCache, ResponseCache, cache_key, replay_chunks
from .catalog import G4F
from .chain import Attempt, Deadline, Served, Trail
from .circuit import OPEN, Circuit, Permit
from .config import ProviderConfig, RoutingConfig
from .errors import (
    ClientGone,
    DeadlineExceeded,
    ModelNotFound,
    ModelNotServed,
    ModelSwapped,
    NoProviderConfigured,
    NoUsableKey,
    ProviderError,
    StreamInterrupted,
    UnsupportedEndpoint,
    UpstreamTimeout,
)
from .g4f import g4f_body, same_model
from .guard import Guard, guarded
from .http import SessionPool, Timeout
from .keys import USABLE, InMemoryKeyStore, KeyPolicy, KeyPool, KeyStore, Lease
from .latency import STREAM, WHOLE, AdaptiveTimeout
from .models import ModelCatalog
from .relay import ChatStream, header_safe, read_prelude
from .secrets import Redactor, url_secrets
from .slots import SlotQueue
from .upstream import Chunk, Upstream, UpstreamStream

T = TypeVar("T")


class _Opened(NamedTuple):
    """A stream opened up to its commit point."""

    upstream: UpstreamStream
    prelude: list[Chunk]
    rest: Iterator[Chunk]

    def close(self) -> None:
        """Close the upstream response."""
        self.upstream.close()


class Admission:
    """The permits one candidate was let through with (its circuit's, and its model's on an
    aggregator); after the first outcome is recorded, later attempts count as ordinary."""

    __slots__ = ("endpoint", "model")

    def __init__(self, endpoint: Permit, model: Permit | None) -> None:
        self.endpoint = endpoint
        self.model = model

    def spend(self) -> None:
        """The trial, if this was one, has had its verdict."""
        self.endpoint = Permit.PASS
        if self.model is not None:
            self.model = Permit.PASS


class ProviderRuntime:
    """One configured provider with its upstream, keys, model catalog and circuit."""

    def __init__(
        self,
        config: ProviderConfig,
        routing: RoutingConfig,
        *,
        store: KeyStore,
        sessions: SessionPool,
        redact: Redactor,
        clock: Callable[[], float],
        on_release: Callable[[str], None] | None = None,
    ) -> None:
        self.config = config
        self.name = config.name
        self.tier = config.tier
        self.upstream = Upstream(
            config.name,
            config.base_url,
            sessions,
            redact,
            max_response=routing.max_response_bytes,
            max_event=routing.max_event_bytes,
            aggregator=config.aggregator,
        )
        self.keys = KeyPool(
            config.name,
            config.keys,
            store,
            policy=KeyPolicy(
                rate_limit_cooldown=routing.rate_limit_cooldown,
                max_cooldown=routing.max_cooldown,
                auth_failure_cooldown=routing.auth_failure_cooldown,
                quota_cooldown=routing.quota_cooldown,
            ),
            max_in_flight=config.max_in_flight_per_key,
            clock=clock,
            on_release=on_release,
        )
        self.circuit = Circuit(
            threshold=routing.circuit_failures,
            open_seconds=routing.circuit_open_seconds,
            max_open_seconds=routing.circuit_max_open_seconds,
            spread=config.aggregator,
            clock=clock,
        )
        #: Aggregators (G4F): a circuit per model, so one failing model is set aside alone.
        self.models = (
            ModelHealth(
                threshold=routing.circuit_failures,
                open_seconds=routing.circuit_open_seconds,
                max_open_seconds=routing.circuit_max_open_seconds,
                clock=clock,
            )
            if config.aggregator
            else None
        )
        #: Adaptive first-byte timeouts, learnt from this provider's latency (under the
        #: aggregator's own first-byte ceiling, G4F_TIMEOUT_FIRST_BYTE, where it has one).
        ceiling = config.first_byte_timeout or routing.timeout_read
        self.latency = AdaptiveTimeout(routing.adaptive, ceiling=min(ceiling, routing.timeout_read))
        self._fetch_timeout: Timeout = (routing.timeout_connect, routing.models_fetch_timeout)
        self.catalog = ModelCatalog(
            declared=config.models,
            fetch=self._fetch_models,
            ignore=config.ignore,
            whitelist=config.whitelist,
            ttl=routing.models_cache_ttl,
            clock=clock,
        )

    def _fetch_models(self) -> list[str]:
        lease = self.keys.acquire()
        if lease is None:
            raise NoUsableKey(f"{self.name} has no usable key to list its models")
        try:
            with guarded(sum(self._fetch_timeout)):
                models = self.upstream.list_models(lease.secret, self._fetch_timeout)
        except ProviderError as exc:
            self.keys.record(lease, exc)
            raise
        finally:
            self.keys.release(lease)
        return models

    def model_for(self, model: str, *, fetch: bool) -> str | None:
        """This provider's id for ``model``, or None if it is not known to serve it."""
        if self.config.serves_any:
            return model if self.catalog.allowed(model) else None
        if not self.catalog.known:
            # The list could not be fetched: let the upstream judge (a 404 marks it missing).
            return model if self.catalog.allowed(model) else None
        return self.catalog.match(model, fetch=fetch)

    def admit(self, model: str) -> Admission | str:
        """Permits to try ``model`` here now, or why not: circuit_open or model_set_aside."""
        model_permit = None
        if self.models is not None:
            model_permit = self.models.allow(model)
            if model_permit is None:
                return "model_set_aside"
        permit = self.circuit.allow()
        if permit is None:
            if self.models is not None and model_permit is not None:
                self.models.release(model, model_permit)
            return "circuit_open"
        return Admission(permit, model_permit)

    def record(self, admission: Admission, model: str, outcome: str) -> None:
        """Feed an attempt's outcome to the circuit (and the model's, on an aggregator)."""
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
        return self.circuit.state() != OPEN and self.keys.counts()[USABLE] > 0

    def blocked_reason(self) -> str:
        """Why no key could be acquired: cooling, disabled, exhausted or busy."""
        counts = self.keys.counts()
        if counts[USABLE]:
            return "busy"
        return max((n, reason) for reason, n in counts.items() if reason != USABLE)[1]

    def available_in(self) -> float | None:
        """Seconds until this provider can be tried again, if it cannot be now."""
        waits = [w for w in (self.keys.next_available_in(), self.circuit.retry_in()) if w]
        return max(waits) if waits else None


@dataclass(frozen=True)
class Candidate:
    """A provider and the model id to ask it for."""

    provider: ProviderRuntime
    model: str
    #: Why this provider is passed over without a request (shown in the trail), if it is.
    skip: str | None = None


@dataclass(frozen=True)
class Completion:
    """A whole (non-streamed) answer and who served it."""

    body: dict[str, Any]
    served: Served

    @property
    def served_model(self) -> str | None:
        """The model the upstream says answered (its ``model`` field), made header-safe."""
        return header_safe(self.body.get("model"))


#: RouteOptions.cache: read and store; store only (Cache-Control: no-cache); neither (no-store).
CACHE_USE, CACHE_REFRESH, CACHE_OFF = "use", "refresh", "off"


@dataclass(frozen=True)
class RouteOptions:
    """What the client allowed for this request."""

    fallback: bool = True
    max_tier: int | None = None
    cache: str = CACHE_USE
    #: The client key's fingerprint: cached answers are kept apart per client key.
    client: str = ""
    #: Says whether the client has closed its connection (checked while waiting upstream).
    client_gone: Callable[[], bool] | None = None


class Router:
    """Routes requests to providers; built once per worker process."""

    def __init__(
        self,
        config: RoutingConfig,
        *,
        store: KeyStore | None = None,
        cache: ResponseCache | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.config = config
        self._clock = clock
        if cache is None and config.cache_ttl > 0:
            cache = LRUCache(
                max_entries=config.cache_max_entries,
                ttl=config.cache_ttl,
                max_bytes=config.cache_max_bytes,
            )
        #: The response cache, or None when CACHE_TTL_SECONDS is 0.
        self.cache = cache
        self.sessions = SessionPool(pool_maxsize=config.pool_maxsize)
        #: Requests waiting for a busy key to be given back.
        self.slots = SlotQueue()
        self.redact = Redactor(
            [k for p in config.providers for k in p.keys]
            + [s for p in config.providers for s in url_secrets(p.base_url)]
        )
        store = store or InMemoryKeyStore()
        self.providers: dict[str, ProviderRuntime] = {
            p.name: ProviderRuntime(
                p,
                config,
                store=store,
                sessions=self.sessions,
                redact=self.redact,
                clock=clock,
                on_release=self.slots.released,
            )
            for p in config.providers
        }
        #: Runtimes by the prefix clients use (several G4F endpoints share "g4f").
        self.families: dict[str, list[ProviderRuntime]] = {}
        for runtime in self.providers.values():
            self.families.setdefault(runtime.config.prefix, []).append(runtime)
        self._turns = itertools.count()

    # -- resolution -------------------------------------------------------------------

    def resolve(
        self, model: str, *, embeddings: bool = False, options: RouteOptions | None = None
    ) -> list[Candidate]:
        """Return the ordered chain of candidates for ``model``.

        ``provider/model`` puts that provider first, then every other provider that
        serves the same model, by tier, then G4F; a bare model is every provider that
        serves it, by tier, then G4F; a model group is exactly its own chain.
        """
        options = options or RouteOptions(fallback=self.config.fallback_enabled)
        if not self.providers:
            raise NoProviderConfigured(
                "No provider is configured, so nothing can serve a model: set a key such as "
                "GROQ_API_KEY (or <NAME>_API_BASE for any OpenAI-compatible server) in .env "
                "and restart keyrelay; .env.example lists every provider"
            )
        group = self.config.groups.get(model.lower())
        if group is not None:
            chain = [c for entry in group for c in self._named(entry)]
        else:
            chain = self._chain(model)
        if embeddings:
            named = [c for c in chain if not c.provider.config.embeddings]
            chain = [c for c in chain if c.provider.config.embeddings]
            if not chain and named:
                raise UnsupportedEndpoint(
                    f"'{model}' is not offered with embeddings by {named[0].provider.name}",
                    param="model",
                )
        if not chain:
            raise ModelNotFound(
                f"The model '{model}' does not exist or is not served here; "
                "name it as provider/model (see GET /v1/models)",
                param="model",
            )
        if options.max_tier is not None:
            chain = [c for c in chain if c.provider.tier <= options.max_tier]
            if not chain:
                raise ModelNotFound(
                    f"No provider within tier {options.max_tier} serves '{model}'", param="model"
                )
        first = next((i for i, c in enumerate(chain) if c.skip is None), None)
        if first is None:
            raise ModelNotFound(
                f"The model '{model}' is excluded by this server's configuration "
                "(IGNORE_MODELS_<PROVIDER> / WHITELIST_MODELS_<PROVIDER>)",
                param="model",
            )
        return chain if options.fallback else chain[: first + 1]

    def _named(self, entry: str) -> list[Candidate]:
        """The candidates for ``provider/model`` at that provider (G4F: endpoint, then main)."""
        prefix, _, rest = entry.partition("/")
        family = self.families.get(prefix.lower(), [])
        if prefix.lower() == G4F:
            return self._g4f(rest)
        chain = []
        for runtime in family:
            if runtime.catalog.filtered(rest):
                # The operator excluded it (IGNORE_MODELS_<P>): said in the trail, not silently.
                chain.append(Candidate(runtime, rest, skip="ignored_by_config"))
            elif runtime.catalog.serves(rest) is not False:
                chain.append(Candidate(runtime, rest))
        return chain

    def _g4f(self, model: str) -> list[Candidate]:
        endpoints = self.families.get(G4F, [])
        lowered = model.lower()
        specific = [
            p for p in endpoints if p.config.routes and any(r in lowered for r in p.config.routes)
        ][:1]
        main = [p for p in endpoints if not p.config.routes]
        return [Candidate(p, model) for p in specific + main if p.catalog.allowed(model)]

    def _chain(self, model: str) -> list[Candidate]:
        prefix, _, rest = model.partition("/")
        named_family = prefix.lower() if rest and prefix.lower() in self.families else None
        first = self._named(model) if named_family else []
        wanted = rest if named_family else model
        if not named_family:
            self._refresh_catalogs()
        units: list[list[Candidate]] = []
        for family, runtimes in self.families.items():
            if family in (named_family, G4F):
                continue
            for runtime in runtimes:
                served = runtime.model_for(wanted, fetch=False)
                if served is not None:
                    units.append([Candidate(runtime, served)])
        if not first and not units:
            return []  # G4F is a fallback for models someone serves, not a catch-all
        if named_family != G4F:
            g4f = self._g4f(wanted)
            if g4f:
                units.append(g4f)
        return first + self._order(units)

    def _order(self, units: list[list[Candidate]]) -> list[Candidate]:
        """Sort by tier; within a tier, rotate the healthy and put the rest last."""
        turn = next(self._turns)
        ordered: list[Candidate] = []
        tiers: dict[int, tuple[list[list[Candidate]], list[list[Candidate]]]] = {}
        for unit in units:
            healthy, sick = tiers.setdefault(unit[0].provider.tier, ([], []))
            (healthy if unit[0].provider.healthy() else sick).append(unit)
        for tier in sorted(tiers):
            healthy, sick = tiers[tier]
            k = turn % len(healthy) if healthy else 0
            for unit in healthy[k:] + healthy[:k] + sick:
                ordered.extend(unit)
        return ordered

    def _refresh_catalogs(self) -> None:
        """Fetch the model lists never fetched yet, before a bare model is looked up.

        A fresh worker must not answer 404 for a model its provider lists. Concurrent
        requests share each fetch, and wait for it at most MODELS_FETCH_TIMEOUT (plus the
        connect timeout); lists already known refresh in the background instead.
        """
        unknown = [
            p for p in self.providers.values() if not p.config.serves_any and not p.catalog.known
        ]
        wait = self.config.models_fetch_timeout + self.config.timeout_connect
        if len(unknown) == 1:
            unknown[0].catalog.ensure_listed(wait)
        elif unknown:
            with ThreadPoolExecutor(max_workers=min(8, len(unknown))) as pool:
                list(pool.map(lambda p: p.catalog.ensure_listed(wait), unknown))

    def knows_model(self, model: str) -> bool:
        """True for a model group, or a model some provider lists now (never fetches).

        Metrics take the model a client asked for as a label only when this holds,
        so clients cannot mint label values.
        """
        if model.lower() in self.config.groups:
            return True
        prefix, _, rest = model.partition("/")
        family = self.families.get(prefix.lower()) if rest else None
        runtimes = family if family is not None else self.providers.values()
        name = rest if family is not None else model
        return any(runtime.catalog.lists(name) for runtime in runtimes)

    def list_models(self) -> list[tuple[str, str]]:
        """Return (prefix, model) for every model every provider lists."""
        runtimes = list(self.providers.values())
        if not runtimes:
            return []
        with ThreadPoolExecutor(max_workers=min(8, len(runtimes))) as pool:
            listed = list(pool.map(_listing, runtimes))
        seen: dict[tuple[str, str], None] = {}
        for runtime, models in zip(runtimes, listed, strict=True):
            for model in models:
                seen.setdefault((runtime.config.prefix, model))
        return list(seen)

    # -- serving ----------------------------------------------------------------------

    def complete(
        self, payload: Mapping[str, Any], options: RouteOptions | None = None
    ) -> Completion:
        """Serve a non-streamed chat completion, from the cache when allowed and stored."""
        options = options or RouteOptions(fallback=self.config.fallback_enabled)
        chain = self.resolve(str(payload["model"]), options=options)
        key = self._cache_key(payload, chain, options)
        if key is not None and options.cache == CACHE_USE:
            hit = self._cached(key)
            if hit is not None:
                return hit

        def ask(c: Candidate, lease: Lease, timeout: Timeout) -> dict[str, Any]:
            body = c.provider.upstream.chat(self._for(payload, c), lease.secret, timeout)
            self._check_model(c, body.get("model"))
            return body

        body, served, _ = self._walk(chain, ask, mode=WHOLE, client_gone=options.client_gone)
        if key is not None and self.cache is not None:
            self.cache.put(key, (body, served), len(json.dumps(body, separators=(",", ":"))))
        return Completion(body, served)

    def _for(self, payload: Mapping[str, Any], candidate: Candidate) -> dict[str, Any]:
        """The client's body for this candidate: its model id, and for G4F no control fields."""
        if candidate.provider.config.family == G4F:
            body = g4f_body(payload, self.config.g4f_allowed_fields)
        else:
            body = dict(payload)
        body["model"] = candidate.model
        return body

    def _check_model(self, candidate: Candidate, served: Any) -> None:
        """With G4F_STRICT_MODEL, an answer from another model fails the attempt."""
        if (
            self.config.g4f_strict_model
            and candidate.provider.config.family == G4F
            and isinstance(served, str)
            and not same_model(candidate.model, served)
        ):
            raise ModelSwapped(
                f"asked for '{candidate.model}', answered by '{header_safe(served)}'"
            )

    def _cache_key(
        self, payload: Mapping[str, Any], chain: list[Candidate], options: RouteOptions
    ) -> str | None:
        if self.cache is None or options.cache == CACHE_OFF:
            return None
        scope = "" if self.config.cache_shared else options.client
        return cache_key(payload, ((c.provider.name, c.model) for c in chain), scope)

    def _cached(self, key: str) -> Completion | None:
        stored = self.cache.get(key) if self.cache is not None else None
        if stored is None:
            return None
        body, served = stored
        hit = Served(served.provider, served.tier, served.model, "", [], [], self._clock(), True)
        return Completion(body, hit)

    def embed(self, payload: Mapping[str, Any], options: RouteOptions | None = None) -> Completion:
        """Serve an embeddings request."""
        body, served, _ = self._walk(
            self.resolve(str(payload["model"]), embeddings=True, options=options),
            lambda c, lease, t: c.provider.upstream.embeddings(
                self._for(payload, c), lease.secret, t
            ),
            client_gone=options.client_gone if options else None,
        )
        return Completion(body, served)

    def stream(self, payload: Mapping[str, Any], options: RouteOptions | None = None) -> ChatStream:
        """Open a streamed chat completion, committed to one provider; the caller closes it."""

        def open_stream(c: Candidate, lease: Lease, timeout: Timeout) -> _Opened:
            upstream = c.provider.upstream.stream_chat(self._for(payload, c), lease.secret, timeout)
            prelude, rest = read_prelude(upstream)
            try:
                self._check_model(c, prelude[0].get("model"))
            except ModelSwapped:
                upstream.close()
                raise
            # Committed: from here a read timeout means a stall, not a slow first byte.
            upstream.set_read_timeout(self.config.timeout_read)
            return _Opened(upstream, prelude, rest)

        options = options or RouteOptions(fallback=self.config.fallback_enabled)
        chain = self.resolve(str(payload["model"]), options=options)
        key = self._cache_key(payload, chain, options)
        hit = self._cached(key) if key is not None and options.cache == CACHE_USE else None
        if hit is not None:
            replay = replay_chunks(hit.body, include_usage=True)
            return ChatStream(replay, iter(()), None, on_close=lambda _f: None, served=hit.served)
        (upstream, prelude, rest), served, (candidate, lease) = self._walk(
            chain, open_stream, mode=STREAM, hold_key=True, client_gone=options.client_gone
        )
        provider = candidate.provider

        def on_close(failure: ProviderError | None) -> None:
            provider.keys.release(lease)
            if failure is not None:
                provider.keys.record(lease, failure)
                after_commit = Admission(Permit.PASS, Permit.PASS)
                provider.record(after_commit, candidate.model, StreamInterrupted.outcome)

        return ChatStream(
            prelude,
            rest,
            upstream,
            on_close=on_close,
            served=served,
            client_gone=options.client_gone,
        )

    def _walk(
        self,
        candidates: list[Candidate],
        call: Callable[[Candidate, Lease, Timeout], T],
        *,
        mode: str | None = None,
        hold_key: bool = False,
        client_gone: Callable[[], bool] | None = None,
    ) -> tuple[T, Served, tuple[Candidate, Lease]]:
        """Try candidates and keys in order; ``mode`` (stream/whole) selects adaptive timeouts.

        When every key that could serve is busy (none blocked), wait for one to be given
        back, within the deadline, and walk again.
        """
        deadline = Deadline(self.config.request_deadline, self._clock)
        again = False
        while True:
            trail = Trail()
            found = self._pass(candidates, call, deadline, trail, mode, hold_key, client_gone)
            if found is not None:
                return found
            if not trail.only_busy or deadline.expired():
                raise trail.exhausted(self._soonest(candidates))
            names = {c.provider.name for c in candidates if c.skip is None}
            if not self.slots.wait(names, deadline.remaining(), client_gone, again=again):
                if client_gone is not None and client_gone():
                    raise ClientGone("the client closed its connection while waiting for a key")
                raise trail.exhausted(self._soonest(candidates))
            again = True

    def _pass(
        self,
        candidates: list[Candidate],
        call: Callable[[Candidate, Lease, Timeout], T],
        deadline: Deadline,
        trail: Trail,
        mode: str | None,
        hold_key: bool,
        client_gone: Callable[[], bool] | None,
    ) -> tuple[T, Served, tuple[Candidate, Lease]] | None:
        """One walk down the candidates: what served, or None (the trail says why)."""
        for index, candidate in enumerate(candidates):
            provider = candidate.provider
            if candidate.skip is not None:
                trail.skip(provider.name, provider.tier, candidate.model, candidate.skip)
                continue
            admission = provider.admit(candidate.model)
            if isinstance(admission, str):
                trail.skip(provider.name, provider.tier, candidate.model, admission)
                continue
            tried: set[str] = set()
            while True:
                lease = provider.keys.acquire(exclude=tried)
                if lease is None:
                    provider.release(admission, candidate.model)
                    if not tried:
                        trail.skip(
                            provider.name, provider.tier, candidate.model, provider.blocked_reason()
                        )
                    break
                tried.add(lease.key_id)
                started = self._clock()
                limit = provider.latency.current(mode) if mode else self.config.timeout_read
                try:
                    timeout = deadline.timeout(self.config.timeout_connect, limit)
                    result = _within(deadline, client_gone, call, candidate, lease, timeout)
                except ClientGone as exc:
                    provider.keys.release(lease)
                    provider.release(admission, candidate.model)
                    trail.record(self._attempt(candidate, lease, started, exc), exc)
                    exc.trail = trail.entries
                    raise
                except ProviderError as exc:
                    if mode and isinstance(exc, UpstreamTimeout):
                        provider.latency.timed_out(mode, limit)
                    provider.keys.release(lease)
                    provider.keys.record(lease, exc)
                    provider.record(admission, candidate.model, exc.outcome)
                    trail.record(self._attempt(candidate, lease, started, exc), exc)
                    if isinstance(exc, DeadlineExceeded) or deadline.expired():
                        trail.deadline_hit = True
                        raise trail.exhausted(None) from None
                    if isinstance(exc, ModelNotServed):
                        provider.catalog.mark_missing(candidate.model, self.config.not_found_ttl)
                    elif exc.caller_fault and index == 0:
                        exc.trail = trail.entries
                        raise
                    if exc.key_specific:
                        continue
                    break
                except BaseException:
                    provider.keys.release(lease)
                    provider.release(admission, candidate.model)
                    raise
                if mode:
                    provider.latency.observe(mode, self._clock() - started)
                provider.keys.record(lease, None)
                provider.record(admission, candidate.model, "success")
                if not hold_key:
                    provider.keys.release(lease)
                trail.record(self._attempt(candidate, lease, started, None))
                served = Served(
                    provider.name,
                    provider.tier,
                    candidate.model,
                    lease.key_id,
                    trail.attempts,
                    trail.entries,
                    started,
                )
                return result, served, (candidate, lease)
        return None

    def _attempt(
        self, candidate: Candidate, lease: Lease, started: float, error: ProviderError | None
    ) -> Attempt:
        return Attempt(
            provider=candidate.provider.name,
            tier=candidate.provider.tier,
            model=candidate.model,
            key=lease.key_id,
            outcome=error.outcome if error else "success",
            status=error.upstream_status if error else 200,
            ms=round((self._clock() - started) * 1000),
            error=error.message[:200] if error else None,
            seconds=self._clock() - started,
        )

    def _soonest(self, candidates: list[Candidate]) -> float | None:
        waits = [w for c in candidates if (w := c.provider.available_in()) is not None]
        return min(waits) if waits else None

    # -- state ------------------------------------------------------------------------

    def key_summary(self) -> dict[str, dict[str, int]]:
        """Key counts by status for every provider."""
        return {name: p.keys.counts() for name, p in self.providers.items()}

    def ready(self) -> bool:
        """True when at least one provider has a usable key and a closed circuit."""
        return any(
            p.keys.counts()[USABLE] and p.circuit.state() != OPEN for p in self.providers.values()
        )

    def close(self) -> None:
        """Close every pooled upstream connection."""
        self.sessions.close()


def _within(
    deadline: Deadline,
    client_gone: Callable[[], bool] | None,
    call: Callable[[Candidate, Lease, Timeout], T],
    candidate: Candidate,
    lease: Lease,
    timeout: Timeout,
) -> T:
    """Run one attempt with its connections cut when the request's deadline passes.

    The read timeout restarts with every byte; this bounds an upstream that trickles.
    """
    with guarded(deadline.remaining(), client_gone) as guard:
        try:
            result = call(candidate, lease, timeout)
        except ProviderError:
            if guard.fired:
                raise _cut(guard) from None
            raise
    if guard.fired:
        close = getattr(result, "close", None)
        if callable(close):
            close()
        raise _cut(guard)
    return result


def _cut(guard: Guard) -> ProviderError:
    if guard.client_left:
        return ClientGone("the client closed its connection while the upstream was answering")
    return DeadlineExceeded("the request deadline ran out while the upstream was still answering")


def _listing(runtime: ProviderRuntime) -> tuple[str, ...]:
    if runtime.config.serves_any and runtime.config.models is None:
        return ()
    return runtime.catalog.models() or ()
