"""Per-request routing options from headers, and the headers that say who served."""

from __future__ import annotations

from flask import Response, g, request

from providers import Served
from providers.config import positive_int
from providers.router import CACHE_OFF, CACHE_REFRESH, CACHE_USE, RouteOptions
from providers.secrets import fingerprint

from .auth import presented_key
from .body import client_probe
from .errors import APIError
from .gateway import gateway

_OFF = {"off", "false", "0", "no"}
_ON = {"on", "true", "1", "yes"}


def route_options() -> RouteOptions:
    """Read ``X-Fallback: off`` and ``X-Max-Tier: N``; FALLBACK_ENABLED=false wins over both."""
    fallback = gateway().settings.routing.fallback_enabled
    header = request.headers.get("X-Fallback", "").strip().lower()
    if header and header not in _OFF | _ON:
        raise APIError(400, "X-Fallback must be 'on' or 'off'", code="invalid_header")
    if header in _OFF:
        fallback = False
    raw = request.headers.get("X-Max-Tier", "").strip()
    max_tier = positive_int(raw) if raw else None
    if raw and max_tier is None:
        raise APIError(400, "X-Max-Tier must be a positive integer", code="invalid_header")
    directives = {d.strip().lower() for d in request.headers.get("Cache-Control", "").split(",")}
    cache = (
        CACHE_OFF
        if "no-store" in directives
        else CACHE_REFRESH
        if "no-cache" in directives
        else CACHE_USE
    )
    client = fingerprint(presented_key() or "")
    return RouteOptions(
        fallback=fallback,
        max_tier=max_tier,
        cache=cache,
        client=client,
        client_gone=client_probe(),
    )


def cache_result(served: Served, options: RouteOptions) -> str | None:
    """hit, miss or bypass; None when the response cache is off."""
    if gateway().router.cache is None:
        return None
    if served.cached:
        return "hit"
    return "miss" if options.cache == CACHE_USE else "bypass"


def add_served_headers(
    response: Response, served: Served, options: RouteOptions, served_model: str | None = None
) -> Response:
    """Say who served: X-Provider, X-Provider-Tier, X-Served-Model, X-Attempts, the trail,
    and X-Cache."""
    response.headers["X-Provider"] = served.provider
    if served_model:
        response.headers["X-Served-Model"] = served_model
    response.headers["X-Provider-Tier"] = str(served.tier)
    response.headers["X-Attempts"] = str(len(served.attempts))
    response.headers["X-Attempt-Trail"] = served.trail()
    result = cache_result(served, options)
    if result is not None:
        response.headers["X-Cache"] = result
        g.record.cache = result
    return response
