"""Upstream failures as ``ProviderError``: ``requests`` exceptions, error statuses, error bodies.

``providers.upstream.http`` calls these at the one boundary where ``requests`` is used.
Error bodies come from upstreams, so everything taken from them is bounded and
redacted after decoding: a key written as JSON ``\\uXXXX`` escapes, ``\\/``,
percent-encoding or HTML entities is still a key.
"""

from __future__ import annotations

import html
import json
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import unquote

import requests

from providers.errors import (
    CallerError,
    KeyRejected,
    ModelNotServed,
    ProviderError,
    QuotaExhausted,
    RateLimited,
    TransportError,
    UpstreamServerError,
    UpstreamTimeout,
)

from .ratelimit import retry_after

#: Longest upstream error message reflected to a client (the rest is cut, marked "...").
MAX_ERROR_MESSAGE = 1000
#: Longest other string field kept from an upstream error object (type, code, param).
MAX_ERROR_FIELD = 200
#: Fields of an upstream error object that keyrelay reads; the rest is dropped.
ERROR_FIELDS = ("message", "type", "code", "param", "status", "retry_after", "details")
MAX_ERROR_DETAILS = 8


def translate_exception(exc: requests.RequestException) -> ProviderError:
    """Map a ``requests`` exception onto the ``ProviderError`` tree."""
    if isinstance(exc, requests.ConnectTimeout):
        return UpstreamTimeout("the upstream did not accept the connection in time")
    if isinstance(exc, requests.ReadTimeout):
        return UpstreamTimeout("the upstream did not answer in time")
    if isinstance(exc, requests.ConnectionError) and "timed out" in str(exc).lower():
        return UpstreamTimeout("the upstream stopped sending within the read timeout")
    if isinstance(exc, requests.ConnectionError):
        return TransportError("could not connect to the upstream")
    if isinstance(exc, requests.exceptions.ChunkedEncodingError):
        return TransportError("the upstream connection broke mid-response")
    return TransportError(f"upstream request failed ({type(exc).__name__})")


def clip(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` characters, marked when cut."""
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _bounded(value: Any) -> Any:
    if isinstance(value, str):
        return clip(value, MAX_ERROR_FIELD)
    if isinstance(value, bool | int | float) or value is None:
        return value
    return None


def error_details(data: Any) -> dict[str, Any]:
    """Pull an OpenAI-style error object out of any provider's error body, bounded."""
    if isinstance(data, list) and data:
        data = data[0]
    if not isinstance(data, dict):
        return {}
    if "error" not in data and isinstance(data.get("detail"), list):
        return _validation_detail(data["detail"])
    error = data.get("error", data)
    if isinstance(error, str):
        return {"message": clip(error, MAX_ERROR_MESSAGE)}
    if not isinstance(error, dict):
        return {}
    details = {k: _bounded(error[k]) for k in ERROR_FIELDS[1:6] if k in error}
    if error is not data and isinstance(data.get("provider"), str):
        # G4F names the backend that failed beside the error: not the endpoint's own error.
        details["backend"] = clip(data["provider"], MAX_ERROR_FIELD)
    message = error.get("message")
    if not isinstance(message, str):
        message = _as_text(message or error.get("detail") or error.get("msg"))
    details["message"] = clip(message, MAX_ERROR_MESSAGE)
    if isinstance(error.get("details"), list):
        details["details"] = [
            {k: _bounded(v) for k, v in d.items()}
            for d in error["details"][:MAX_ERROR_DETAILS]
            if isinstance(d, dict)
        ]
    return details


def _validation_detail(detail: list[Any]) -> dict[str, Any]:
    """FastAPI's 422 ``{"detail": [{"loc", "msg"|"message", "type"}]}`` (G4F) as an error object."""
    first = next((d for d in detail if isinstance(d, dict)), None)
    if first is None:
        return {"message": "the upstream refused the request"}
    loc = [
        p for p in first.get("loc") or [] if isinstance(p, str | int) and not isinstance(p, bool)
    ]
    if loc and loc[0] in ("body", "query", "path", "header"):
        loc = loc[1:]
    param = ""
    for part in loc:
        param += f"[{part}]" if isinstance(part, int) else (f".{part}" if param else str(part))
    if param.startswith("["):
        param = ""  # a position in the body, not a parameter
    text = first.get("msg") or first.get("message") or "invalid value"
    message = f"{text} ({param})" if param else str(text)
    details: dict[str, Any] = {"message": clip(str(message), MAX_ERROR_MESSAGE)}
    if param:
        details["param"] = clip(param, MAX_ERROR_FIELD)
    if isinstance(first.get("type"), str):
        details["code"] = clip(first["type"], MAX_ERROR_FIELD)
    return details


def _as_text(value: Any) -> str:
    if not value:
        return ""
    try:
        return json.dumps(value, default=str)[:MAX_ERROR_MESSAGE]
    except RecursionError:
        return "the upstream's error detail is nested too deeply to show"


def redact_decoded(data: Any, redact: Callable[[str], str]) -> Any:
    """Redact secrets in decoded JSON (its ``\\u`` escapes are resolved by now), including
    those a string carries percent-encoded or as HTML entities: such a string is decoded
    before it is redacted."""
    if isinstance(data, str):
        return _redact_text(data, redact)
    if isinstance(data, list):
        return [redact_decoded(item, redact) for item in data]
    if isinstance(data, dict):
        return {_redact_text(k, redact): redact_decoded(v, redact) for k, v in data.items()}
    return data


def _redact_text(text: str, redact: Callable[[str], str]) -> str:
    decoded = text
    for _ in range(3):  # percent-encoded entities, entities of percent escapes, ...
        once = html.unescape(unquote(decoded))
        if once == decoded:
            break
        decoded = once
    if decoded != text and redact(decoded) != decoded:
        return redact(decoded)  # a secret hid in an encoding: show the decoded, redacted
    return redact(text)


def parse_error_body(text: str, redact: Callable[[str], str]) -> dict[str, Any]:
    """The error object of an error body, decoded first and redacted after."""
    try:
        data = json.loads(text)
    except (ValueError, RecursionError):
        plain = redact(html.unescape(unquote(text))).strip()
        return {"message": clip(plain, MAX_ERROR_MESSAGE)} if plain else {}
    details: dict[str, Any] = redact_decoded(error_details(data), redact)
    return details


def error_for_status(
    status: int, headers: Mapping[str, str], text: str, redact: Callable[[str], str]
) -> ProviderError:
    """Build the ``ProviderError`` for an upstream error status and body."""
    details = parse_error_body(text, redact)
    message = details.get("message") or f"upstream answered HTTP {status}"
    marker = " ".join(str(details.get(k, "")) for k in ("type", "code", "status")).lower()
    kwargs: dict[str, Any] = {"upstream_status": status, "body": details or None}
    if status == 402 or "insufficient_quota" in marker or "insufficient_credits" in marker:
        return QuotaExhausted(message, **kwargs)
    if status == 429:
        return RateLimited(message, retry_after=retry_after(headers, details), **kwargs)
    if status in (401, 403) or "api_key_invalid" in text.lower():
        return KeyRejected(message, **kwargs)
    if status == 404:
        return ModelNotServed(message, **kwargs)
    if status == 408 or status >= 500:
        return UpstreamServerError(message, **kwargs)
    param = details.get("param")
    return CallerError(message, param=param if isinstance(param, str) else None, **kwargs)
