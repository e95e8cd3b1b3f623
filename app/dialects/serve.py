"""Serve a request in any client dialect: validated, translated, whole or as a stream."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from flask import Response, jsonify

from app.dialects.base import Dialect
from app.dialects.streaming import Encoder, sse_response
from app.dialects.validate import parse_body
from app.gateway import gateway, get_router
from app.observe import current
from app.route_headers import add_served_headers, route_options


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
        record.serve(
            stream.served,
            stream=True,
            served_model=stream.served_model,
            state_health=router.state_health,
        )
        encoder = events() if events is not None else None
        response = sse_response(stream, record=record, encoder=encoder)
        return add_served_headers(response, stream.served, options, stream.served_model)
    completion = router.complete(chat, options)
    record.serve(
        completion.served,
        stream=False,
        served_model=completion.served_model,
        state_health=router.state_health,
    )
    body = whole(completion.body) if whole is not None else completion.body
    return add_served_headers(jsonify(body), completion.served, options, completion.served_model)


#: Names the built-in tools (and unreadable items) a translation left out.
LEFT_OUT_HEADER = "X-Keyrelay-Left-Out"


def serve_dialect(dialect: Dialect) -> Response:
    """Validate the request by the dialect's schema, translate it, walk the chain, and
    shape the answer back; what the translation left out is named in a header."""
    limit = gateway().router.config.max_response_bytes
    translated = dialect.translate(parse_body(dialect.schema), limit)
    if translated.left_out:
        current().left_out = list(translated.left_out)
    response = serve(
        translated.chat,
        include_usage=translated.include_usage,
        whole=translated.whole,
        events=translated.events,
    )
    return said_left_out(response, translated.left_out)


def said_left_out(response: Response, left_out: Sequence[str]) -> Response:
    """``response`` naming what a translation left out (``X-Keyrelay-Left-Out``)."""
    if left_out:
        response.headers[LEFT_OUT_HEADER] = ", ".join(dict.fromkeys(left_out))
    return response
