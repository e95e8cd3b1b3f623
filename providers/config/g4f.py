"""The G4F endpoints of the environment (``G4F_<PART>_API_BASE``), sharing G4F_API_KEY."""

from __future__ import annotations

from collections.abc import Mapping

from .catalog import G4F, G4F_DEFAULT_ROUTES, G4F_ENDPOINTS, G4F_TIER
from .declared import provider_base_url, provider_tier
from .env import env_float, env_list, env_str
from .shape import ProviderConfig


def g4f_endpoints(env: Mapping[str, str]) -> list[ProviderConfig]:
    """The G4F endpoints with a base URL, sharing G4F_API_KEY (sent only when set)."""
    key = env_str(env, "G4F_API_KEY")
    family_tier = provider_tier(env, "G4F", G4F_TIER)
    endpoints = []
    for part in G4F_ENDPOINTS:
        var = f"G4F_{part.upper()}_API_BASE"
        if not env_str(env, var):
            continue
        routes = env_list(env, f"G4F_ROUTE_{part.upper()}") or G4F_DEFAULT_ROUTES.get(part, ())
        endpoints.append(
            ProviderConfig(
                name=f"{G4F}-{part}",
                base_url=provider_base_url(env, var, ""),
                keys=(key,) if key else (),
                models=env_list(env, "G4F_MODELS") or None,
                embeddings=False,
                # PROVIDER_PRIORITY_G4F_<ENDPOINT> sets one endpoint; PROVIDER_PRIORITY_G4F all.
                tier=provider_tier(env, f"G4F_{part.upper()}", family_tier),
                family=G4F,
                routes=tuple(r.lower() for r in routes),
                serves_any=True,
                aggregator=True,
                first_byte_timeout=first_byte_timeout(env),
                system_anywhere=False,  # its backends vary: one leading system message
            )
        )
    return endpoints


def first_byte_timeout(env: Mapping[str, str]) -> float:
    """G4F_TIMEOUT_FIRST_BYTE: an aggregator's backend may wait minutes on a login page."""
    return env_float(env, "G4F_TIMEOUT_FIRST_BYTE", 30.0, minimum=0.001)
