"""``GET /v1/providers``: every provider with its tier, keys (by fingerprint) and circuit."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from flask import Blueprint, Response, jsonify
from providers import ProviderStatus

from app.gateway import get_router

bp = Blueprint("providers", __name__)


def describe(status: ProviderStatus) -> dict[str, Any]:
    """A provider as operators see it; keys appear only as fingerprints."""
    return {
        "provider": status.provider,
        "prefix": status.prefix,
        "tier": status.tier,
        "base_url": status.base_url,
        "keys": 0 if status.keyless else len(status.key_ids),
        **status.counts,
        "circuit": status.circuit,
        "circuit_retry_in": status.circuit_retry_in,
        "aggregator": status.aggregator,
        "dialects": list(status.dialects),
        # Aggregators (G4F): models set aside after failing, and seconds until their trial.
        "models_set_aside": status.models_set_aside,
        "adaptive_timeout": status.adaptive_timeout,
        "key_states": [asdict(key) for key in status.keys],
        "waiting_for_key": status.waiting_for_key,
    }


@bp.get("/providers")
def list_providers() -> Response:
    """List the providers, highest tier first."""
    return jsonify({"object": "list", "data": [describe(s) for s in get_router().status()]})
