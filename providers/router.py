"""The router: resolve a model to candidates, then walk them, rotating keys, until one serves."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar

from .chain import Attempt, Deadline, Served, Trail
from .config import ProviderConfig, RoutingConfig
from .errors import DeadlineExceeded, ModelNotFound, NoUsableKey, ProviderError, UnsupportedEndpoint
from .http import SessionPool, Timeout
from .keys import USABLE, InMemoryKeyStore, KeyPolicy, KeyPool, KeyStore, Lease
from .models import ModelCatalog
from .relay import ChatStream, read_prelude
from .secrets import Redactor
from .upstream import Chunk, Upstream, UpstreamStream

T = TypeVar("T")
_Opened = tuple[UpstreamStream, list[Chunk], Iterator[Chunk]]


class ProviderRuntime:
    """One configured provider with its upstream, keys and model catalog."""

    def __init__(
        self,
        config: ProviderConfig,
        routing: RoutingConfig,
        *,
        store: KeyStore,
        sessions: SessionPool,
        redact: Redactor,
        clock: Callable[[], float],
    ) -> None:
        self.config = config
        self.name = config.name
        self.upstream = Upstream(config.name, config.base_url, sessions, redact)
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
        )
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
            models = self.upstream.list_models(lease.secret, self._fetch_timeout)
        except ProviderError as exc:
            self.keys.record(lease, exc)
            raise
        finally:
            self.keys.release(lease)
        return models

    def blocked_reason(self) -> str:
        """Why no key could be acquired: cooling, disabled, exhausted or busy."""
        counts = self.keys.counts()
        if counts[USABLE]:
            return "busy"
        return max((n, reason) for reason, n in counts.items() if reason != USABLE)[1]


@dataclass(frozen=True)
class Candidate:
    """A provider and the model id to ask it for."""

    provider: ProviderRuntime
    model: str


@dataclass(frozen=True)
class Completion:
    """A whole (non-streamed) answer and who served it."""

    body: dict[str, Any]
    served: Served


class Router:
    """Routes requests to providers; built once per worker process."""

    def __init__(
        self,
        config: RoutingConfig,
        *,
        store: KeyStore | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.config = config
        self._clock = clock
        self.sessions = SessionPool(pool_maxsize=config.pool_maxsize)
        self.redact = Redactor(k for p in config.providers for k in p.keys)
        store = store or InMemoryKeyStore()
        self.providers: dict[str, ProviderRuntime] = {
            p.name: ProviderRuntime(
                p, config, store=store, sessions=self.sessions, redact=self.redact, clock=clock
            )
            for p in config.providers
        }

    # -- resolution -------------------------------------------------------------------

    def resolve(self, model: str, *, embeddings: bool = False) -> list[Candidate]:
        """Return the candidates for ``model`` (``provider/model`` or a bare model id)."""
        prefix, _, rest = model.partition("/")
        provider = self.providers.get(prefix.lower()) if rest else None
        if provider is not None:
            if embeddings and not provider.config.embeddings:
                raise UnsupportedEndpoint(
                    f"provider '{provider.name}' does not offer embeddings", param="model"
                )
            if provider.catalog.serves(rest) is False:
                raise ModelNotFound(
                    f"The model '{model}' does not exist or is not served here", param="model"
                )
            return [Candidate(provider, rest)]
        candidates = [
            Candidate(p, model)
            for p in self.providers.values()
            if (p.config.embeddings or not embeddings) and p.catalog.serves(model)
        ]
        if not candidates:
            raise ModelNotFound(
                f"The model '{model}' does not exist or is not served here; "
                "name it as provider/model (see GET /v1/models)",
                param="model",
            )
        return candidates

    def list_models(self) -> list[tuple[str, str]]:
        """Return (provider, model) for every model every provider serves."""
        runtimes = list(self.providers.values())
        if not runtimes:
            return []
        with ThreadPoolExecutor(max_workers=min(8, len(runtimes))) as pool:
            listed = list(pool.map(lambda p: p.catalog.models() or (), runtimes))
        return [(p.name, m) for p, models in zip(runtimes, listed, strict=True) for m in models]

    # -- serving ----------------------------------------------------------------------

    def complete(self, payload: Mapping[str, Any]) -> Completion:
        """Serve a non-streamed chat completion."""
        body, served, _ = self._walk(
            payload,
            lambda c, lease, t: c.provider.upstream.chat(_for(payload, c), lease.secret, t),
        )
        return Completion(body, served)

    def embed(self, payload: Mapping[str, Any]) -> Completion:
        """Serve an embeddings request."""
        body, served, _ = self._walk(
            payload,
            lambda c, lease, t: c.provider.upstream.embeddings(_for(payload, c), lease.secret, t),
            embeddings=True,
        )
        return Completion(body, served)

    def stream(self, payload: Mapping[str, Any]) -> ChatStream:
        """Open a streamed chat completion, committed to one provider; the caller closes it."""

        def open_stream(c: Candidate, lease: Lease, timeout: Timeout) -> _Opened:
            upstream = c.provider.upstream.stream_chat(_for(payload, c), lease.secret, timeout)
            prelude, rest = read_prelude(upstream)
            return upstream, prelude, rest

        (upstream, prelude, rest), served, (candidate, lease) = self._walk(
            payload, open_stream, hold_key=True
        )
        pool = candidate.provider.keys
        return ChatStream(
            prelude, rest, upstream, on_close=lambda _failure: pool.release(lease), served=served
        )

    def _walk(
        self,
        payload: Mapping[str, Any],
        call: Callable[[Candidate, Lease, Timeout], T],
        *,
        embeddings: bool = False,
        hold_key: bool = False,
    ) -> tuple[T, Served, tuple[Candidate, Lease]]:
        candidates = self.resolve(str(payload["model"]), embeddings=embeddings)
        deadline = Deadline(self.config.request_deadline, self._clock)
        trail = Trail()
        for index, candidate in enumerate(candidates):
            pool = candidate.provider.keys
            tried: set[str] = set()
            while True:
                lease = pool.acquire(exclude=tried)
                if lease is None:
                    if not tried:
                        trail.skip(candidate.provider.name, candidate.provider.blocked_reason())
                    break
                tried.add(lease.key_id)
                started = self._clock()
                try:
                    timeout = deadline.timeout(
                        self.config.timeout_connect, self.config.timeout_read
                    )
                    result = call(candidate, lease, timeout)
                except ProviderError as exc:
                    pool.release(lease)
                    pool.record(lease, exc)
                    trail.record(self._attempt(candidate, lease, started, exc), exc)
                    if isinstance(exc, DeadlineExceeded) or deadline.expired():
                        trail.deadline_hit = True
                        raise trail.exhausted(None) from None
                    if exc.caller_fault and index == 0:
                        raise
                    if exc.key_specific:
                        continue
                    break
                except BaseException:
                    pool.release(lease)
                    raise
                pool.record(lease, None)
                if not hold_key:
                    pool.release(lease)
                trail.record(self._attempt(candidate, lease, started, None))
                served = Served(
                    candidate.provider.name, candidate.model, lease.key_id, trail.attempts
                )
                return result, served, (candidate, lease)
        raise trail.exhausted(self._soonest(candidates))

    def _attempt(
        self, candidate: Candidate, lease: Lease, started: float, error: ProviderError | None
    ) -> Attempt:
        return Attempt(
            provider=candidate.provider.name,
            model=candidate.model,
            key=lease.key_id,
            outcome=error.outcome if error else "success",
            status=error.upstream_status if error else 200,
            ms=round((self._clock() - started) * 1000),
            error=error.message[:200] if error else None,
        )

    def _soonest(self, candidates: list[Candidate]) -> float | None:
        waits = [w for c in candidates if (w := c.provider.keys.next_available_in()) is not None]
        return min(waits) if waits else None

    # -- health -----------------------------------------------------------------------

    def key_summary(self) -> dict[str, dict[str, int]]:
        """Key counts by status for every provider."""
        return {name: p.keys.counts() for name, p in self.providers.items()}

    def ready(self) -> bool:
        """True when at least one provider has a usable key."""
        return any(counts[USABLE] for counts in self.key_summary().values())

    def close(self) -> None:
        """Close every pooled upstream connection."""
        self.sessions.close()


def _for(payload: Mapping[str, Any], candidate: Candidate) -> dict[str, Any]:
    """The client's body, untouched but for the model id this candidate knows."""
    body = dict(payload)
    body["model"] = candidate.model
    return body
