"""Provider and routing configuration, read once from environment variables.

Variable names follow LLM-API-Key-Proxy ``.env`` files so its users can bring
theirs: ``<P>_API_KEY`` / ``<P>_API_KEY_<anything>``, ``<P>_API_BASE``,
``<P>_MODELS``, ``IGNORE_MODELS_<P>``, ``WHITELIST_MODELS_<P>`` and
``MAX_CONCURRENT_REQUESTS_PER_KEY_<P>``. Invalid values raise ``ConfigError``
naming the variable, so a bad deployment stops at start-up, not at the first request.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from .catalog import (
    CUSTOM_TIER,
    G4F,
    G4F_DEFAULT_ROUTES,
    G4F_ENDPOINTS,
    G4F_TIER,
    KNOWN_PROVIDERS,
)
from .latency import AdaptivePolicy
from .secrets import redact_url

KEY_VAR = re.compile(r"^(?P<provider>[A-Z0-9_]+?)_API_KEY(?:_[A-Za-z0-9_]+)?$")
_BASE_VAR = re.compile(r"^(?P<provider>[A-Z0-9_]+)_API_BASE$")
#: Prefixes of variables that are settings, never provider names.
RESERVED = frozenset({"PROXY", "METRICS", "G4F", "ADMIN"})
_PRIORITY_VAR = re.compile(r"^PROVIDER_PRIORITY_(?P<provider>[A-Z0-9_]+)$")
_GROUP_VAR = re.compile(r"^MODEL_GROUP_(?P<name>[A-Za-z0-9_\-.]+)$")


class ConfigError(ValueError):
    """A configuration value is invalid; the message names the variable."""


def env_str(env: Mapping[str, str], name: str, default: str = "") -> str:
    """Return a variable with surrounding whitespace removed, or ``default`` when unset/empty."""
    return env.get(name, "").strip() or default


def env_float(env: Mapping[str, str], name: str, default: float, *, minimum: float = 0.0) -> float:
    """Return a number of at least ``minimum``, or raise ``ConfigError``."""
    raw = env_str(env, name)
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{name}={raw!r} is not a number") from None
    if value < minimum or value != value:
        raise ConfigError(f"{name}={raw!r} must be at least {minimum:g}")
    return value


def env_int(env: Mapping[str, str], name: str, default: int, *, minimum: int = 0) -> int:
    """Return an integer of at least ``minimum``, or raise ``ConfigError``."""
    raw = env_str(env, name)
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name}={raw!r} is not an integer") from None
    if value < minimum:
        raise ConfigError(f"{name}={raw!r} must be at least {minimum}")
    return value


def env_bool(env: Mapping[str, str], name: str, default: bool) -> bool:
    """Return a boolean written as true/false, yes/no, on/off or 1/0."""
    raw = env_str(env, name).lower()
    if not raw:
        return default
    if raw in {"1", "true", "yes", "on"}:
        return True
    if raw in {"0", "false", "no", "off"}:
        return False
    raise ConfigError(f"{name}={raw!r} is not a boolean (use true or false)")


_POSITIVE = re.compile(r"[0-9]{1,9}")


def positive_int(raw: str) -> int | None:
    """``raw`` as an integer of at least 1 written in ASCII digits (at most 9), else None.

    ``str.isdigit`` accepts "\u00b2" and ``int`` refuses 5,000 digits: neither may
    reach ``int`` from a client header or a configuration value.
    """
    if not _POSITIVE.fullmatch(raw):
        return None
    value = int(raw)
    return value if value >= 1 else None


def env_list(env: Mapping[str, str], name: str) -> tuple[str, ...]:
    """Return a comma-separated list without empty items."""
    return tuple(item.strip() for item in env.get(name, "").split(",") if item.strip())


@dataclass(frozen=True)
class ProviderConfig:
    """One upstream provider as configured."""

    name: str
    base_url: str
    keys: tuple[str, ...] = field(repr=False)
    models: tuple[str, ...] | None = None
    ignore: tuple[str, ...] = ()
    whitelist: tuple[str, ...] = ()
    embeddings: bool = True
    max_in_flight_per_key: int | None = None
    custom: bool = False
    #: 1 is tried first; PROVIDER_PRIORITY_<P> overrides the default.
    tier: int = CUSTOM_TIER
    #: The prefix clients use: the name itself, or "g4f" for every G4F endpoint.
    family: str = ""
    #: G4F endpoints: the model-name patterns this endpoint is chosen for.
    routes: tuple[str, ...] = ()
    #: Serves any model id (G4F): no model list is fetched.
    serves_any: bool = False
    #: Many backends behind one URL (G4F, or <P>_AGGREGATOR=true): failures count per model.
    aggregator: bool = False
    #: The first-byte timeout of an aggregator (G4F_TIMEOUT_FIRST_BYTE), under TIMEOUT_READ.
    first_byte_timeout: float | None = None

    @property
    def prefix(self) -> str:
        """The ``prefix/`` clients put before this provider's model ids."""
        return self.family or self.name


@dataclass(frozen=True)
class RoutingConfig:
    """Everything the outbound side needs: providers, timeouts and key policy."""

    providers: tuple[ProviderConfig, ...]
    timeout_connect: float = 5.0
    timeout_read: float = 120.0
    request_deadline: float = 300.0
    models_cache_ttl: float = 600.0
    models_fetch_timeout: float = 5.0
    rate_limit_cooldown: float = 10.0
    max_cooldown: float = 86400.0
    auth_failure_cooldown: float = 21600.0
    quota_cooldown: float = 3600.0
    pool_maxsize: int = 10
    #: MODEL_GROUP_<NAME>: an exact, ordered chain of provider/model entries.
    groups: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    fallback_enabled: bool = True
    circuit_failures: int = 3
    circuit_open_seconds: float = 30.0
    circuit_max_open_seconds: float = 600.0
    not_found_ttl: float = 600.0
    #: CACHE_TTL_SECONDS: 0 turns the response cache off.
    cache_ttl: float = 0.0
    cache_max_entries: int = 1000
    #: CACHE_MAX_BYTES: the cache's size bound, counted as the stored answers' JSON.
    cache_max_bytes: int = 64 * 1024 * 1024
    #: CACHE_SHARED: one client key's cached answers may serve another's.
    cache_shared: bool = False
    #: G4F_ALLOWED_FIELDS: G4F control fields clients may send (never a URL).
    g4f_allowed_fields: tuple[str, ...] = ()
    #: G4F_STRICT_MODEL: an answer from another model than asked is that attempt's failure.
    g4f_strict_model: bool = False
    max_response_bytes: int = 32 * 1024 * 1024
    max_event_bytes: int = 4 * 1024 * 1024
    adaptive: AdaptivePolicy = field(default_factory=AdaptivePolicy)


def _keys_by_provider(env: Mapping[str, str]) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for name in sorted(env):
        match = KEY_VAR.match(name)
        if not match or match["provider"] in RESERVED:
            continue
        values = (v.strip() for v in env[name].split(","))
        found.setdefault(match["provider"], []).extend(v for v in values if v)
    return found


def _base_url(env: Mapping[str, str], var: str, default: str) -> str:
    url = env_str(env, var, default).rstrip("/")
    if not url.startswith(("http://", "https://")):
        raise ConfigError(f"{var}={redact_url(url)!r} must be an http:// or https:// URL")
    return url


def _tier(env: Mapping[str, str], prefix: str, default: int) -> int:
    name = f"PROVIDER_PRIORITY_{prefix}"
    raw = env_str(env, name)
    if not raw:
        return default
    tier = positive_int(raw)
    if tier is None:
        raise ConfigError(f"{name}={raw!r} is not a positive integer (1 is the highest tier)")
    return tier


def _provider(env: Mapping[str, str], prefix: str, keys: list[str]) -> ProviderConfig:
    known = KNOWN_PROVIDERS.get(prefix.lower())
    base = _base_url(env, f"{prefix}_API_BASE", known.base_url if known else "")
    models = env_list(env, f"{prefix}_MODELS")
    max_in_flight = env_int(env, f"MAX_CONCURRENT_REQUESTS_PER_KEY_{prefix}", 0, minimum=0)
    return ProviderConfig(
        name=prefix.lower(),
        base_url=base,
        keys=tuple(dict.fromkeys(keys)),
        models=models or None,
        ignore=env_list(env, f"IGNORE_MODELS_{prefix}"),
        whitelist=env_list(env, f"WHITELIST_MODELS_{prefix}"),
        embeddings=known.embeddings if known else True,
        max_in_flight_per_key=max_in_flight or None,
        custom=known is None,
        tier=_tier(env, prefix, known.tier if known else CUSTOM_TIER),
        aggregator=(aggregator := env_bool(env, f"{prefix}_AGGREGATOR", False)),
        first_byte_timeout=_first_byte_timeout(env) if aggregator else None,
    )


def _g4f_endpoints(env: Mapping[str, str]) -> list[ProviderConfig]:
    """The G4F endpoints with a base URL, sharing G4F_API_KEY (sent only when set)."""
    key = env_str(env, "G4F_API_KEY")
    family_tier = _tier(env, "G4F", G4F_TIER)
    endpoints = []
    for part in G4F_ENDPOINTS:
        var = f"G4F_{part.upper()}_API_BASE"
        if not env_str(env, var):
            continue
        routes = env_list(env, f"G4F_ROUTE_{part.upper()}") or G4F_DEFAULT_ROUTES.get(part, ())
        endpoints.append(
            ProviderConfig(
                name=f"{G4F}-{part}",
                base_url=_base_url(env, var, ""),
                keys=(key,) if key else (),
                models=env_list(env, "G4F_MODELS") or None,
                embeddings=False,
                # PROVIDER_PRIORITY_G4F_<ENDPOINT> sets one endpoint; PROVIDER_PRIORITY_G4F all.
                tier=_tier(env, f"G4F_{part.upper()}", family_tier),
                family=G4F,
                routes=tuple(r.lower() for r in routes),
                serves_any=True,
                aggregator=True,
                first_byte_timeout=_first_byte_timeout(env),
            )
        )
    return endpoints


def _first_byte_timeout(env: Mapping[str, str]) -> float:
    """G4F_TIMEOUT_FIRST_BYTE: an aggregator's backend may wait minutes on a login page."""
    return env_float(env, "G4F_TIMEOUT_FIRST_BYTE", 30.0, minimum=0.001)


def _check_priorities(env: Mapping[str, str]) -> None:
    """Every PROVIDER_PRIORITY_* must be valid, even one for a provider not enabled."""
    for name in env:
        match = _PRIORITY_VAR.match(name)
        if match:
            _tier(env, match["provider"], 0)


def load_groups(env: Mapping[str, str]) -> dict[str, tuple[str, ...]]:
    """MODEL_GROUP_<NAME>=provider/model,...: clients ask for model "<name>" (lower-case)."""
    groups = {}
    for name in sorted(env):
        match = _GROUP_VAR.match(name)
        if not match:
            continue
        entries = env_list(env, name)
        bad = [e for e in entries if "/" not in e.strip("/")]
        if not entries or bad:
            raise ConfigError(
                f"{name} must list provider/model entries separated by commas (got {env[name]!r})"
            )
        groups[match["name"].lower()] = entries
    return groups


def load_providers(env: Mapping[str, str]) -> tuple[ProviderConfig, ...]:
    """Find the enabled providers: known ones with keys, custom ones with a base URL."""
    _check_priorities(env)
    keys = _keys_by_provider(env)
    custom = sorted(
        m["provider"]
        for name in env
        if (m := _BASE_VAR.match(name))
        and m["provider"].lower() not in KNOWN_PROVIDERS
        and m["provider"] not in RESERVED
        and not m["provider"].startswith("G4F_")
        and env[name].strip()
    )
    prefixes = [p.upper() for p in KNOWN_PROVIDERS if keys.get(p.upper())] + custom
    configured = [_provider(env, prefix, keys.get(prefix, [])) for prefix in prefixes]
    return (*configured, *_g4f_endpoints(env))


def load_routing_config(env: Mapping[str, str], *, pool_maxsize: int = 10) -> RoutingConfig:
    """Build the routing configuration from environment variables."""
    return RoutingConfig(
        providers=load_providers(env),
        timeout_connect=env_float(env, "TIMEOUT_CONNECT", 5.0, minimum=0.001),
        timeout_read=env_float(env, "TIMEOUT_READ", 120.0, minimum=0.001),
        request_deadline=env_float(env, "REQUEST_DEADLINE", 300.0, minimum=0.001),
        models_cache_ttl=env_float(env, "MODELS_CACHE_TTL", 600.0),
        models_fetch_timeout=env_float(env, "MODELS_FETCH_TIMEOUT", 5.0, minimum=0.001),
        rate_limit_cooldown=env_float(env, "RATE_LIMIT_COOLDOWN", 10.0),
        max_cooldown=env_float(env, "MAX_COOLDOWN", 86400.0),
        auth_failure_cooldown=env_float(env, "KEY_AUTH_FAILURE_COOLDOWN", 21600.0),
        quota_cooldown=env_float(env, "KEY_QUOTA_COOLDOWN", 3600.0),
        pool_maxsize=env_int(env, "UPSTREAM_POOL_MAXSIZE", pool_maxsize, minimum=1),
        groups=load_groups(env),
        fallback_enabled=env_bool(env, "FALLBACK_ENABLED", True),
        circuit_failures=env_int(env, "CIRCUIT_FAILURE_THRESHOLD", 3, minimum=1),
        circuit_open_seconds=env_float(env, "CIRCUIT_OPEN_SECONDS", 30.0, minimum=0.001),
        circuit_max_open_seconds=env_float(env, "CIRCUIT_MAX_OPEN_SECONDS", 600.0, minimum=0.001),
        not_found_ttl=env_float(env, "MODEL_NOT_FOUND_TTL", 600.0),
        cache_ttl=env_float(env, "CACHE_TTL_SECONDS", 0.0),
        cache_max_entries=env_int(env, "CACHE_MAX_ENTRIES", 1000, minimum=1),
        cache_max_bytes=env_int(env, "CACHE_MAX_BYTES", 64 * 1024 * 1024, minimum=1024),
        cache_shared=env_bool(env, "CACHE_SHARED", False),
        max_response_bytes=env_int(
            env, "MAX_UPSTREAM_RESPONSE_BYTES", 32 * 1024 * 1024, minimum=1024
        ),
        g4f_allowed_fields=env_list(env, "G4F_ALLOWED_FIELDS"),
        g4f_strict_model=env_bool(env, "G4F_STRICT_MODEL", False),
        max_event_bytes=env_int(env, "MAX_UPSTREAM_EVENT_BYTES", 4 * 1024 * 1024, minimum=1024),
        adaptive=AdaptivePolicy(
            enabled=env_bool(env, "ADAPTIVE_TIMEOUT", True),
            floor=env_float(env, "ADAPTIVE_TIMEOUT_FLOOR", 5.0, minimum=0.001),
            factor=env_float(env, "ADAPTIVE_TIMEOUT_FACTOR", 3.0, minimum=1.0),
            percentile=env_float(env, "ADAPTIVE_TIMEOUT_PERCENTILE", 95.0, minimum=1.0),
            min_samples=env_int(env, "ADAPTIVE_TIMEOUT_MIN_SAMPLES", 20, minimum=1),
        ),
    )
