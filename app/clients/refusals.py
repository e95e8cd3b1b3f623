"""A client key's refusal as the web edge words it (kept free of app imports but the
error's: auth, the views and the console all raise it)."""

from __future__ import annotations

from flask import g
from providers import ClientRefused

from app.errors import APIError


def refused(exc: ClientRefused) -> APIError:
    """A client key's refusal in the caller's dialect (429 with Retry-After, 403); the
    request's record counts it (``keyrelay_client_refusals_total``)."""
    record = g.get("record")
    if record is not None:
        record.refusal = exc.code
    kind = {403: "permission_error", 429: "rate_limit_error"}.get(
        exc.status, "invalid_request_error"
    )
    if exc.code.startswith("client_budget"):
        kind = "insufficient_quota"
    return APIError(exc.status, exc.message, error_type=kind, code=exc.code,
                    retry_after=exc.retry_after)  # fmt: skip


def store_away() -> APIError:
    """503 for a client key the store could not confirm (it is away, and this process never
    read the key): try again, the key may be fine."""
    return APIError(503, "The client key store did not answer: try again.",
                    error_type="server_error", code="state_unavailable")  # fmt: skip
