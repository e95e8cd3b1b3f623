"""Server-Sent Events to the client: a chunked generator that relays as chunks arrive.

The stream arrives in the client's terms (``providers`` normalised it): this
module only encodes events, counts bytes, and ends an interrupted stream with an
error event instead of ``[DONE]``.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from typing import Any

from flask import Response
from providers import ChatStream, ClientGone, StreamInterrupted

from . import metrics
from .errors import error_body
from .observe import RequestRecord

log = logging.getLogger(__name__)

DONE = b"data: [DONE]\n\n"
SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


def encode_event(data: dict[str, Any]) -> bytes:
    """Encode one ``data:`` event."""
    return b"data: " + json.dumps(data, separators=(",", ":")).encode() + b"\n\n"


def sse_response(stream: ChatStream, *, record: RequestRecord) -> Response:
    """Relay a committed stream as ``text/event-stream``; the upstream closes with the response."""
    served = stream.served

    def generate() -> Iterator[bytes]:
        metrics.OPEN_STREAMS.inc()
        try:
            for chunk in stream:
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
