"""OpenAI Responses as a dialect: its schema, its request as chat, its answer and events."""

from __future__ import annotations

from typing import Any

from providers import WireDialect

from app.dialects.base import Translated
from app.dialects.responses.answer import to_response
from app.dialects.responses.events import ResponseEvents
from app.dialects.responses.request import to_turn
from app.dialects.responses.schema import responses_schema
from app.errors import OpenAIErrors


class ResponsesDialect:
    """``POST /v1/responses`` (stateless)."""

    schema = responses_schema
    errors = OpenAIErrors()
    native = WireDialect.RESPONSES

    def translate(self, body: dict[str, Any], limit: int) -> Translated:
        """The chat request; the answer as a ``response`` or the Responses events."""
        turn = to_turn(body)
        model = turn.request["model"]
        return Translated(
            turn.chat,
            include_usage=True,
            whole=lambda answer: to_response(answer, turn, model),
            events=lambda: ResponseEvents(turn, model, limit),
            left_out=tuple(turn.left_out),
        )


RESPONSES = ResponsesDialect()
