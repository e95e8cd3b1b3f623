"""``POST /v1/chat/completions``."""

from __future__ import annotations

from flask import Blueprint, Response

from app.dialects.chat.schema import chat_schema, parse_body
from app.dialects.serve import serve

bp = Blueprint("chat", __name__)


@bp.post("/chat/completions")
def create_chat_completion() -> Response:
    """Create a chat completion, whole or streamed."""
    payload = parse_body(chat_schema)
    include_usage = bool((payload.get("stream_options") or {}).get("include_usage"))
    return serve(payload, include_usage=include_usage)
