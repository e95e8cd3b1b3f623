"""Reading the routing configuration from environment variables.

Variable names follow LLM-API-Key-Proxy ``.env`` files so its users can bring
theirs: ``<P>_API_KEY`` / ``<P>_API_KEY_<anything>``, ``<P>_API_BASE``,
``<P>_MODELS``, ``IGNORE_MODELS_<P>``, ``WHITELIST_MODELS_<P>`` and
``MAX_CONCURRENT_REQUESTS_PER_KEY_<P>``. Invalid values raise ``ConfigError``
naming the variable, so a bad deployment stops at start-up, not at the first request.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from providers.clients.prices import parse_overrides
from providers.health.latency import AdaptivePolicy

from . import shape as config
from .catalog import (
    CUSTOM_TIER,
    KNOWN_PROVIDERS,
)
from .declared import (
    declared_dialects,
    declared_fields,
    models_auth,
    provider_base_url,
    provider_tier,
    rotation_mode,
    takes_cache_control,
)
from .env import ConfigError, env_bool, env_float, env_int, env_list, env_str
from .g4f import first_byte_timeout, g4f_endpoints
from .shape import ProviderConfig, RoutingConfig


def checked_prices(raw: str) -> str:
    """``MODEL_PRICES`` as given, once it parses (``ConfigError`` naming a bad entry)."""
    parse_overrides(raw)
    return raw


KEY_VAR = re.compile(r"^(?P<provider>[A-Z0-9_]+?)_API_KEY(?:_[A-Za-z0-9_]+)?$")
_BASE_VAR = re.compile(r"^(?P<provider>[A-Z0-9_]+)_API_BASE$")
#: Prefixes of variables that are settings, never provider names.
RESERVED = frozenset({"PROXY", "METRICS", "G4F", "ADMIN"})
_PRIORITY_VAR = re.compile(r"^PROVIDER_PRIORITY_(?P<provider>[A-Z0-9_]+)$")
_GROUP_VAR = re.compile(r"^MODEL_GROUP_(?P<name>[A-Za-z0-9_\-.]+)$")


def _keys_by_provider(env: Mapping[str, str]) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for name in sorted(env):
        match = KEY_VAR.match(name)
        if not match or match["provider"] in RESERVED:
            continue
        values = (v.strip() for v in env[name].split(","))
        found.setdefault(match["provider"], []).extend(v for v in values if v)
    return found


def _provider(env: Mapping[str, str], prefix: str, keys: list[str]) -> ProviderConfig:
    known = KNOWN_PROVIDERS.get(prefix.lower())
    base = provider_base_url(env, f"{prefix}_API_BASE", known.base_url if known else "")
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
        stream_usage=known.stream_usage
        if known
        else env_bool(env, f"{prefix}_STREAM_USAGE", False),
        reasoning_effort=known.reasoning_effort
        if known
        else env_bool(env, f"{prefix}_REASONING_EFFORT", False),
        # A local server's chat template often refuses a system message after the first.
        system_anywhere=known.system_anywhere
        if known
        else env_bool(env, f"{prefix}_SYSTEM_ANYWHERE", False),
        optional_fields=known.optional_fields if known else declared_fields(env, prefix),
        dialects=(dialects := declared_dialects(env, prefix, known)),
        models_auth=models_auth(dialects, known),
        rotation=rotation_mode(env, prefix),
        cache_control=takes_cache_control(env, prefix, known),
        max_in_flight_per_key=max_in_flight or None,
        custom=known is None,
        tier=provider_tier(env, prefix, known.tier if known else CUSTOM_TIER),
        aggregator=(aggregator := env_bool(env, f"{prefix}_AGGREGATOR", False)),
        first_byte_timeout=first_byte_timeout(env) if aggregator else None,
    )


def _check_priorities(env: Mapping[str, str]) -> None:
    """Every PROVIDER_PRIORITY_* must be valid, even one for a provider not enabled."""
    for name in env:
        match = _PRIORITY_VAR.match(name)
        if match:
            provider_tier(env, match["provider"], 0)


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
    return (*configured, *g4f_endpoints(env))


def load_routing_config(env: Mapping[str, str], *, pool_maxsize: int = 10) -> RoutingConfig:
    """Build the routing configuration from environment variables (defaults: RoutingConfig)."""
    d = RoutingConfig
    return RoutingConfig(
        providers=load_providers(env),
        timeout_connect=env_float(env, "TIMEOUT_CONNECT", d.timeout_connect, minimum=0.001),
        timeout_read=env_float(env, "TIMEOUT_READ", d.timeout_read, minimum=0.001),
        request_deadline=env_float(env, "REQUEST_DEADLINE", d.request_deadline, minimum=0.001),
        models_cache_ttl=env_float(env, "MODELS_CACHE_TTL", d.models_cache_ttl),
        models_fetch_timeout=env_float(
            env, "MODELS_FETCH_TIMEOUT", d.models_fetch_timeout, minimum=0.001
        ),
        rate_limit_cooldown=env_float(env, "RATE_LIMIT_COOLDOWN", d.rate_limit_cooldown),
        max_cooldown=env_float(env, "MAX_COOLDOWN", d.max_cooldown),
        auth_failure_cooldown=env_float(env, "KEY_AUTH_FAILURE_COOLDOWN", d.auth_failure_cooldown),
        quota_cooldown=env_float(env, "KEY_QUOTA_COOLDOWN", d.quota_cooldown),
        pool_maxsize=env_int(env, "UPSTREAM_POOL_MAXSIZE", pool_maxsize, minimum=1),
        groups=load_groups(env),
        fallback_enabled=env_bool(env, "FALLBACK_ENABLED", d.fallback_enabled),
        circuit_failures=env_int(env, "CIRCUIT_FAILURE_THRESHOLD", d.circuit_failures, minimum=1),
        circuit_failure_rate=env_float(
            env, "CIRCUIT_FAILURE_RATE", d.circuit_failure_rate, minimum=0.01, maximum=1.0
        ),
        circuit_min_calls=env_int(env, "CIRCUIT_MIN_CALLS", d.circuit_min_calls, minimum=1),
        circuit_window_seconds=env_float(
            env, "CIRCUIT_WINDOW_SECONDS", d.circuit_window_seconds, minimum=0.001
        ),
        circuit_open_seconds=env_float(
            env, "CIRCUIT_OPEN_SECONDS", d.circuit_open_seconds, minimum=0.001
        ),
        circuit_max_open_seconds=env_float(
            env, "CIRCUIT_MAX_OPEN_SECONDS", d.circuit_max_open_seconds, minimum=0.001
        ),
        not_found_ttl=env_float(env, "MODEL_NOT_FOUND_TTL", d.not_found_ttl),
        **_cache_and_limits(env),
        adaptive=load_adaptive(env),
    )


def _cache_and_limits(env: Mapping[str, str]) -> dict[str, Any]:
    d = RoutingConfig
    return {
        "cache_ttl": env_float(env, "CACHE_TTL_SECONDS", d.cache_ttl),
        "cache_max_entries": env_int(env, "CACHE_MAX_ENTRIES", d.cache_max_entries, minimum=1),
        "cache_max_bytes": env_int(env, "CACHE_MAX_BYTES", d.cache_max_bytes, minimum=1024),
        "cache_shared": env_bool(env, "CACHE_SHARED", d.cache_shared),
        "g4f_allowed_fields": env_list(env, "G4F_ALLOWED_FIELDS"),
        "g4f_strict_model": env_bool(env, "G4F_STRICT_MODEL", d.g4f_strict_model),
        "max_response_bytes": env_int(
            env, "MAX_UPSTREAM_RESPONSE_BYTES", d.max_response_bytes, minimum=1024
        ),
        "max_event_bytes": env_int(
            env, "MAX_UPSTREAM_EVENT_BYTES", d.max_event_bytes, minimum=1024
        ),
        "state_url": env_str(env, "STATE_URL", config.DEFAULT_STATE_URL),
        "state_timeout": env_float(env, "STATE_TIMEOUT", d.state_timeout, minimum=0.001),
        "usage_retention_days": env_int(
            env, "USAGE_RETENTION_DAYS", d.usage_retention_days, minimum=1
        ),
        "session_affinity": env_bool(env, "SESSION_AFFINITY", d.session_affinity),
        "session_idle_seconds": env_float(
            env, "SESSION_IDLE_SECONDS", d.session_idle_seconds, minimum=1.0
        ),
        "client_key_secret": env_str(env, "CLIENT_KEY_SECRET"),
        "model_prices": checked_prices(env_str(env, "MODEL_PRICES")),
    }


def load_adaptive(env: Mapping[str, str]) -> AdaptivePolicy:
    """ADAPTIVE_TIMEOUT*: how first-byte timeouts learn from latency (defaults: AdaptivePolicy)."""
    d = AdaptivePolicy
    return AdaptivePolicy(
        enabled=env_bool(env, "ADAPTIVE_TIMEOUT", d.enabled),
        floor=env_float(env, "ADAPTIVE_TIMEOUT_FLOOR", d.floor, minimum=0.001),
        factor=env_float(env, "ADAPTIVE_TIMEOUT_FACTOR", d.factor, minimum=1.0),
        percentile=env_float(env, "ADAPTIVE_TIMEOUT_PERCENTILE", d.percentile, minimum=1.0),
        min_samples=env_int(env, "ADAPTIVE_TIMEOUT_MIN_SAMPLES", d.min_samples, minimum=1),
    )
