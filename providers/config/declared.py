"""What a provider declares of itself in the environment: the fields and dialects it takes."""

from __future__ import annotations

from collections.abc import Mapping

from providers.secrets import redact_url

from .catalog import CHAT_ONLY, KnownProvider, OptionalField, Rotation, WireDialect
from .env import ConfigError, env_bool, env_list, env_str, positive_int


def declared_fields(env: Mapping[str, str], prefix: str) -> frozenset[str]:
    """The optional fields a custom OpenAI-compatible server declares it takes."""
    declared = env_bool(env, f"{prefix}_PROMPT_CACHE_KEY", False)
    return frozenset({OptionalField.PROMPT_CACHE_KEY} if declared else ())


def declared_dialects(
    env: Mapping[str, str], prefix: str, known: KnownProvider | None
) -> frozenset[str]:
    """``<P>_DIALECTS`` (``chat``, ``messages``, ``responses``), else what the provider is
    known to speak (chat completions for a custom server)."""
    name = f"{prefix}_DIALECTS"
    listed = env_list(env, name)
    if not listed:
        return frozenset(known.dialects) if known else CHAT_ONLY
    words = [w.lower() for w in listed]
    unknown = [w for w in words if w not in set(WireDialect)]
    if unknown:
        allowed = ", ".join(WireDialect)
        raise ConfigError(f"{name} names {unknown[0][:40]!r}; the dialects are {allowed}")
    return frozenset(WireDialect(w) for w in words)


def models_auth(dialects: frozenset[str], known: KnownProvider | None) -> str:
    """Whose authentication the model list takes: a built-in's own, else Messages' for a
    server that speaks no chat completions."""
    if known is not None:
        return known.models_auth
    return WireDialect.CHAT if WireDialect.CHAT in dialects else WireDialect.MESSAGES


def rotation_mode(env: Mapping[str, str], prefix: str) -> str:
    """``ROTATION_MODE_<P>``, else ``ROTATION_MODE``, else balanced."""
    for name in (f"ROTATION_MODE_{prefix}", "ROTATION_MODE"):
        raw = env_str(env, name).lower()
        if not raw:
            continue
        if raw not in set(Rotation):
            raise ConfigError(f"{name} must be 'balanced' or 'sequential' (got {raw[:40]!r})")
        return raw
    return Rotation.BALANCED


def takes_cache_control(env: Mapping[str, str], prefix: str, known: KnownProvider | None) -> bool:
    """Whether ``cache_control`` on chat content parts is taken: a built-in's own, else
    ``<P>_CACHE_CONTROL``."""
    return known.cache_control if known else env_bool(env, f"{prefix}_CACHE_CONTROL", False)


def provider_base_url(env: Mapping[str, str], var: str, default: str) -> str:
    """``var``: an http(s) URL (``ConfigError`` naming the variable otherwise)."""
    url = env_str(env, var, default).rstrip("/")
    if not url.startswith(("http://", "https://")):
        raise ConfigError(f"{var}={redact_url(url)!r} must be an http:// or https:// URL")
    return url


def provider_tier(env: Mapping[str, str], prefix: str, default: int) -> int:
    """``PROVIDER_PRIORITY_<prefix>``: a positive tier, else ``default``."""
    name = f"PROVIDER_PRIORITY_{prefix}"
    raw = env_str(env, name)
    if not raw:
        return default
    tier = positive_int(raw)
    if tier is None:
        raise ConfigError(f"{name}={raw!r} is not a positive integer (1 is the highest tier)")
    return tier
