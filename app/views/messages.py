"""``POST /v1/messages`` (Anthropic Messages) and ``/v1/messages/count_tokens``.

The request is translated into chat completions and walks the same chain as
``/v1/chat/completions``; the answer is translated back. Errors reach the client in
Anthropic's shape (``anthropic_errors``).
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, jsonify

from app.dialects.anthropic import errors as anthropic_errors
from app.dialects.anthropic.answer import MessageEvents, to_message
from app.dialects.anthropic.request import check_block_types, estimate_tokens, to_chat
from app.dialects.anthropic.schema import count_tokens_schema, messages_schema
from app.dialects.chat.schema import parse_body
from app.dialects.serve import serve
from app.gateway import gateway

bp = Blueprint("messages", __name__)
anthropic_errors.register(bp)


@bp.post("/messages")
def create_message() -> Response:
    """Create a message, whole or streamed."""
    body = parse_body(messages_schema)
    model, stops, thinking = body["model"], body.get("stop_sequences") or [], _thinking(body)
    return serve(
        to_chat(body),
        include_usage=True,
        whole=lambda answer: to_message(answer, model, stops, thinking),
        events=lambda: MessageEvents(model, stops, thinking, _limit()),
    )


@bp.post("/messages/count_tokens")
def count_tokens() -> Response:
    """An estimate of the request's input tokens (about 4 characters a token)."""
    body = parse_body(count_tokens_schema)
    check_block_types(body)
    return jsonify({"input_tokens": estimate_tokens(body)})


def _limit() -> int:
    return gateway().router.config.max_response_bytes


def _thinking(body: dict[str, Any]) -> bool:
    return (body.get("thinking") or {}).get("type") == "enabled"
