"""Client authentication: the ``PROXY_API_KEY`` keys, compared in constant time."""

from __future__ import annotations

import hmac

from flask import g, request

from app.errors import APIError
from app.gateway import gateway


def presented_key() -> str | None:
    """The key the client sent as ``Authorization: Bearer`` or ``x-api-key``."""
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip()
    return request.headers.get("x-api-key", "").strip() or None


def key_matches(presented: str | None, keys: tuple[str, ...]) -> bool:
    """True when ``presented`` is one of ``keys`` (compared against every key, in constant time)."""
    if presented is None:
        return False
    given = presented.encode()
    matched = False
    for key in keys:  # compare against every key, so timing reveals nothing
        matched |= hmac.compare_digest(given, key.encode())
    return matched


def may_see_details() -> bool:
    """True when the request carries a client key or METRICS_API_KEY (or neither is set)."""
    settings = gateway().settings
    keys = settings.client_keys + ((settings.metrics_key,) if settings.metrics_key else ())
    return not keys or key_matches(presented_key(), keys)


def _missing_key_message() -> str:
    """Why no key was found, naming what the client got wrong (never echoing what it sent)."""
    header = request.headers.get("Authorization", "").strip()
    if not header:
        return (
            "You didn't provide an API key. Send it as 'Authorization: Bearer <key>' "
            "or in an 'x-api-key' header."
        )
    scheme, _, token = header.partition(" ")
    if not token.strip():
        return (
            "The Authorization header has no 'Bearer ' scheme: send "
            "'Authorization: Bearer <key>' (or the key alone in an 'x-api-key' header)."
        )
    shown = scheme if scheme.isalpha() and len(scheme) <= 20 else "that"
    return (
        f"The Authorization scheme '{shown}' is not supported: send "
        "'Authorization: Bearer <key>' (or the key alone in an 'x-api-key' header)."
    )


def authenticated() -> None:
    """The caller of this request proved who it is (its client key, or its console session):
    only such requests are kept among the recent ones the console shows."""
    g.authenticated = True


def require_client_key() -> None:
    """Reject the request unless it carries one of the configured client keys."""
    keys = gateway().settings.client_keys
    if not keys:
        authenticated()  # an open proxy: every caller is a client
        return
    presented = presented_key()
    if presented is None:
        raise APIError(401, _missing_key_message(), code="missing_api_key")
    if not key_matches(presented, keys):
        raise APIError(401, "Incorrect API key provided.", code="invalid_api_key")
    authenticated()
