"""``GET /health`` (liveness) and ``GET /ready`` (readiness), unauthenticated."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify

from .errors import error_body, error_response
from .gateway import get_router

bp = Blueprint("health", __name__)


@bp.get("/health")
def health() -> Response:
    """Answer 200 while the process serves requests: no upstream I/O, no shared locks."""
    return jsonify({"status": "ok"})


@bp.get("/ready")
def ready() -> Response:
    """Answer 200 when at least one provider has a usable key, else 503 with the reason."""
    router = get_router()
    keys = router.key_summary()
    if router.ready():
        return jsonify({"status": "ready", "providers": keys})
    reason = (
        "no provider is configured: set <PROVIDER>_API_KEY (see .env.example)"
        if not keys
        else "no provider has a usable key: every key is cooling down, disabled or exhausted"
    )
    body = {
        **error_body(reason, "not_ready", code="not_ready"),
        "status": "unavailable",
        "providers": keys,
    }
    return error_response(503, body)
