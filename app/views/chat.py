"""``POST /v1/chat/completions``."""

from __future__ import annotations

from flask import Blueprint, Response

from app.auth import admits
from app.dialects.chat.dialect import CHAT
from app.dialects.serve import serve_dialect

bp = Blueprint("chat", __name__)


@bp.post("/chat/completions")
@admits
def create_chat_completion() -> Response:
    """Create a chat completion, whole or streamed."""
    return serve_dialect(CHAT)
