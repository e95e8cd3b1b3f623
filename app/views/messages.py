"""``POST /v1/messages`` (Anthropic Messages) and ``/v1/messages/count_tokens``.

The request is translated into chat completions and walks the same chain as
``/v1/chat/completions``; the answer is translated back. Errors reach the client in
Anthropic's shape (the dialect's ``ErrorShape``).
"""

from __future__ import annotations

from flask import Blueprint, Response, jsonify

from app import errors
from app.dialects.anthropic.dialect import MESSAGES
from app.dialects.anthropic.request import check_block_types, estimate_tokens
from app.dialects.anthropic.schema import count_tokens_schema
from app.dialects.serve import serve_dialect
from app.dialects.validate import parse_body

bp = Blueprint("messages", __name__)
errors.register(bp, MESSAGES.errors)


@bp.post("/messages")
def create_message() -> Response:
    """Create a message, whole or streamed."""
    return serve_dialect(MESSAGES)


@bp.post("/messages/count_tokens")
def count_tokens() -> Response:
    """An estimate of the request's input tokens (about 4 characters a token)."""
    body = parse_body(count_tokens_schema)
    check_block_types(body)
    return jsonify({"input_tokens": estimate_tokens(body)})
