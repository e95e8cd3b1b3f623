"""``/v1/responses`` (OpenAI Responses, stateless), and its compaction endpoint.

The request is translated into chat completions and walks the same chain as
``/v1/chat/completions``; the answer is translated back. Errors before the commit
point are ordinary HTTP errors in the OpenAI envelope. Built-in tools left out of the
translation are named in ``X-Keyrelay-Left-Out`` and in the request's log line.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response

from app.auth import admits
from app.dialects.responses.answer import compaction_item, new_id, usage_of
from app.dialects.responses.dialect import RESPONSES
from app.dialects.responses.request import to_turn
from app.dialects.responses.schema import responses_schema
from app.dialects.serve import said_left_out, serve, serve_dialect
from app.dialects.validate import parse_body
from app.errors import error_body, error_response
from app.observe import current

bp = Blueprint("responses", __name__)


@bp.post("/responses")
@admits
def create_response() -> Response:
    """Create a response, whole or streamed."""
    return serve_dialect(RESPONSES)


@bp.get("/responses", websocket=True)
@bp.get("/responses")
def no_websocket() -> Response:
    """Codex asks to upgrade to a websocket here: 426 makes it use HTTP at once."""
    message = "keyrelay serves the Responses API over HTTP: POST /v1/responses (no websocket)."
    return error_response(426, error_body(message, "invalid_request_error", code="no_websocket"))


@bp.post("/responses/compact")
@admits
def compact_response() -> Response:
    """Compact a session: the upstream's summary as one ``compaction`` item, after the
    user's own messages (which a compacted history keeps)."""
    body = parse_body(responses_schema)
    items = body["input"] if isinstance(body["input"], list) else []
    turn = to_turn({**body, "stream": False, "input": [*items, {"type": "compaction_trigger"}]})
    current().left_out = turn.left_out
    kept = [i for i in items if isinstance(i, dict) and i.get("role") == "user"]
    response = serve(turn.chat, include_usage=False, whole=lambda a: _compacted(a, kept))
    return said_left_out(response, turn.left_out)


def _compacted(answer: dict[str, Any], kept: list[dict[str, Any]]) -> dict[str, Any]:
    message = ((answer.get("choices") or [{}])[0]).get("message") or {}
    content = message.get("content")
    text = content if isinstance(content, str) else ""
    return {
        "id": new_id("resp"),
        "object": "response.compaction",
        "output": [*kept, compaction_item(new_id("cmp"), text)],
        "usage": usage_of(answer.get("usage")),
    }
