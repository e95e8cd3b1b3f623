"""``POST /v1/messages`` (Anthropic Messages) and ``/v1/messages/count_tokens``.

The request is translated into chat completions and walks the same chain as
``/v1/chat/completions``; the answer is translated back. Errors reach the client in
Anthropic's shape (the dialect's ``ErrorShape``).
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, jsonify
from providers import CallerError, ProviderError, WireDialect

from app import errors
from app.auth import admits
from app.dialects.anthropic.dialect import MESSAGES
from app.dialects.anthropic.request import check_block_types, estimate_tokens
from app.dialects.anthropic.schema import count_tokens_schema
from app.dialects.serve import native_request, serve_dialect
from app.dialects.validate import parse_body
from app.gateway import get_router
from app.route_headers import route_options

bp = Blueprint("messages", __name__)
errors.register(bp, MESSAGES.errors)


@bp.post("/messages")
@admits
def create_message() -> Response:
    """Create a message, whole or streamed."""
    return serve_dialect(MESSAGES)


@bp.post("/messages/count_tokens")
def count_tokens() -> Response:
    """The request's input tokens: counted by a provider that speaks Messages when the chain
    has one, else an estimate (about 4 characters a token)."""
    body = parse_body(count_tokens_schema)
    counted = _counted_upstream(body)
    if counted is not None:
        return jsonify({"input_tokens": counted})
    check_block_types(body)
    return jsonify({"input_tokens": estimate_tokens(body)})


def _counted_upstream(body: dict[str, Any]) -> int | None:
    """The count of a candidate that speaks Messages; None when none can give one (the
    upstream's refusal of the request itself is the client's answer)."""
    native = native_request(WireDialect.MESSAGES, body)
    try:  # a chain with no Messages provider skips every candidate: its verdict
        return get_router().count_tokens(native, route_options())
    except CallerError:
        raise
    except ProviderError:
        return None
