"""Serve a chat completions request in any client dialect: whole, or as a stream."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Response, jsonify

from app.dialects.streaming import Encoder, sse_response
from app.gateway import get_router
from app.observe import current
from app.route_headers import add_served_headers, route_options


def streamed_with_usage(chat: dict[str, Any]) -> None:
    """Make a translated request a stream that ends with the upstream's usage."""
    chat["stream"] = True
    chat["stream_options"] = {"include_usage": True}


def serve(
    chat: dict[str, Any],
    *,
    include_usage: bool,
    whole: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
    events: Callable[[], Encoder] | None = None,
) -> Response:
    """Walk the chain for ``chat``; ``whole`` shapes a whole answer, ``events`` a stream's
    (both default to chat completions)."""
    record = current()
    record.model = chat["model"]
    router, options = get_router(), route_options(include_usage=include_usage)
    if chat.get("stream"):
        stream = router.stream(chat, options)
        record.serve(stream.served, stream=True, served_model=stream.served_model)
        encoder = events() if events is not None else None
        response = sse_response(stream, record=record, encoder=encoder)
        return add_served_headers(response, stream.served, options, stream.served_model)
    completion = router.complete(chat, options)
    record.serve(completion.served, stream=False, served_model=completion.served_model)
    body = whole(completion.body) if whole is not None else completion.body
    return add_served_headers(jsonify(body), completion.served, options, completion.served_model)
