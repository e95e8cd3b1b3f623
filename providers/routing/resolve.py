"""From a model name to the ordered chain of (provider, model) candidates that may serve it.

``provider/model`` puts that provider first, then every other provider that serves
the same model, by tier, then G4F; a bare model is every provider that serves it,
by tier, then G4F; a model group is exactly its own chain. Within a tier the
healthy rotate and the rest go last.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from fnmatch import fnmatchcase

from providers.config.catalog import G4F
from providers.config.shape import RoutingConfig
from providers.errors import ModelNotFound, NoProviderConfigured, NotPermitted, UnsupportedEndpoint
from providers.options import RouteOptions
from providers.outcomes import Skip

from .runtime import ProviderRuntime


@dataclass(frozen=True)
class Candidate:
    """A provider and the model id to ask it for."""

    provider: ProviderRuntime
    model: str
    #: Why this provider is passed over without a request (shown in the trail), if it is.
    skip: Skip | None = None


class Resolver:
    """Resolves model names against the configured providers of one router."""

    def __init__(self, config: RoutingConfig, providers: Mapping[str, ProviderRuntime]) -> None:
        self._config = config
        self._providers = providers
        #: Runtimes by the prefix clients use (several G4F endpoints share "g4f").
        self.families: dict[str, list[ProviderRuntime]] = {}
        for runtime in providers.values():
            self.families.setdefault(runtime.config.prefix, []).append(runtime)
        self._turns = itertools.count()

    def resolve(
        self, model: str, options: RouteOptions, *, embeddings: bool = False
    ) -> list[Candidate]:
        """The ordered chain of candidates for ``model`` that ``options`` allow."""
        if not self._providers:
            raise NoProviderConfigured(
                "No provider is configured, so nothing can serve a model: set a key such as "
                "GROQ_API_KEY (or <NAME>_API_BASE for any OpenAI-compatible server) in .env "
                "and restart keyrelay; .env.example lists every provider"
            )
        group = self._config.groups.get(model.lower())
        if group is not None:
            chain = [c for entry in group for c in self._named(entry)]
        else:
            chain = self._chain(model)
        if embeddings:
            chain = _with_embeddings(model, chain)
        return _narrow(model, chain, options)

    def _named(self, entry: str) -> list[Candidate]:
        """The candidates for ``provider/model`` at that provider (G4F: endpoint, then main)."""
        prefix, _, rest = entry.partition("/")
        if prefix.lower() == G4F:
            return self._g4f(rest)
        chain = []
        for runtime in self.families.get(prefix.lower(), []):
            if runtime.catalog.filtered(rest):
                # The operator excluded it (IGNORE_MODELS_<P>): said in the trail, not silently.
                chain.append(Candidate(runtime, rest, skip=Skip.IGNORED_BY_CONFIG))
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
            self._fetch_unknown_catalogs()
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

    def _fetch_unknown_catalogs(self) -> None:
        """Fetch the model lists never fetched yet, before a bare model is looked up.

        A fresh worker must not answer 404 for a model its provider lists. Concurrent
        requests share each fetch, and wait for it at most MODELS_FETCH_TIMEOUT (plus the
        connect timeout); lists already known refresh in the background instead.
        """
        unknown = [
            p for p in self._providers.values() if not p.config.serves_any and not p.catalog.known
        ]
        wait = self._config.models_fetch_timeout + self._config.timeout_connect
        if len(unknown) == 1:
            unknown[0].catalog.ensure_listed(wait)
        elif unknown:
            with ThreadPoolExecutor(max_workers=min(8, len(unknown))) as pool:
                list(pool.map(lambda p: p.catalog.ensure_listed(wait), unknown))

    def knows_model(self, model: str) -> bool:
        """True for a model group, or a model some provider lists now (never fetches)."""
        if model.lower() in self._config.groups:
            return True
        prefix, _, rest = model.partition("/")
        family = self.families.get(prefix.lower()) if rest else None
        runtimes = family if family is not None else self._providers.values()
        name = rest if family is not None else model
        return any(runtime.catalog.lists(name) for runtime in runtimes)

    def list_models(
        self, providers: tuple[str, ...] = (), max_tier: int | None = None
    ) -> list[tuple[str, str]]:
        """(prefix, model) for every model every provider lists (those whose names match
        ``providers``' patterns and whose tier is at most ``max_tier``, when given)."""
        runtimes = [
            r
            for r in self._providers.values()
            if (not providers or any(fnmatchcase(r.name, p) for p in providers))
            and (max_tier is None or r.tier <= max_tier)
        ]
        if not runtimes:
            return []
        with ThreadPoolExecutor(max_workers=min(8, len(runtimes))) as pool:
            listed = list(pool.map(_listing, runtimes))
        seen: dict[tuple[str, str], None] = {}
        for runtime, models in zip(runtimes, listed, strict=True):
            for model in models:
                seen.setdefault((runtime.config.prefix, model))
        return list(seen)


def _with_embeddings(model: str, chain: list[Candidate]) -> list[Candidate]:
    without = [c for c in chain if not c.provider.config.embeddings]
    chain = [c for c in chain if c.provider.config.embeddings]
    if not chain and without:
        raise UnsupportedEndpoint(
            f"'{model}' is not offered with embeddings by {without[0].provider.name}",
            param="model",
        )
    return chain


def _narrow(model: str, chain: list[Candidate], options: RouteOptions) -> list[Candidate]:
    """What ``X-Max-Tier`` and ``X-Fallback`` leave of ``chain``; a 404 if nothing."""
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
    if options.providers:
        allowed = options.providers
        chain = [c for c in chain if any(fnmatchcase(c.provider.name, p) for p in allowed)]
        if not chain:
            raise NotPermitted(
                f"This client key may not use any provider that serves '{model}'", param="model"
            )
    first = next((i for i, c in enumerate(chain) if c.skip is None), None)
    if first is None:
        raise ModelNotFound(
            f"The model '{model}' is excluded by this server's configuration "
            "(IGNORE_MODELS_<PROVIDER> / WHITELIST_MODELS_<PROVIDER>)",
            param="model",
        )
    return chain if options.fallback else chain[: first + 1]


def _listing(runtime: ProviderRuntime) -> tuple[str, ...]:
    if runtime.config.serves_any and runtime.config.models is None:
        return ()
    return runtime.catalog.models() or ()
