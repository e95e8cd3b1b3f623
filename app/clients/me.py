"""``GET /v1/me``: the calling client key's own limits, what it used, and what is left."""

from __future__ import annotations

import time
from dataclasses import asdict
from typing import Any

from flask import Blueprint, Response, jsonify
from providers import PROXY_KEY_NAME, ClientRecord, period_end

from app.clients.admission import client_record
from app.gateway import gateway

bp = Blueprint("me", __name__)


def limits_of(record: ClientRecord) -> dict[str, Any]:
    """A record's limits as JSON-ready data."""
    limits = asdict(record.limits)
    return {k: list(v) if isinstance(v, tuple) else v for k, v in limits.items()}


@bp.get("/me")
def me() -> Response:
    """Who this key is, its limits, and its use now (never another key's)."""
    record = client_record()
    if record is None:
        return jsonify({"object": "client_key", "name": PROXY_KEY_NAME, "limits": None})
    gate = gateway().router.clients
    entry = gate.entry(record) or None
    now = time.time()
    window = entry.window if entry is not None else None
    limits = record.limits
    reserved = sum(v[1] for v in window.held.values()) if window else 0.0
    spent = window.spent if window else 0.0
    used = {
        "requests_last_minute": sum(window.requests) if window else 0,
        "tokens_last_minute": sum(window.tokens) if window else 0,
        "tokens_today": window.day_tokens if window else 0,
        "in_flight": len(window.held) if window else 0,
        "spent": round(spent, 9),
        "reserved": round(reserved, 9),
    }
    budget = None
    if limits.budget is not None:
        budget = {"limit": limits.budget, "period": str(limits.period),
                  "remaining": round(max(0.0, limits.budget - spent - reserved), 9),
                  "resets_at": period_end(limits.period, now)}  # fmt: skip
    return jsonify({"object": "client_key", "name": record.name, "prefix": f"kr-{record.prefix}",
                    "created": record.created, "expires": record.expires,
                    "limits": limits_of(record), "used": used, "budget": budget,
                    "prices_as_of": gate.prices.as_of})  # fmt: skip
