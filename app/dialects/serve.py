"""Serve a request in any client dialect: validated, translated, whole or as a stream.

Where a candidate speaks the client's dialect (``Dialect.native``), ``providers`` sends
it the client's own body and its answer goes back as the upstream sent it; the other
candidates get the translation. A request the translation cannot carry (a block it does
not know) is still served by the candidates of its chain that speak its dialect.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from flask import Response, jsonify, request
from providers import (
    FORWARDED_HEADERS,
    OPTIONAL_HINT,
    NativeRelay,
    NativeRequest,
    OptionalField,
    WireDialect,
)

from app.clients.admission import admit
from app.dialects.base import Dialect, Translated, Whole
from app.dialects.passthrough import passthrough_for
from app.dialects.streaming import Encoder, sse_response
from app.dialects.validate import parse_body_and_bytes
from app.errors import APIError
from app.gateway import gateway, get_router
from app.observe import current
from app.route_headers import add_served_headers, route_options
from app.sessions import session_of

#: Which dialect went upstream: the client's own (``messages``, ``responses``) or ``chat``.
UPSTREAM_DIALECT_HEADER = "X-Upstream-Dialect"
#: Names the built-in tools (and unreadable items) a translation that served left out.
LEFT_OUT_HEADER = "X-Keyrelay-Left-Out"


@dataclass(frozen=True)
class Asked:
    """One request as ``serve_asked`` takes it: translated (``chat``), native, or both."""

    model: str
    stream: bool
    chat: dict[str, Any] | None
    include_usage: bool = False
    whole: Whole | None = None
    events: Callable[[], Encoder] | None = None
    native: NativeRequest | None = None
    left_out: tuple[str, ...] = field(default=())
    #: The session it is a turn of (``app.sessions``), if any.
    session: str | None = None


def serve(
    chat: dict[str, Any],
    *,
    include_usage: bool,
    whole: Whole | None = None,
    events: Callable[[], Encoder] | None = None,
) -> Response:
    """Walk the chain for ``chat``; ``whole`` shapes a whole answer, ``events`` a stream's
    (both default to chat completions)."""
    stream, session = bool(chat.get("stream")), session_of(chat)
    if session is not None:
        cache_key_from(session, chat)
    asked = Asked(chat["model"], stream, chat, include_usage, whole, events, session=session)
    return serve_asked(asked)


def serve_asked(asked: Asked) -> Response:
    """Walk the chain for ``asked``, and shape its answer in the client's dialect."""
    record = current()
    record.model = asked.model
    record.session = asked.session
    router = get_router()
    options = route_options(include_usage=asked.include_usage, session=asked.session)
    options = admit(asked.model, options, asked.native.body if asked.native else None, asked.chat)
    if asked.stream:
        stream = router.stream(asked.chat, options, asked.native)
        native = stream.dialect if isinstance(stream, NativeRelay) else None
        record.serve(stream.served, stream=True, served_model=stream.served_model,
                     state_health=router.state_health, upstream_dialect=native)  # fmt: skip
        encoder = passthrough_for(native) if native else asked.events() if asked.events else None
        response = sse_response(stream, record=record, encoder=encoder)
        response = add_served_headers(response, stream.served, options, stream.served_model)
        return _said(response, asked, native)
    completion = router.complete(asked.chat, options, asked.native)
    answer = completion.native
    native = WireDialect(answer.dialect) if answer is not None else None
    record.serve(completion.served, stream=False, served_model=completion.served_model,
                 state_health=router.state_health, upstream_dialect=native)  # fmt: skip
    if answer is not None:
        response = Response(answer.raw, mimetype="application/json")
    else:
        response = jsonify(asked.whole(completion.body) if asked.whole else completion.body)
    response = add_served_headers(response, completion.served, options, completion.served_model)
    return _said(response, asked, native)


def _said(response: Response, asked: Asked, native: WireDialect | None) -> Response:
    """Name the dialect that went upstream and, when translated, what was left out."""
    if asked.native is not None:
        response.headers[UPSTREAM_DIALECT_HEADER] = str(native or WireDialect.CHAT)
    if native is None and asked.left_out:
        current().left_out = list(asked.left_out)
        said_left_out(response, asked.left_out)
    return response


def serve_dialect(dialect: Dialect) -> Response:
    """Validate the request by the dialect's schema, translate it, walk the chain, and
    shape the answer back."""
    limit = gateway().router.config.max_response_bytes
    body, raw = parse_body_and_bytes(dialect.schema)
    native = native_request(dialect.native, body, raw) if dialect.native else None
    model, stream = str(body["model"]), bool(body.get("stream"))
    translated = None if _native_only(native, model) else _translated(dialect, body, limit, native)
    session = session_of(body)
    if translated is not None and session is not None:
        cache_key_from(session, translated.chat)
    if translated is None:
        return serve_asked(Asked(model, stream, None, native=native, session=session))
    asked = Asked(model, stream, translated.chat, translated.include_usage, translated.whole,
                  translated.events, native, translated.left_out, session)  # fmt: skip
    return serve_asked(asked)


def cache_key_from(session: str, chat: dict[str, Any]) -> None:
    """A translated turn of a session asks providers that take ``prompt_cache_key`` (OpenAI)
    to keep it with the session's other turns, unless the client named a key itself."""
    hints = chat.setdefault(OPTIONAL_HINT, {})
    hints.setdefault(OptionalField.PROMPT_CACHE_KEY, session)


def native_request(dialect: WireDialect, body: dict[str, Any], raw: bytes = b"") -> NativeRequest:
    """The request as the candidates that speak ``dialect`` take it (``raw``: the bytes it
    was read from), with the client's version and beta headers."""
    names = FORWARDED_HEADERS.get(dialect, ())
    headers = {n: v for n in names if (v := request.headers.get(n))}
    return NativeRequest(dialect, body, headers, raw)


#: From this size on, a request whose every candidate speaks its dialect is not translated
#: (no candidate would take the translation; below it, asking costs more than translating).
NATIVE_ONLY_BYTES = 16 * 1024


def _native_only(native: NativeRequest | None, model: str) -> bool:
    """True for a large native request that only candidates speaking its dialect serve."""
    if native is None or len(native.raw) < NATIVE_ONLY_BYTES:
        return False
    return get_router().speaks_only(model, native.dialect, route_options())


def _translated(
    dialect: Dialect, body: dict[str, Any], limit: int, native: NativeRequest | None
) -> Translated | None:
    """The translation; None when it cannot carry the request but a candidate of the chain
    speaks the dialect (else the translation's 400)."""
    try:
        return dialect.translate(body, limit)
    except APIError as exc:
        if exc.status != 400 or native is None:
            raise
        if not get_router().speaks(str(body["model"]), native.dialect, route_options()):
            raise
        return None


def said_left_out(response: Response, left_out: Sequence[str]) -> Response:
    """``response`` naming what a translation left out (``X-Keyrelay-Left-Out``)."""
    if left_out:
        response.headers[LEFT_OUT_HEADER] = ", ".join(dict.fromkeys(left_out))
    return response
