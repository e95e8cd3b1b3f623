"""Server-Sent Events to the client: a chunked generator that relays as chunks arrive."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator
from typing import Any

from flask import Response

from providers import ChatStream
from providers.errors import ClientGone, StreamInterrupted

from . import metrics
from .errors import error_body
from .observe import RequestRecord

log = logging.getLogger(__name__)

DONE = b"data: [DONE]\n\n"
SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


def encode_event(data: dict[str, Any]) -> bytes:
    """Encode one ``data:`` event."""
    return b"data: " + json.dumps(data, separators=(",", ":")).encode() + b"\n\n"


def shape_chunks(
    chunks: Iterator[dict[str, Any]], *, model: str, include_usage: bool
) -> Iterator[dict[str, Any]]:
    """Echo the client's model name, and give usage once, as OpenAI does, when asked for.

    Some upstreams (G4F) put usage on the last content chunk instead of a final
    ``choices: []`` chunk: it is taken off that chunk (so a client summing usage
    counts it once) and sent in a synthesised final chunk. Usage-only chunks the
    client did not ask for are dropped.
    """
    usage: Any = None
    usage_sent = False
    last: dict[str, Any] = {}
    for chunk in chunks:
        chunk["model"] = model
        last = chunk
        if not chunk.get("choices") and chunk.get("usage"):
            if include_usage:
                usage_sent = True
                yield chunk
            continue
        if chunk.get("usage"):
            usage = chunk["usage"]
            chunk["usage"] = None
        yield chunk
    if include_usage and usage is not None and not usage_sent:
        yield {
            "id": last.get("id"),
            "object": "chat.completion.chunk",
            "created": last.get("created", int(time.time())),
            "model": model,
            "choices": [],
            "usage": usage,
        }


def sse_response(
    stream: ChatStream, *, model: str, include_usage: bool, record: RequestRecord
) -> Response:
    """Relay a committed stream as ``text/event-stream``; the upstream closes with the response."""
    served = stream.served

    def generate() -> Iterator[bytes]:
        metrics.OPEN_STREAMS.inc()
        try:
            for chunk in shape_chunks(iter(stream), model=model, include_usage=include_usage):
                event = encode_event(chunk)
                record.bytes += len(event)
                yield event
            record.bytes += len(DONE)
            yield DONE
        except ClientGone as exc:
            record.error = exc  # nobody is reading: nothing more to send
        except StreamInterrupted as exc:
            # No [DONE]: the client sees an error, not an answer that merely stopped.
            log.warning("stream interrupted: %s", exc.message)
            record.error = exc
            metrics.STREAM_ERRORS.labels(served.provider, str(served.tier)).inc()
            event = encode_event(error_body(exc.message, exc.error_type, None, exc.code))
            record.bytes += len(event)
            yield event
        finally:
            stream.close()
            metrics.OPEN_STREAMS.dec()

    return Response(generate(), mimetype="text/event-stream", headers=SSE_HEADERS)
