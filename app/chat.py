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
    record.model = model = payload["model"]
    router, options = get_router(), route_options()
    if payload.get("stream"):
        stream = router.stream(payload, options)
        record.serve(stream.served, stream=True, served_model=stream.served_model)
        include_usage = bool((payload.get("stream_options") or {}).get("include_usage"))
        response = sse_response(stream, model=model, include_usage=include_usage, record=record)
        return add_served_headers(response, stream.served, options, stream.served_model)
    completion = router.complete(payload, options)
    served_model = completion.served_model
    record.serve(completion.served, stream=False, served_model=served_model)
    completion.body["model"] = model
    return add_served_headers(jsonify(completion.body), completion.served, options, served_model)
