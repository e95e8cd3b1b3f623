""" "Try it": pick a model, see the chain it resolves to, send a prompt, read the answer.

With JavaScript the answer streams in (``/console/try/send`` answers Server-Sent
Events: text deltas, then the attempt trail); without it, the form posts and the page
shows the whole answer and its trail. It is sent as the operator (no limits), or as a
client key picked by name: that key's models, providers, tier, limits and budget apply,
and the request counts as its.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable
from dataclasses import asdict
from typing import Any

from flask import Response, jsonify, render_template, request
from providers import (
    MAX_MODEL_NAME,
    Caller,
    ProviderError,
    Served,
    StateUnavailable,
    StreamInterrupted,
)

from app.auth import act_as
from app.clients.admission import admit
from app.console.blueprint import bp
from app.dialects.streaming import event_bytes, sse_response
from app.errors import APIError
from app.gateway import gateway
from app.observe import current
from app.route_headers import route_options

MAX_PROMPT = 20_000


def _models() -> list[str]:
    router = gateway().router
    groups = list(gateway().settings.routing.groups)
    return groups + [f"{prefix}/{model}" for prefix, model in router.list_models()]


def _clients() -> list[str]:
    """The names a prompt can be sent as (client keys neither revoked nor expired)."""
    try:
        entries = gateway().router.clients.store.entries()
    except StateUnavailable:
        return []
    now = time.time()
    return [e.record.name for e in entries if e.record.refused(now) is None]


def _send_as() -> str:
    """The client key's name the prompt goes as ('' for the operator); ``APIError`` 400
    for a name that is no usable key."""
    name = (request.form.get("as") or request.args.get("as") or "").strip()
    if not name:
        return ""
    entries = gateway().router.clients.store.entries()
    found = next((e.record for e in entries if e.record.name == name), None)
    if found is None or found.refused(time.time()) is not None:
        raise APIError(400, f"No usable client key is named {name[:64]!r}.", code="no_such_client")
    act_as(Caller(found, found.digest, confirmed=True))  # read from the store just now
    return name


def _page(answer: dict[str, Any] | None, model: str = "", sent_as: str = "") -> str:
    return render_template("console/try.html", models=_models(), clients=_clients(),
                           answer=answer, model=model, sent_as=sent_as)  # fmt: skip


def _asked() -> tuple[str, str]:
    model = (request.form.get("model") or request.args.get("model") or "").strip()
    prompt = (request.form.get("prompt") or "").strip()
    if not model or len(model) > MAX_MODEL_NAME:
        model = ""
    return model, prompt[:MAX_PROMPT]


@bp.get("/try")
def try_page() -> str:
    """The form."""
    return _page(None)


@bp.get("/try/route")
def try_route() -> Response:
    """The chain a model resolves to, before anything is sent."""
    model, _ = _asked()
    if not model:
        return jsonify({"error": "Pick a model."}), 400  # type: ignore[return-value]
    _send_as()
    steps = gateway().router.route(model, route_options())
    return jsonify([asdict(step) for step in steps])


def _payload(model: str, prompt: str, stream: bool) -> dict[str, Any]:
    return {"model": model, "messages": [{"role": "user", "content": prompt}], "stream": stream}


class TryEvents:
    """Text deltas as ``delta`` events, then the trail as ``trail`` (an ``Encoder``)."""

    def __init__(self, served: Served) -> None:
        self.served = served

    def start(self) -> Iterable[bytes]:
        """Who committed to answering."""
        return (
            event_bytes("served", {"provider": self.served.provider, "tier": self.served.tier}),
        )

    def feed(self, chunk: dict[str, Any]) -> Iterable[bytes]:
        """The text of one chunk."""
        text = "".join(
            (c.get("delta") or {}).get("content") or "" for c in chunk.get("choices") or []
        )
        return (event_bytes("delta", {"text": text}),) if text else ()

    def finish_events(self) -> Iterable[bytes]:
        """The attempt trail."""
        return (event_bytes("trail", {"trail": [a.to_dict() for a in self.served.entries]}),)

    def failed(self, exc: StreamInterrupted) -> Iterable[bytes]:
        """The stream broke after it started."""
        trail = [a.to_dict() for a in self.served.entries]
        return (event_bytes("failed", {"message": exc.message, "trail": trail}),)


@bp.post("/try/send")
def try_send() -> Response | str:
    """Send the prompt: a stream for the page's script, a whole answer for a plain form."""
    model, prompt = _asked()
    streamed = "text/event-stream" in request.headers.get("Accept", "")
    if not model or not prompt:
        message = "Pick a model and type a prompt."
        if streamed:
            return jsonify({"error": message}), 400  # type: ignore[return-value]
        return _page({"error": message})
    record = current()
    record.model = model
    try:
        sent_as = _send_as()
        payload = _payload(model, prompt, streamed)
        options = admit(model, route_options(), payload)
    except APIError as exc:  # refused as that client key would be: said on the page
        if streamed:
            return jsonify({"error": exc.message}), exc.status  # type: ignore[return-value]
        return _page({"error": exc.message}, model)
    router = gateway().router
    if streamed:
        try:
            stream = router.stream(payload, options)
        except ProviderError as exc:
            record.error = exc
            body = json.dumps({"error": exc.message, "trail": [a.to_dict() for a in exc.trail]})
            return Response(body, status=exc.status, mimetype="application/json")
        record.serve(stream.served, stream=True, served_model=stream.served_model)
        return sse_response(stream, record=record, encoder=TryEvents(stream.served))
    try:
        completion = router.complete(payload, options)
    except ProviderError as exc:
        record.error = exc
        answer = {"error": exc.message, "trail": [a.to_dict() for a in exc.trail]}
        return _page(answer, model, sent_as)
    record.serve(completion.served, stream=False, served_model=completion.served_model)
    choice = (completion.body.get("choices") or [{}])[0]
    text = str((choice.get("message") or {}).get("content") or "")
    trail = [a.to_dict() for a in completion.served.entries]
    answer = {"text": text, "trail": trail, "provider": completion.served.provider}
    return _page(answer, model, sent_as)
