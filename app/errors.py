"""The one error envelope, ``{"error": {"message", "type", "param", "code"}}``, for every route."""

from __future__ import annotations

import logging
import math
from typing import Any, Protocol

from flask import Blueprint, Flask, Response, g, jsonify, request
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
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.retry_after = retry_after
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
    return with_retry_after(response, retry_after)


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


class ErrorShape(Protocol):
    """How one client dialect words an error; ``register`` does the rest, once for all."""

    def refusal(self, exc: APIError) -> Response:
        """A request keyrelay refuses (auth, validation)."""
        ...

    def upstream(self, exc: ProviderError) -> Response:
        """An upstream outcome nothing in the chain could turn into an answer."""
        ...

    def http(self, exc: HTTPException) -> Response:
        """A routing or protocol error (404, 405, 413, ...)."""
        ...

    def failure(self, status: int, message: str) -> Response:
        """keyrelay's own failure (never a traceback)."""
        ...


class OpenAIErrors:
    """The OpenAI envelope: ``{"error": {"message", "type", "param", "code"}}``."""

    def refusal(self, exc: APIError) -> Response:
        """The envelope naming the field and the code."""
        return error_response(
            exc.status, error_body(exc.message, exc.error_type, exc.param, exc.code)
        )

    def upstream(self, exc: ProviderError) -> Response:
        """The envelope, with the attempts when the chain is exhausted."""
        return error_response(exc.status, provider_error_body(exc))

    def http(self, exc: HTTPException) -> Response:
        """The envelope with keyrelay's codes (``unknown_url``, ``method_not_allowed``)."""
        return _http_error(exc)

    def failure(self, status: int, message: str) -> Response:
        """A ``server_error``."""
        return error_response(status, error_body(message, "server_error"))


def with_retry_after(response: Response, seconds: float | None) -> Response:
    """``response`` with ``Retry-After`` in whole seconds (at least 1), when known."""
    if seconds is not None:
        response.headers["Retry-After"] = str(max(1, math.ceil(seconds)))
    return response


def register(target: Flask | Blueprint, shape: ErrorShape) -> None:
    """Render every error raised under ``target`` in ``shape``: the refusal noted on the
    request's log line, the upstream error kept on its record, Retry-After set."""

    @target.errorhandler(APIError)
    def _api_error(exc: APIError) -> Response:
        note_refusal(exc.code or exc.error_type)
        return with_retry_after(shape.refusal(exc), exc.retry_after)

    @target.errorhandler(ProviderError)
    def _provider_error(exc: ProviderError) -> Response:
        record = g.get("record")
        if record is not None:
            record.error = exc
        response = with_retry_after(shape.upstream(exc), exc.retry_after)
        if isinstance(exc, ChainExhausted) and exc.retry_after is None:
            # keyrelay has already walked its whole chain: an SDK's automatic retries
            # (the openai and anthropic SDKs honour this header) would only repeat it.
            response.headers["x-should-retry"] = "false"
        return response

    @target.errorhandler(HTTPException)
    def _http(exc: HTTPException) -> Response:
        response = shape.http(exc)
        note_refusal(_code_of(response))
        return response

    @target.errorhandler(Exception)
    def _unexpected(exc: Exception) -> Response:
        log.exception("unhandled error on %s %s", request.method, request.path)
        return shape.failure(500, "The server had an error processing your request.")


def init_app(app: Flask) -> None:
    """Render every error as the OpenAI envelope (a dialect's blueprint registers its own)."""
    register(app, OpenAIErrors())
