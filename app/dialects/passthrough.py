"""Native streams to the client: each upstream event as its own bytes (an ``Encoder``).

When the upstream speaks the client's dialect, its events are the answer: they go out
as they came, one by one. Only a break after the commit point adds an event, the
dialect's own error: Messages' ``error`` event, or Responses' ``response.failed`` for
the response the upstream opened, numbered after its last event.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from providers import StreamInterrupted, WireDialect

from app.dialects.anthropic.errors import error_type_for
from app.dialects.streaming import Encoder, event_bytes


class Passthrough:
    """The upstream's events as they are; ``failed`` says the dialect's error."""

    def start(self) -> Iterable[bytes]:
        """Nothing: the upstream's first events open the stream."""
        return ()

    def feed(self, chunk: Any) -> Iterable[bytes]:
        """The event's own bytes (a ``NativeEvent``)."""
        return (chunk.raw,)

    def finish_events(self) -> Iterable[bytes]:
        """Nothing: the upstream's last event ended it."""
        return ()

    def failed(self, exc: StreamInterrupted) -> Iterable[bytes]:
        """Messages' ``error`` event."""
        error = {"type": error_type_for(exc.status), "message": exc.message}
        return (event_bytes("error", {"type": "error", "error": error}),)


class ResponsesPassthrough(Passthrough):
    """Responses events as they are; a break ends with ``response.failed``."""

    def __init__(self) -> None:
        self.response: Mapping[str, Any] = {}
        self.sequence = -1

    def feed(self, chunk: Any) -> Iterable[bytes]:
        """The event's own bytes; its response and number are kept for a failure."""
        data = chunk.data
        if isinstance(data.get("response"), Mapping):
            self.response = data["response"]
        number = data.get("sequence_number")
        if isinstance(number, int) and not isinstance(number, bool):
            self.sequence = max(self.sequence, number)
        return (chunk.raw,)

    def failed(self, exc: StreamInterrupted) -> Iterable[bytes]:
        """``response.failed`` with the error, numbered after the upstream's last event."""
        error = {"code": "server_error", "message": exc.message}
        response = {**self.response, "status": "failed", "error": error}
        event = {"type": "response.failed", "sequence_number": self.sequence + 1}
        return (event_bytes("response.failed", {**event, "response": response}),)


def passthrough_for(dialect: WireDialect) -> Encoder:
    """The encoder that relays a native stream of ``dialect``."""
    return ResponsesPassthrough() if dialect == WireDialect.RESPONSES else Passthrough()
