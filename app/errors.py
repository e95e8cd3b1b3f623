"""The one error envelope, ``{"error": {"message", "type", "param", "code"}}``, for every route."""

from __future__ import annotations

import logging
import math
from typing import Any

from flask import Flask, Response, g, jsonify, request
from providers import CallerError, ChainExhausted, ProviderError
from werkzeug.exceptions import HTTPException

from app.notes import note_refusal

log = logging.getLogger(__name__)


class APIError(Exception):
    """An error raised by the web edge itself (auth, validation, unknown route)."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        error_type: str = "invalid_request_error",
        param: str | None = None,
        code: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.error_type = error_type
        self.param = param
        self.code = code


def invalid(param: str, message: str, code: str = "invalid_value") -> APIError:
    """A 400 naming the offending field (``param``) and what is wrong with it."""
    return APIError(400, f"{param}: {message}", param=param, code=code)


def error_body(
    message: str,
    error_type: str,
    param: str | None = None,
    code: str | int | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """Return the OpenAI error envelope (extra members go inside ``error``)."""
    return {
        "error": {"message": message, "type": error_type, "param": param, "code": code, **extra}
    }


def error_response(
    status: int, body: dict[str, Any], *, retry_after: float | None = None
) -> Response:
    """Return ``body`` as a JSON response with ``status`` (and Retry-After when known)."""
    response = jsonify(body)
    response.status_code = status
    if retry_after is not None:
        response.headers["Retry-After"] = str(max(1, math.ceil(retry_after)))
    return response


def provider_error_body(exc: ProviderError) -> dict[str, Any]:
    """The envelope for an upstream outcome; a caller error keeps the upstream's own fields."""
    if isinstance(exc, CallerError) and exc.body:
        upstream = exc.body
        return error_body(
            str(upstream.get("message") or exc.message),
            str(upstream.get("type") or exc.error_type),
            upstream.get("param") if isinstance(upstream.get("param"), str) else None,
            upstream.get("code") if isinstance(upstream.get("code"), str | int) else None,
        )
    extra = {"attempts": exc.attempts} if isinstance(exc, ChainExhausted) else {}
    return error_body(exc.message, exc.error_type, exc.param, exc.code, **extra)


def _http_error(exc: HTTPException) -> Response:
    status = exc.code or 500
    if status == 404:
        message = f"Unknown request URL: {request.method} {request.path}"
        return error_response(404, error_body(message, "invalid_request_error", code="unknown_url"))
    if status == 405:
        message = f"Method {request.method} is not allowed on {request.path}"
        body = error_body(message, "invalid_request_error", code="method_not_allowed")
        response = error_response(405, body)
        response.headers["Allow"] = ", ".join(getattr(exc, "valid_methods", None) or [])
        return response
    if status == 413:
        limit = request.max_content_length
        message = f"Request body too large: the limit is {limit} bytes"
        return error_response(
            413, error_body(message, "invalid_request_error", code="request_too_large")
        )
    return error_response(status, error_body(exc.description or exc.name, "invalid_request_error"))


def _code_of(response: Response) -> str | None:
    body = response.get_json(silent=True) or {}
    error = body.get("error") if isinstance(body, dict) else None
    code = error.get("code") or error.get("type") if isinstance(error, dict) else None
    return str(code) if code is not None else None


def init_app(app: Flask) -> None:
    """Register the handlers that render every error as the envelope."""

    @app.errorhandler(APIError)
    def _api_error(exc: APIError) -> Response:
        note_refusal(exc.code or exc.error_type)
        return error_response(
            exc.status, error_body(exc.message, exc.error_type, exc.param, exc.code)
        )

    @app.errorhandler(ProviderError)
    def _provider_error(exc: ProviderError) -> Response:
        record = g.get("record")
        if record is not None:
            record.error = exc
        response = error_response(exc.status, provider_error_body(exc), retry_after=exc.retry_after)
        if isinstance(exc, ChainExhausted) and exc.retry_after is None:
            # keyrelay has already walked its whole chain: an SDK's automatic retries
            # (the openai and anthropic SDKs honour this header) would only repeat it.
            response.headers["x-should-retry"] = "false"
        return response

    @app.errorhandler(HTTPException)
    def _http(exc: HTTPException) -> Response:
        response = _http_error(exc)
        note_refusal(_code_of(response))
        return response

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception) -> Response:
        log.exception("unhandled error on %s %s", request.method, request.path)
        body = error_body("The server had an error processing your request.", "server_error")
        return error_response(500, body)
