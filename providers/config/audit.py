"""What a configuration says that keyrelay will not do: ignored variables and open exposure.

An LLM-API-Key-Proxy ``.env`` brought as it is loads without error, but some of
its variables mean nothing here; silence would let a user believe they work.
``ignored_variables`` names each one (never its value) with the reason, for
``config-check`` and for one warning each at start-up. Imports nothing heavy:
gunicorn's master reads it before any worker exists.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from .catalog import G4F_ENDPOINTS, KNOWN_PROVIDERS
from .load import KEY_VAR, RESERVED, load_providers

#: Client keys that are published somewhere (templates, examples): never a real secret.
PLACEHOLDER_KEYS = frozenset(
    {
        "change-me", "changeme", "change_me", "replace-me", "your_proxy_api_key",
        "your-proxy-api-key", "your-key", "your_key", "secret", "password", "test",
        "proxy-key", "sk-1234", "sk-proxy", "admin",
    }
)  # fmt: skip
_LOOPBACK = re.compile(r"^(127\.\d+\.\d+\.\d+|localhost|\[::1\]|::1)(:\d+)?$")

_BASE_SPELLING = re.compile(
    r"^(?P<p>[A-Z0-9_]+?)_(BASE_URL|API_URL|URL|BASE|API_ENDPOINT|ENDPOINT)$"
)
_PER_PROVIDER = re.compile(
    r"^(?:MAX_CONCURRENT_REQUESTS_PER_KEY|IGNORE_MODELS|WHITELIST_MODELS|ROTATION_MODE)"
    r"_(?P<p>[A-Z0-9_]+)$"
)
_PRIORITY = re.compile(r"^PROVIDER_PRIORITY_(?P<p>[A-Z0-9_]+)$")
#: LLM-API-Key-Proxy settings with no counterpart here, and what to do instead.
_FOREIGN: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"^CONCURRENCY_MULTIPLIER_"), "use MAX_CONCURRENT_REQUESTS_PER_KEY_<P>"),
    (re.compile(r"^QUOTA_GROUPS_"), "cooldowns are per key, for every model"),
    (re.compile(r"_OAUTH(_\w+)?$|^OAUTH_|^SKIP_OAUTH"), "OAuth credentials are not supported"),
    (re.compile(r"^GEMINI_CLI_PROJECT_ID$"), "the Gemini CLI (OAuth) provider is not supported"),
)


@dataclass(frozen=True)
class Ignored:
    """A variable keyrelay does not act on, and why."""

    variable: str
    reason: str


def is_placeholder(key: str) -> bool:
    """True for an empty or published client key (``change-me`` and the like)."""
    return key.strip().strip("\"'").lower() in PLACEHOLDER_KEYS or not key.strip()


def is_loopback(address: str) -> bool:
    """True for a bind address only this host can reach (``127.0.0.1:8000``, ``unix:``)."""
    return address.startswith(("unix:", "fd://")) or bool(_LOOPBACK.match(address))


def ignored_variables(env: Mapping[str, str]) -> list[Ignored]:
    """Every set variable keyrelay will not act on, by name, with the reason."""
    configured = {p.name.upper() for p in load_providers(env)}
    known = {name.upper() for name in KNOWN_PROVIDERS}
    g4f = {f"G4F_{part.upper()}" for part in G4F_ENDPOINTS} | {"G4F"}
    found: list[Ignored] = []
    for name in sorted(env):
        if not env[name].strip():
            continue
        reason = _reason(name, env, configured, known, g4f)
        if reason:
            found.append(Ignored(name, reason))
    return found


def _reason(
    name: str, env: Mapping[str, str], configured: set[str], known: set[str], g4f: set[str]
) -> str | None:
    key = KEY_VAR.match(name)
    if key and key["provider"] not in RESERVED and key["provider"] not in configured:
        provider = key["provider"]
        return (
            f"'{provider.lower()}' is not a provider keyrelay knows and {provider}_API_BASE is "
            "not set: set it to the provider's OpenAI-compatible URL to use these keys"
        )
    base = _BASE_SPELLING.match(name)
    if base and not name.endswith("_API_BASE"):
        prefix = base["p"]
        if prefix in known or prefix in configured or prefix in g4f:
            return f"keyrelay reads {prefix}_API_BASE, not {name}"
    for pattern, instead in _FOREIGN:
        if pattern.search(name):
            return f"an LLM-API-Key-Proxy setting keyrelay does not implement ({instead})"
    per = _PER_PROVIDER.match(name) or _PRIORITY.match(name)
    if per and per["p"] not in configured and per["p"] not in g4f:
        return f"no provider '{per['p'].lower()}' is configured (no {per['p']}_API_KEY)"
    return None
