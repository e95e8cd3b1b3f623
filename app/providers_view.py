"""``GET /v1/providers``: every provider with its tier, keys (by fingerprint) and circuit."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, jsonify

from providers.router import ProviderRuntime
from providers.secrets import redact_url

from .gateway import get_router

bp = Blueprint("providers", __name__)


def describe(runtime: ProviderRuntime, waiting: int = 0) -> dict[str, Any]:
    """A provider as operators see it; keys appear only as fingerprints."""
    keys = runtime.keys
    return {
        "provider": runtime.name,
        "prefix": runtime.config.prefix,
        "tier": runtime.tier,
        "base_url": redact_url(runtime.config.base_url),
        "keys": 0 if keys.keyless else len(keys.key_ids),
        **keys.counts(),
        "circuit": runtime.circuit.state(),
        "circuit_retry_in": runtime.circuit.retry_in(),
        "aggregator": runtime.config.aggregator,
        # Aggregators (G4F): models set aside after failing, and seconds until their trial.
        "models_set_aside": runtime.models.set_aside() if runtime.models else {},
        "adaptive_timeout": runtime.latency.describe(),
        "key_states": keys.describe(),
        #: Requests of this worker waiting for one of its keys to be given back.
        "waiting_for_key": waiting,
    }


@bp.get("/providers")
def list_providers() -> Response:
    """List the providers, highest tier first."""
    router = get_router()
    runtimes = sorted(router.providers.values(), key=lambda r: r.tier)
    data = [describe(r, router.slots.waiting(r.name)) for r in runtimes]
    return jsonify({"object": "list", "data": data})
