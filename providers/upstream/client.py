"""An OpenAI-compatible upstream: chat completions (whole or streamed), embeddings, models."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any

import requests

from providers.config.shape import ProviderConfig, RoutingConfig
from providers.errors import (
    BackendError,
    BadUpstreamResponse,
    InBandError,
    KeyRejected,
    ProviderError,
    RateLimited,
    TransportError,
)

from . import jsonlimits
from .http import (
    DEFAULT_MAX_RESPONSE_BYTES,
    SessionPool,
    Timeout,
    abort,
    finish_body,
    iter_body,
    read_body,
    send,
    set_read_timeout,
)
from .shapes import check_chunk, check_completion
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


class UpstreamStream:
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
        self.response = response
        self._redact = redact
        self._max_event = max_event
        self.headers = response.headers
        self._done = False

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

    def set_read_timeout(self, seconds: float) -> None:
        """Change the socket's read timeout: after the commit point it detects stalls."""
        set_read_timeout(self.response, seconds)

    def abort(self) -> None:
        """Shut the connection from another thread: a read in progress ends with an error."""
        abort(self.response)

    def close(self) -> None:
        """Close the upstream response; after ``[DONE]`` its connection goes back to the pool."""
        if self._done:
            finish_body(self.response)
        self.response.close()


def _blames_a_backend(error: ProviderError, *, keyless: bool) -> bool:
    """True when an aggregator's 401/403/429 is about one of its backends, not keyrelay's key.

    G4F drops a backend's Retry-After, so a 429 that carries one is G4F's own limit.
    Without a key there is no key to blame. With one, G4F's own check answers ``Not
    authenticated``; a backend's refusal names the backend (``"provider": "Puter"``) or
    is a ``MissingAuthError``.
    """
    if isinstance(error, RateLimited):
        return error.retry_after is None
    if keyless:
        return True
    body = error.body or {}
    return bool(body.get("backend")) or "missingautherror" in error.message.lower()


class Upstream:
    """One OpenAI-compatible base URL, reached through a pooled session."""

    def __init__(
        self,
        name: str,
        base_url: str,
        sessions: SessionPool,
        redact: Callable[[str], str],
        *,
        max_response: int = DEFAULT_MAX_RESPONSE_BYTES,
        max_event: int = DEFAULT_MAX_EVENT_BYTES,
        aggregator: bool = False,
    ) -> None:
        self.name = name
        self.base_url = base_url.rstrip("/")
        self._sessions = sessions
        self._redact = redact
        self._max_response = max_response
        self._max_event = max_event
        self._aggregator = aggregator

    @classmethod
    def from_config(
        cls,
        config: ProviderConfig,
        routing: RoutingConfig,
        sessions: SessionPool,
        redact: Callable[[str], str],
    ) -> Upstream:
        """The upstream of one configured provider, with the routing limits."""
        return cls(
            config.name,
            config.base_url,
            sessions,
            redact,
            max_response=routing.max_response_bytes,
            max_event=routing.max_event_bytes,
            aggregator=config.aggregator,
        )

    def _send(
        self,
        method: str,
        path: str,
        key: str,
        timeout: Timeout,
        payload: Mapping[str, Any] | None = None,
        stream: bool = False,
    ) -> requests.Response:
        try:
            return send(
                self._sessions.get(self.base_url),
                method,
                f"{self.base_url}/{path}",
                key=key,
                timeout=timeout,
                redact=self._redact,
                payload=payload,
                stream=stream,
            )
        except (RateLimited, KeyRejected) as exc:
            if self._aggregator and _blames_a_backend(exc, keyless=not key):
                raise BackendError(
                    exc.message, upstream_status=exc.upstream_status, body=exc.body
                ) from None
            raise

    def _json(self, response: requests.Response) -> dict[str, Any]:
        try:
            raw = read_body(response, self._max_response)
        finally:
            response.close()
        try:
            data = jsonlimits.loads_bounded(raw)
        except jsonlimits.JSONTooDeep:
            raise BadUpstreamResponse("the upstream's JSON answer is nested too deeply") from None
        except ValueError:
            raise BadUpstreamResponse(
                "the upstream answered with a body that is not JSON"
            ) from None
        if not isinstance(data, dict):
            raise BadUpstreamResponse("the upstream answered with JSON that is not an object")
        error = in_band_error(data, self._redact)
        if error is not None:
            raise error
        return data

    def chat(self, payload: Mapping[str, Any], key: str, timeout: Timeout) -> dict[str, Any]:
        """Return a whole chat completion."""
        data = self._json(self._send("POST", "chat/completions", key, timeout, payload))
        check_completion(data)
        return data

    def stream_chat(self, payload: Mapping[str, Any], key: str, timeout: Timeout) -> UpstreamStream:
        """Open a streamed chat completion; the caller must close it."""
        response = self._send("POST", "chat/completions", key, timeout, payload, stream=True)
        content_type = response.headers.get("Content-Type", "")
        if "event-stream" not in content_type:
            # Some upstreams answer a stream request with one JSON body (often an error).
            try:
                self._json(response)
            finally:
                response.close()
            raise BadUpstreamResponse("the upstream did not answer with an event stream")
        return UpstreamStream(response, self._redact, self._max_event)

    def embeddings(self, payload: Mapping[str, Any], key: str, timeout: Timeout) -> dict[str, Any]:
        """Return an embeddings response."""
        data = self._json(self._send("POST", "embeddings", key, timeout, payload))
        if not isinstance(data.get("data"), list):
            raise BadUpstreamResponse("the upstream embeddings answer has no data")
        return data

    def list_models(self, key: str, timeout: Timeout) -> list[str]:
        """Return the model ids the upstream lists at ``GET /models``."""
        data = self._json(self._send("GET", "models", key, timeout))
        entries = data.get("data")
        if not isinstance(entries, list):
            raise BadUpstreamResponse("the upstream model list has no data")
        return [e["id"] for e in entries if isinstance(e, dict) and isinstance(e.get("id"), str)]
