"""Errors in Anthropic's shape: ``{"type": "error", "error": {"type", "message"}}``.

Registered on the Messages blueprint, so that everything a Messages client gets
wrong or keyrelay cannot serve reaches it in the shape its SDK reads, with the
matching status: 529 ``overloaded_error`` when nothing in the chain could serve,
429 ``rate_limit_error`` with ``retry-after``.
"""

from __future__ import annotations

import logging

from flask import Blueprint, Response, jsonify, request
from providers import ChainExhausted, ProviderError
from werkzeug.exceptions import HTTPException

from app import errors
from app.errors import APIError, with_retry_after

log = logging.getLogger(__name__)

ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    402: "billing_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    529: "overloaded_error",
}


def error_type_for(status: int) -> str:
    """Anthropic's error type for an HTTP status."""
    if status in ERROR_TYPES:
        return ERROR_TYPES[status]
    return "api_error" if status >= 500 else "invalid_request_error"


def anthropic_error(status: int, message: str, retry_after: float | None = None) -> Response:
    """An Anthropic-shaped error response."""
    response = jsonify(
        {"type": "error", "error": {"type": error_type_for(status), "message": message}}
    )
    response.status_code = status
    return with_retry_after(response, retry_after)


def worded(exc: APIError) -> str:
    """A schema refusal in Anthropic's words (``max_tokens: Field required``, ``stream:
    Input should be a valid boolean``), so that clients matching them recognise it."""
    if not exc.param:
        return exc.message
    path = exc.param.replace("[", ".").replace("]", "")
    if exc.code == "missing_required_parameter":
        return f"{path}: Field required"
    prefix = f"Invalid value for '{exc.param}': "
    if exc.code != "invalid_value" or not exc.message.startswith(prefix):
        return exc.message
    said = exc.message.removeprefix(prefix).rstrip(".")
    if said.startswith("Not a valid "):
        return f"{path}: Input should be a valid {said.removeprefix('Not a valid ')}"
    if said.startswith("Must be "):
        return f"{path}: Input should be {said.removeprefix('Must be ')}"
    return f"{path}: {said}"


class AnthropicErrors:
    """Anthropic's shape, with its statuses and its SDK's words."""

    def refusal(self, exc: APIError) -> Response:
        """In Anthropic's words (clients match them)."""
        return anthropic_error(exc.status, worded(exc))

    def upstream(self, exc: ProviderError) -> Response:
        """Nothing in the chain could serve now: Anthropic's "overloaded" (529), which its
        SDK knows to retry later."""
        status = 529 if isinstance(exc, ChainExhausted) and exc.status == 503 else exc.status
        return anthropic_error(status, exc.message)

    def http(self, exc: HTTPException) -> Response:
        """The status with Anthropic's type for it."""
        status = exc.code or 500
        if status == 413:
            message = f"Request body too large: the limit is {request.max_content_length} bytes"
        else:
            message = exc.description or exc.name
        return anthropic_error(status, message)

    def failure(self, status: int, message: str) -> Response:
        """An ``api_error``."""
        return anthropic_error(status, message)


def register(bp: Blueprint) -> None:
    """Render every error raised under ``bp`` in Anthropic's shape."""
    errors.register(bp, AnthropicErrors())
