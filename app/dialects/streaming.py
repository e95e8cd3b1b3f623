"""Server-Sent Events to the client: a chunked generator that relays as chunks arrive.

The stream arrives as chat completion chunks in the client's terms (``providers``
normalised it); an ``Encoder`` writes them in the client's dialect (chat completions
here, Anthropic Messages and OpenAI Responses in their modules). This module counts
bytes and ends an interrupted stream with the dialect's error instead of its end.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from typing import Any, Protocol

from flask import Response
from providers import ChatStream, ClientGone, NativeRelay, StreamInterrupted, dumps_json

from app import metrics
from app.errors import error_body
from app.observe import RequestRecord

log = logging.getLogger(__name__)

DONE = b"data: [DONE]\n\n"
SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


def encode_event(data: dict[str, Any]) -> bytes:
    """Encode one ``data:`` event."""
    return b"data: " + dumps_json(data) + b"\n\n"


def event_bytes(event: str, data: dict[str, Any]) -> bytes:
    """Encode one named event: ``event:`` and ``data:`` lines."""
    return b"event: " + event.encode() + b"\ndata: " + dumps_json(data) + b"\n\n"


def whole_number(value: Any) -> int:
    """A count from upstream JSON: a positive integer, else 0."""
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0


class Kept:
    """What an encoder keeps of a stream for its last events, bounded: an upstream that
    never ends cannot make it grow past ``limit`` characters (``MAX_UPSTREAM_RESPONSE_BYTES``)."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.size = 0

    def add(self, text: str) -> None:
        """Count ``text``; past the limit the stream ends with the dialect's error."""
        self.size += len(text)
        if self.size > self.limit:
            raise StreamInterrupted(
                f"the answer passed {self.limit} characters, the most keyrelay keeps of a "
                "stream it must repeat whole at its end (MAX_UPSTREAM_RESPONSE_BYTES)"
            )


class Encoder(Protocol):
    """Writes a committed stream in one client dialect."""

    def start(self) -> Iterable[bytes]:
        """What opens the stream (sent at the commit point)."""
        ...

    def feed(self, chunk: Any) -> Iterable[bytes]:
        """The events one chat completion chunk (or a native stream's event) becomes."""
        ...

    def finish_events(self) -> Iterable[bytes]:
        """What ends a stream that completed."""
        ...

    def failed(self, exc: StreamInterrupted) -> Iterable[bytes]:
        """What ends a stream that broke after the commit point."""
        ...


class ChatEvents:
    """Chat completions: each chunk as a ``data:`` event, then ``[DONE]``."""

    def start(self) -> Iterable[bytes]:
        """Nothing before the first chunk."""
        return ()

    def feed(self, chunk: Any) -> Iterable[bytes]:
        """The chunk as it is."""
        return (encode_event(chunk),)

    def finish_events(self) -> Iterable[bytes]:
        """``data: [DONE]``."""
        return (DONE,)

    def failed(self, exc: StreamInterrupted) -> Iterable[bytes]:
        """The error envelope as a last event, and no ``[DONE]``."""
        return (encode_event(error_body(exc.message, exc.error_type, None, exc.code)),)


def sse_response(
    stream: ChatStream | NativeRelay, *, record: RequestRecord, encoder: Encoder | None = None
) -> Response:
    """Relay a committed stream as ``text/event-stream``; the upstream closes with the response."""
    served = stream.served
    dialect = encoder or ChatEvents()

    def generate() -> Iterator[bytes]:
        metrics.OPEN_STREAMS.inc()
        try:
            yield from _counted(dialect.start(), record)
            for chunk in stream:
                yield from _counted(dialect.feed(chunk), record)
            yield from _counted(dialect.finish_events(), record)
        except ClientGone as exc:
            record.error = exc  # nobody is reading: nothing more to send
        except StreamInterrupted as exc:
            # The dialect's error, not its end: the client sees an error, not an answer
            # that merely stopped.
            log.warning("stream interrupted: %s", exc.message)
            record.error = exc
            metrics.child(metrics.STREAM_ERRORS, served.provider, str(served.tier)).inc()
            yield from _counted(dialect.failed(exc), record)
        finally:
            stream.close()
            metrics.OPEN_STREAMS.dec()

    return Response(generate(), mimetype="text/event-stream", headers=SSE_HEADERS)


def _counted(events: Iterable[bytes], record: RequestRecord) -> Iterator[bytes]:
    for event in events:
        record.bytes += len(event)
        yield event
