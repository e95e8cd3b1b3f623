"""The router: the outbound side's one facade, built once per worker process.

A request goes down a straight line, each room once: the cache, ``resolve`` (the
chain of candidates), ``failover`` (the walk under one deadline, with ``runtime``
recording every attempt), ``relay`` (a stream's commit point), and back as one
answer shape in the client's terms (``answers``).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from functools import partial
from typing import Any, TypeVar

from providers.clients.gate import gate_for
from providers.config.shape import RoutingConfig
from providers.health.circuit import OPEN
from providers.health.latency import STREAM, WHOLE
from providers.options import RouteOptions
from providers.state.contract import KeyStore
from providers.state.open import open_state
from providers.state.records import Tokens
from providers.status import ProviderStatus, RouteStep, provider_status, route_step
from providers.upstream.http import SessionPool, Timeout
from providers.upstream.native import NativeAnswer

from .affinity import Affinity, preferred
from .answers import Completion, completion_for_client, header_safe
from .attempts import Served
from .cache import CachePolicy, ResponseCache, replay_chunks
from .failover import Call, Failover, Walked
from .native import (
    NativeOpened,
    NativeRelay,
    NativeRequest,
    ask_native,
    count_native,
    open_native,
    per_candidate,
)
from .payload import ask_chat, body_for
from .relay import ChatStream, open_stream
from .resolve import Candidate, Resolver
from .runtime import build_runtimes
from .slots import SlotQueue
from .turn import Turn, begin

T = TypeVar("T")
#: With shared key state, how often a request waiting for a busy key looks again.
SLOT_POLL_SECONDS = 0.05


class Router:
    """Serves chat completions, streams and embeddings through the failover chain."""

    def __init__(
        self,
        config: RoutingConfig,
        *,
        store: KeyStore | None = None,
        cache: ResponseCache | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.config = config
        self.sessions = SessionPool(pool_maxsize=config.pool_maxsize)
        state = open_state(config)
        #: Requests waiting for a busy key to be given back (by any worker, when shared).
        self.slots = SlotQueue(SLOT_POLL_SECONDS if state.shared and store is None else None)
        self._state = state
        #: Usage per provider, key and day; shared when the key state is.
        self.usage = state.usage
        #: The last requests served, for the operator console.
        self.recent = state.recent
        #: Events per name over a window, shared when state is (the console's wrong keys).
        self.tally = state.tally
        #: True when key state is shared by every worker (STATE_URL is not memory://).
        self.state_shared = state.shared and store is None
        self.providers = build_runtimes(
            config,
            store=store or state.keys,
            usage=self.usage,
            circuits=state.circuits,
            marks=state.marks,
            sessions=self.sessions,
            clock=clock,
            on_release=self.slots.released,
        )
        self._resolver = Resolver(config, self.providers)
        self._failover = Failover(config, self.slots, clock)
        self.cache = CachePolicy.from_routing(config, cache, clock)
        #: Told (provider, prompt tokens, cached prompt tokens) of every answer (metrics).
        self.on_tokens: Callable[[str, int, int], None] | None = None
        #: Sessions' pins (SESSION_AFFINITY): a session's turns stay on one provider and key.
        self.affinity = (
            Affinity(state.pins, config.session_idle_seconds) if config.session_affinity else None
        )
        #: Client keys as records: their limits, budgets and usage.
        self.clients = gate_for(state.clients, state.client_usage, secret=config.client_key_secret,
                                prices=config.model_prices, deadline=config.request_deadline,
                                family_of=self._family_of)  # fmt: skip

    def _family_of(self, provider: str) -> str:
        runtime = self.providers.get(provider)
        return runtime.config.family if runtime is not None else ""

    def default_options(self) -> RouteOptions:
        """What a request may do when it says nothing (FALLBACK_ENABLED)."""
        return RouteOptions(fallback=self.config.fallback_enabled)

    def resolve(
        self, model: str, *, embeddings: bool = False, options: RouteOptions | None = None
    ) -> list[Candidate]:
        """The ordered chain of candidates for ``model``."""
        return self._resolver.resolve(
            model, options or self.default_options(), embeddings=embeddings
        )

    def _begin(
        self,
        payload: Mapping[str, Any] | None,
        options: RouteOptions | None,
        native: NativeRequest | None,
    ) -> Turn:
        return begin(payload, options or self.default_options(), native,
                     resolve=lambda model, opts: self.resolve(model, options=opts),
                     cache=self.cache, affinity=self.affinity)  # fmt: skip

    def complete(
        self,
        payload: Mapping[str, Any] | None,
        options: RouteOptions | None = None,
        native: NativeRequest | None = None,
    ) -> Completion:
        """A whole answer, from the cache when allowed and stored: in the client's dialect
        from a candidate that speaks it (``native``), else a chat completion of ``payload``."""
        turn = self._begin(payload, options, native)
        if turn.hit is not None:
            return completion_for_client(*turn.hit, turn.asked)
        ask = ask_chat(payload or {}, self.config)
        call = per_candidate(native, ask_native(native) if native else None, ask)
        walked = self._walk(turn, call, WHOLE, hold=False)
        result, served = walked.result, walked.served
        told = turn.options.on_tokens
        if isinstance(result, NativeAnswer):
            self._count_tokens(served, result.usage, told)
            return Completion(result.data, served, header_safe(result.data.get("model")), result)
        self._count_tokens(served, result.get("usage"), told)
        self.cache.store(turn.cache_key, result, served)
        return completion_for_client(result, served, turn.asked)

    def stream(
        self,
        payload: Mapping[str, Any] | None,
        options: RouteOptions | None = None,
        native: NativeRequest | None = None,
    ) -> ChatStream | NativeRelay:
        """A stream committed to one provider, in the client's dialect from a candidate that
        speaks it (``native``), else chat completion chunks; the caller closes it."""
        turn = self._begin(payload, options, native)
        include_usage, client_gone = turn.options.include_usage, turn.options.client_gone
        if turn.hit is not None:
            replay = replay_chunks(turn.hit[0], include_usage=True)
            return ChatStream(replay, turn.hit[1], model=turn.asked, include_usage=include_usage)
        translated = open_stream(payload, self.config) if payload is not None else None
        native_call = open_native(native, self.config) if native else None
        call = per_candidate(native, native_call, translated)
        walked = self._walk(turn, call, STREAM, hold=True)
        count = partial(self._count_tokens, walked.served, told=turn.options.on_tokens)
        if isinstance(walked.result, NativeOpened):
            return NativeRelay(walked.result, walked.served, held=walked.held,
                               client_gone=client_gone, on_usage=count)  # fmt: skip
        return ChatStream(walked.result, walked.served, model=turn.asked,
                          include_usage=include_usage, held=walked.held,
                          client_gone=client_gone, on_usage=count)  # fmt: skip

    def count_tokens(self, native: NativeRequest, options: RouteOptions | None = None) -> int:
        """A Messages request's input tokens, counted by a candidate that speaks Messages."""
        turn = self._begin(None, options, native)
        call = count_native(native)
        return self._failover.walk(turn.chain, call, client_gone=turn.options.client_gone).result

    def _walk(self, turn: Turn, call: Call[T], mode: str, *, hold: bool) -> Walked[T]:
        """Walk ``turn``'s chain (its session's key preferred), and pin the session where
        it was served."""
        walked = self._failover.walk(turn.chain, call, mode=mode, hold=hold,
                                     client_gone=turn.options.client_gone,
                                     prefer=preferred(turn.pin))  # fmt: skip
        if self.affinity is not None:
            self.affinity.keep(turn.options.session, turn.pin, walked.served)
        return walked

    def embed(self, payload: Mapping[str, Any], options: RouteOptions | None = None) -> Completion:
        """An embeddings request."""
        options = options or self.default_options()
        asked = str(payload["model"])
        chain = self.resolve(asked, embeddings=True, options=options)

        def embed(candidate: Candidate, secret: str, timeout: Timeout) -> dict[str, Any]:
            body = body_for(payload, candidate, self.config)
            return candidate.provider.upstream.embeddings(body, secret, timeout)

        walked = self._failover.walk(chain, embed, client_gone=options.client_gone)
        self._count_tokens(walked.served, walked.result.get("usage"), options.on_tokens)
        return completion_for_client(walked.result, walked.served, asked)

    def _count_tokens(
        self, served: Served, usage: object, told: Callable[[Tokens], None] | None = None
    ) -> None:
        tokens = self.providers[served.provider].add_tokens(served.key, usage)
        if tokens is not None and self.on_tokens is not None:
            self.on_tokens(served.provider, tokens[0], tokens[3])
        if tokens is not None and told is not None:
            told(tokens)

    def route(self, model: str, options: RouteOptions | None = None) -> list[RouteStep]:
        """The chain ``model`` resolves to, as snapshots (``flask --app wsgi route``)."""
        return [route_step(c) for c in self.resolve(model, options=options)]

    def speaks(self, model: str, dialect: str, options: RouteOptions | None = None) -> bool:
        """True when some candidate of ``model``'s chain speaks ``dialect`` natively."""
        return any(
            dialect in c.provider.config.dialects for c in self.resolve(model, options=options)
        )

    def speaks_only(self, model: str, dialect: str, options: RouteOptions | None = None) -> bool:
        """True when every candidate of ``model``'s chain (one at least) speaks ``dialect``
        natively: none of them would take a translation."""
        chain = self.resolve(model, options=options)
        return bool(chain) and all(dialect in c.provider.config.dialects for c in chain)

    def knows_model(self, model: str) -> bool:
        """True for a model group, or a model some provider lists now (never fetches)."""
        return self._resolver.knows_model(model)

    def list_models(
        self, providers: tuple[str, ...] = (), max_tier: int | None = None
    ) -> list[tuple[str, str]]:
        """(prefix, model) for every model every provider lists (or those ``providers``'
        patterns and ``max_tier`` leave)."""
        return self._resolver.list_models(providers, max_tier)

    @property
    def prefixes(self) -> frozenset[str]:
        """The prefixes clients put before model ids (``groq``, ``g4f``, ...)."""
        return frozenset(self._resolver.families)

    def status(self) -> tuple[ProviderStatus, ...]:
        """Every provider's state now, tier by tier."""
        runtimes = sorted(self.providers.values(), key=lambda r: (r.tier, r.name))
        return tuple(provider_status(r, self.slots.waiting(r.name)) for r in runtimes)

    def unblock(self, provider: str, key: str | None = None) -> list[str]:
        """Lift the blocks of a provider's keys (one, by fingerprint, or all): the ones lifted.

        ``KeyError`` names an unknown provider or fingerprint.
        """
        return self.providers[provider].keys.unblock(key)

    @property
    def state_health(self) -> str:
        """``local`` (memory://), ``shared``, or ``degraded`` while the shared store is away."""
        if not self.state_shared:
            return "local"
        return "shared" if self._state.standby.up else "degraded"

    def on_state_latency(self, observe: Callable[[float], None]) -> None:
        """Tell ``observe`` how long each key-state call to the shared store takes."""
        self._state.keys.on_latency = observe

    def ready(self) -> bool:
        """True when at least one provider has a usable key and a closed circuit."""
        return any(s.usable and s.circuit != OPEN for s in self.status())

    def close(self) -> None:
        """Close every pooled upstream connection."""
        self.sessions.close()
