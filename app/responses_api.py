"""``POST /v1/responses`` (OpenAI Responses, stateless).

The request is translated into chat completions and walks the same chain as
``/v1/chat/completions``; the answer is translated back. Errors before the commit
point are ordinary HTTP errors in the OpenAI envelope.
"""

from __future__ import annotations

from flask import Blueprint, Response, jsonify

from .gateway import get_router
from .observe import current
from .responses_answer import ResponseEvents, to_response
from .responses_request import responses_schema, to_chat
from .routing import add_served_headers, route_options
from .schemas import parse_body
from .streaming import sse_response

bp = Blueprint("responses", __name__)


@bp.post("/responses")
def create_response() -> Response:
    """Create a response, whole or streamed."""
    body = parse_body(responses_schema)
    chat = to_chat(body)
    record = current()
    record.model = body["model"]
    router, options = get_router(), route_options(include_usage=True)
    if body.get("stream"):
        stream = router.stream(chat, options)
        record.serve(stream.served, stream=True, served_model=stream.served_model)
        events = ResponseEvents(body, body["model"])
        response = sse_response(stream, record=record, encoder=events)
        return add_served_headers(response, stream.served, options, stream.served_model)
    completion = router.complete(chat, options)
    record.serve(completion.served, stream=False, served_model=completion.served_model)
    response = jsonify(to_response(completion.body, body, body["model"]))
    return add_served_headers(response, completion.served, options, completion.served_model)
