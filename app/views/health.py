"""``GET /health`` (liveness) and ``GET /ready`` (readiness), unauthenticated."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify

from app.auth import may_see_details
from app.errors import error_body, error_response
from app.gateway import get_router

bp = Blueprint("health", __name__)


@bp.route("/", methods=["GET", "HEAD"])
def root() -> Response:
    """What a client probing the base URL finds (Claude Code does at start): who answers."""
    return jsonify({"object": "keyrelay", "status": "ok", "api": "/v1"})


@bp.get("/health")
def health() -> Response:
    """Answer 200 while the process serves requests: no upstream I/O, no shared locks."""
    return jsonify({"status": "ok"})


@bp.get("/ready")
def ready() -> Response:
    """Answer 200 when at least one provider has a usable key, else 503 with the reason.

    Load balancers get the status and a one-word reason; the providers and their key
    counts only go to a caller with a client key or METRICS_API_KEY.
    """
    router = get_router()
    keys = {s.provider: s.counts for s in router.status()}
    details = {"providers": keys} if may_see_details() else {}
    state = {"state": router.state_health}
    if router.ready():
        # A degraded shared store still answers 200: requests are served from local state.
        return jsonify({"status": "ready", **state, **details})
    reason, message = (
        ("no_provider", "no provider is configured: set <PROVIDER>_API_KEY (see .env.example)")
        if not keys
        else (
            "no_usable_key",
            "no provider has a usable key: every key is cooling down, disabled or exhausted",
        )
    )
    body = {
        **error_body(message, "not_ready", code="not_ready"),
        "status": "unavailable",
        "reason": reason,
        **state,
        **details,
    }
    return error_response(503, body)
