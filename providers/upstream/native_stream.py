"""A native stream (Messages or Responses events) as the upstream sends it, bounded.

Each event is relayed as its own bytes (``event:`` and ``data:`` lines, framed as the
dialects frame them); keyrelay decodes it only to find its type, an error, the end and
the usage. An error event, ``response.failed``, a body that ends before the answer's
last event, an event over ``MAX_UPSTREAM_EVENT_BYTES`` or a stream over
``MAX_UPSTREAM_RESPONSE_BYTES`` is a ``ProviderError``, as on the chat path.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import requests

from providers.config.catalog import WireDialect
from providers.errors import (
    BadUpstreamResponse,
    InBandError,
    TransportError,
    UpstreamResponseTooLarge,
)

from . import jsonlimits
from .http import iter_body
from .native import ENDS, stream_usage
from .sse import Event, iter_events
from .stream import EventStream, in_band_error


@dataclass(frozen=True)
class NativeEvent:
    """One event of a native stream: its type, what it decodes to, and its bytes."""

    kind: str
    data: dict[str, Any]
    raw: bytes


def framed(event: Event) -> bytes:
    """The event's bytes as the dialects frame them: ``event:``, ``data:``, a blank line."""
    lines = [f"event: {event.event}"] if event.event else []
    lines += [f"data: {line}" for line in event.data.split("\n")]
    return ("\n".join(lines) + "\n\n").encode()


class NativeStream(EventStream):
    """The events of one native stream; iterate once, then ``close``."""

    def __init__(
        self,
        response: requests.Response,
        dialect: str,
        redact: Callable[[str], str],
        *,
        max_event: int,
        max_bytes: int,
    ) -> None:
        super().__init__(response)
        self.dialect = WireDialect(dialect)
        self._redact = redact
        self._max_event, self._max_bytes = max_event, max_bytes
        #: The usage reported so far, in the dialect's terms (later events update it).
        self.usage: dict[str, Any] = {}

    def __iter__(self) -> Iterator[NativeEvent]:
        size = 0
        for event in iter_events(iter_body(self.response), self._max_event):
            raw = framed(event)
            size += len(raw)
            if size > self._max_bytes:
                raise UpstreamResponseTooLarge(
                    "the upstream's stream passed MAX_UPSTREAM_RESPONSE_BYTES "
                    f"({self._max_bytes} bytes)"
                )
            native = self._decoded(event, raw)
            usage = stream_usage(self.dialect, native.kind, native.data)
            if usage:
                self.usage.update(usage)
            yield native
            if native.kind in ENDS[self.dialect]:
                self._done = True
                return
        raise TransportError("the upstream stream ended before the answer finished")

    def _decoded(self, event: Event, raw: bytes) -> NativeEvent:
        try:
            data = jsonlimits.loads_bounded(event.data)
        except ValueError:
            raise BadUpstreamResponse("the upstream sent an event that is not JSON") from None
        if not isinstance(data, dict):
            raise BadUpstreamResponse("the upstream sent an event that is not an object")
        kind = data["type"] if isinstance(data.get("type"), str) else event.event
        if kind == "error" or event.event == "error":
            raise in_band_error(data, self._redact) or InBandError("the upstream sent an error")
        if kind == "response.failed":
            raise _failed(data, self._redact)
        return NativeEvent(kind, data, raw)


def _failed(data: Mapping[str, Any], redact: Callable[[str], str]) -> InBandError:
    """``response.failed``: its ``response.error`` as an in-band error."""
    response = data.get("response")
    error = response.get("error") if isinstance(response, Mapping) else None
    found = in_band_error({"error": error}, redact) if error else None
    return found or InBandError("the upstream's response failed")
