"""``GET /v1/usage``: requests and tokens per provider, key fingerprint and UTC day."""

from __future__ import annotations

import time
from dataclasses import asdict

from flask import Blueprint, Response, jsonify, request
from providers import StateUnavailable, client_key_prefix, positive_int

from app.auth import key_matches, presented_key
from app.errors import APIError
from app.gateway import gateway

bp = Blueprint("usage", __name__)


def _authorize() -> None:
    """A PROXY_API_KEY key or ADMIN_API_KEY; never open, even when the proxy itself is. A
    client key's record reads only its own use, at ``/v1/me``."""
    settings = gateway().settings
    presented = presented_key()
    if presented is not None and client_key_prefix(presented) is not None:
        raise APIError(
            403,
            "A client key reads its own usage, limits and budget at GET /v1/me.",
            error_type="permission_error",
            code="usage_is_the_operators",
        )
    keys = settings.client_keys + ((settings.admin_key,) if settings.admin_key else ())
    if not keys:
        raise APIError(
            403,
            "Usage is never open: set PROXY_API_KEY or ADMIN_API_KEY to read it.",
            code="usage_disabled",
        )
    if not key_matches(presented_key(), keys):
        raise APIError(401, "A client key or ADMIN_API_KEY is required.", code="invalid_api_key")


@bp.get("/usage")
def usage() -> Response:
    """Usage rows, newest day first; ``?provider=`` and ``?days=`` filter them."""
    _authorize()
    router = gateway().router
    retention = router.config.usage_retention_days
    raw = request.args.get("days", "").strip()
    days = positive_int(raw) if raw else 7
    if days is None or days > retention:
        raise APIError(
            400,
            f"days must be a whole number from 1 to {retention}",
            param="days",
            code="invalid_value",
        )
    provider = request.args.get("provider", "").strip().lower() or None
    try:
        rows = router.usage.rows(provider=provider, days=days, now=time.time())
        clients = router.clients.usage.client_rows(days=days, now=time.time())
    except StateUnavailable:
        raise APIError(
            503,
            "Usage lives in the shared state store (STATE_URL), which is not answering now.",
            error_type="api_error",
            code="state_store_unavailable",
        ) from None
    if provider is not None:
        clients = [row for row in clients if row.provider == provider]
    return jsonify({"object": "list", "data": [asdict(row) for row in rows],
                    "clients": [asdict(row) for row in clients]})  # fmt: skip
