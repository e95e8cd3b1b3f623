"""Per-request routing options from headers, and the headers that say who served."""

from __future__ import annotations

from flask import Response, g, request
from providers import CacheMode, RouteOptions, Served, fingerprint, parse_bool, positive_int

from app.auth import presented_key
from app.body import client_probe
from app.errors import APIError
from app.gateway import gateway


def route_options(*, include_usage: bool = False, session: str | None = None) -> RouteOptions:
    """Read ``X-Fallback: off`` and ``X-Max-Tier: N``; FALLBACK_ENABLED=false wins over both."""
    fallback = gateway().settings.routing.fallback_enabled
    header = request.headers.get("X-Fallback", "").strip()
    allowed = parse_bool(header) if header else True
    if allowed is None:
        raise APIError(400, "X-Fallback must be 'on' or 'off'", code="invalid_header")
    raw = request.headers.get("X-Max-Tier", "").strip()
    max_tier = positive_int(raw) if raw else None
    if raw and max_tier is None:
        raise APIError(400, "X-Max-Tier must be a positive integer", code="invalid_header")
    client = g.get("client")  # a client key's record narrows what the request may use
    if client is not None and client.limits.max_tier is not None:
        max_tier = min(max_tier or client.limits.max_tier, client.limits.max_tier)
    return RouteOptions(
        fallback=fallback and allowed,
        max_tier=max_tier,
        providers=client.limits.providers if client is not None else (),
        cache=_cache_mode(),
        client=fingerprint(presented_key() or ""),
        client_gone=client_probe(),
        include_usage=include_usage,
        session=session,
    )


def _cache_mode() -> CacheMode:
    directives = {d.strip().lower() for d in request.headers.get("Cache-Control", "").split(",")}
    if "no-store" in directives:
        return CacheMode.OFF
    return CacheMode.REFRESH if "no-cache" in directives else CacheMode.USE


def cache_result(served: Served, options: RouteOptions) -> str | None:
    """hit, miss or bypass; None when the response cache is off."""
    if gateway().router.cache.cache is None:
        return None
    if served.cached:
        return "hit"
    return "miss" if options.cache == CacheMode.USE else "bypass"


def add_served_headers(
    response: Response, served: Served, options: RouteOptions, served_model: str | None = None
) -> Response:
    """Say who served: X-Provider, X-Provider-Tier, X-Served-Model, X-Attempts, the trail,
    and X-Cache."""
    # Only this function writes these headers: ``add`` (not ``set``, which scans the list).
    add = response.headers.add
    add("X-Provider", served.provider)
    if served_model:
        add("X-Served-Model", served_model)
    add("X-Provider-Tier", str(served.tier))
    add("X-Attempts", str(len(served.attempts)))
    add("X-Attempt-Trail", served.trail())
    result = cache_result(served, options)
    if result is not None:
        add("X-Cache", result)
        g.record.cache = result
    return response
