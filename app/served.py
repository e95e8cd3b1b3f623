"""Response headers that tell the client who served its request."""

from __future__ import annotations

from flask import Response

from providers import Served


def add_served_headers(response: Response, served: Served) -> Response:
    """Set X-Provider and X-Attempts on ``response``."""
    response.headers["X-Provider"] = served.provider
    response.headers["X-Attempts"] = str(len(served.attempts))
    return response
