"""``POST /v1/chat/completions``."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify

from .gateway import get_router
from .observe import current
from .routing import add_served_headers, route_options
from .schemas import chat_schema, parse_body
from .streaming import sse_response

bp = Blueprint("chat", __name__)


@bp.post("/chat/completions")
def create_chat_completion() -> Response:
    """Create a chat completion, whole or streamed."""
    payload = parse_body(chat_schema)
    record = current()
    record.model = payload["model"]
    include_usage = bool((payload.get("stream_options") or {}).get("include_usage"))
    router, options = get_router(), route_options(include_usage=include_usage)
    if payload.get("stream"):
        stream = router.stream(payload, options)
        record.serve(stream.served, stream=True, served_model=stream.served_model)
        response = sse_response(stream, record=record)
        return add_served_headers(response, stream.served, options, stream.served_model)
    completion = router.complete(payload, options)
    record.serve(completion.served, stream=False, served_model=completion.served_model)
    response = jsonify(completion.body)
    return add_served_headers(response, completion.served, options, completion.served_model)
