"""A streamed completion as the upstream sends it: its chunks, its commit, its errors in-band."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any

import requests

from providers.errors import BadUpstreamResponse, InBandError, TransportError

from . import jsonlimits
from .http import abort, finish_body, iter_body, set_read_timeout
from .shapes import check_chunk
from .sse import iter_events
from .translate import error_details, redact_decoded

#: MAX_UPSTREAM_EVENT_BYTES: the longest line or event of a stream.
DEFAULT_MAX_EVENT_BYTES = 4 * 1024 * 1024


Chunk = dict[str, Any]


def in_band_error(data: Mapping[str, Any], redact: Callable[[str], str]) -> InBandError | None:
    """Return the error carried by a 200 body or stream event, if it carries one."""
    if not data.get("error"):
        return None
    details: dict[str, Any] = redact_decoded(error_details(data), redact)
    message = details.get("message") or "the upstream reported an error"
    return InBandError(message, body=details)


def commits(chunk: Mapping[str, Any]) -> bool:
    """True when a chunk carries output: content, tool calls, refusal, reasoning, a finish."""
    for choice in chunk.get("choices") or ():
        if not isinstance(choice, dict):
            continue
        if choice.get("finish_reason"):
            return True
        delta = choice.get("delta") or {}
        if isinstance(delta, dict) and any(
            delta.get(field)
            for field in (
                "content",
                "tool_calls",
                "refusal",
                "reasoning",
                "reasoning_content",
                "function_call",
            )
        ):
            return True
    return False


class EventStream:
    """An upstream's event-stream response: its socket's timeout, an abort from another
    thread, and a close that gives the connection back once the answer was read whole."""

    def __init__(self, response: requests.Response) -> None:
        self.response = response
        self.headers = response.headers
        #: Set once the answer's last event was read (the connection can be reused).
        self._done = False

    def set_read_timeout(self, seconds: float) -> None:
        """Change the socket's read timeout: after the commit point it detects stalls."""
        set_read_timeout(self.response, seconds)

    def abort(self) -> None:
        """Shut the connection from another thread: a read in progress ends with an error."""
        abort(self.response)

    def close(self) -> None:
        """Close the upstream response; after the last event its connection goes back to
        the pool."""
        if self._done:
            finish_body(self.response)
        self.response.close()


class UpstreamStream(EventStream):
    """The chunks of one streamed completion, as the upstream sends them.

    Iteration ends at ``[DONE]``, or at the end of the body if a finish reason was
    seen. A stream that errors in-band, breaks, or ends before finishing raises a
    ``ProviderError``.
    """

    def __init__(
        self,
        response: requests.Response,
        redact: Callable[[str], str],
        max_event: int = DEFAULT_MAX_EVENT_BYTES,
    ) -> None:
        super().__init__(response)
        self._redact = redact
        self._max_event = max_event

    def __iter__(self) -> Iterator[Chunk]:
        finished = False
        for event in iter_events(iter_body(self.response), self._max_event):
            if event.data.strip().startswith("[DONE]"):
                self._done = True
                return
            try:
                chunk = jsonlimits.loads_bounded(event.data)
            except ValueError:
                raise BadUpstreamResponse("the upstream sent an event that is not JSON") from None
            if not isinstance(chunk, dict):
                raise BadUpstreamResponse("the upstream sent an event that is not an object")
            error = in_band_error(chunk, self._redact)
            if error is not None or event.event == "error":
                raise error or InBandError("the upstream sent an error event")
            check_chunk(chunk)
            finished = finished or any(
                isinstance(c, dict) and c.get("finish_reason") for c in chunk.get("choices") or ()
            )
            yield chunk
        if not finished:
            raise TransportError("the upstream stream ended before the answer finished")
