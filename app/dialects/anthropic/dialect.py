"""Anthropic Messages as a dialect: its schema, its request as chat, its answer and events."""

from __future__ import annotations

from typing import Any

from providers import WireDialect

from app.dialects.anthropic.answer import to_message
from app.dialects.anthropic.errors import AnthropicErrors
from app.dialects.anthropic.events import MessageEvents
from app.dialects.anthropic.request import to_chat
from app.dialects.anthropic.schema import messages_schema
from app.dialects.base import Translated


class MessagesDialect:
    """``POST /v1/messages``."""

    schema = messages_schema
    errors = AnthropicErrors()
    native = WireDialect.MESSAGES

    def translate(self, body: dict[str, Any], limit: int) -> Translated:
        """The chat request; the answer as a ``message`` or the Messages events."""
        model, stops = body["model"], body.get("stop_sequences") or []
        thinking = (body.get("thinking") or {}).get("type") == "enabled"
        return Translated(
            to_chat(body),
            include_usage=True,
            whole=lambda answer: to_message(answer, model, stops, thinking),
            events=lambda: MessageEvents(model, stops, thinking, limit),
        )


MESSAGES = MessagesDialect()
