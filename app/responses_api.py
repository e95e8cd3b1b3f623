"""``POST /v1/responses`` (OpenAI Responses, stateless).

The request is translated into chat completions and walks the same chain as
``/v1/chat/completions``; the answer is translated back. Errors before the commit
point are ordinary HTTP errors in the OpenAI envelope.
"""

from __future__ import annotations

from flask import Blueprint, Response

from .gateway import gateway
from .responses_answer import to_response
from .responses_events import ResponseEvents
from .responses_request import responses_schema, to_chat
from .schemas import parse_body
from .serve import serve

bp = Blueprint("responses", __name__)


@bp.post("/responses")
def create_response() -> Response:
    """Create a response, whole or streamed."""
    body = parse_body(responses_schema)
    model = body["model"]
    return serve(
        to_chat(body),
        include_usage=True,
        whole=lambda answer: to_response(answer, body, model),
        events=lambda: ResponseEvents(body, model, gateway().router.config.max_response_bytes),
    )
