"""An OpenAI-compatible upstream: chat completions (whole or streamed), embeddings, models."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import requests

from providers.config.catalog import WireDialect
from providers.config.shape import ProviderConfig, RoutingConfig
from providers.errors import (
    BackendError,
    BadUpstreamResponse,
    KeyRejected,
    ProviderError,
    RateLimited,
)

from . import jsonlimits
from .http import (
    DEFAULT_MAX_RESPONSE_BYTES,
    SessionPool,
    Timeout,
    read_body,
    send,
)
from .native import COUNT_TOKENS_PATH, PATHS, NativeAnswer, auth_headers, check_answer
from .native_stream import NativeStream
from .shapes import check_completion
from .stream import DEFAULT_MAX_EVENT_BYTES, UpstreamStream, in_band_error


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
        models_auth: str = WireDialect.CHAT,
    ) -> None:
        self.name = name
        self.base_url = base_url.rstrip("/")
        self._sessions = sessions
        self._redact = redact
        self._max_response = max_response
        self._max_event = max_event
        self._aggregator = aggregator
        self._models_auth = WireDialect(models_auth)

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
            models_auth=config.models_auth,
        )

    def _send(
        self,
        method: str,
        path: str,
        key: str,
        timeout: Timeout,
        payload: Mapping[str, Any] | None = None,
        stream: bool = False,
        native: tuple[bytes | None, Mapping[str, str]] | None = None,
    ) -> requests.Response:
        body, headers = native if native is not None else (None, None)
        try:
            return send(
                self._sessions.get(self.base_url),
                method,
                f"{self.base_url}/{path}",
                key="" if native is not None else key,
                timeout=timeout,
                redact=self._redact,
                payload=payload,
                stream=stream,
                body=body,
                headers=headers,
            )
        except (RateLimited, KeyRejected) as exc:
            if self._aggregator and _blames_a_backend(exc, keyless=not key):
                raise BackendError(
                    exc.message, upstream_status=exc.upstream_status, body=exc.body
                ) from None
            raise

    def native(
        self, dialect: str, body: bytes, key: str, forwarded: Mapping[str, str], timeout: Timeout
    ) -> NativeAnswer:
        """A whole answer in ``dialect`` (Messages, Responses) to a body already encoded."""
        headers = auth_headers(dialect, key, forwarded)
        response = self._send("POST", PATHS[WireDialect(dialect)], key, timeout,
                              native=(body, headers))  # fmt: skip
        raw, data = self._read_json(response)
        check_answer(dialect, data)
        return NativeAnswer(dialect, raw, data)

    def count_tokens(
        self, body: bytes, key: str, forwarded: Mapping[str, str], timeout: Timeout
    ) -> int:
        """A Messages request's input tokens, as the provider counts them."""
        headers = auth_headers(WireDialect.MESSAGES, key, forwarded)
        response = self._send("POST", COUNT_TOKENS_PATH, key, timeout, native=(body, headers))
        counted = self._json(response).get("input_tokens")
        if not isinstance(counted, int) or isinstance(counted, bool) or counted < 0:
            raise BadUpstreamResponse("the upstream's token count is not a whole number")
        return counted

    def stream_native(
        self, dialect: str, body: bytes, key: str, forwarded: Mapping[str, str], timeout: Timeout
    ) -> NativeStream:
        """Open a stream in ``dialect``; the caller must close it."""
        headers = auth_headers(dialect, key, forwarded)
        response = self._send("POST", PATHS[WireDialect(dialect)], key, timeout,
                              stream=True, native=(body, headers))  # fmt: skip
        self._event_stream(response)
        return NativeStream(response, dialect, self._redact, max_event=self._max_event,
                            max_bytes=self._max_response)  # fmt: skip

    def _event_stream(self, response: requests.Response) -> None:
        """Raise unless ``response`` is an event stream (some upstreams answer a stream
        request with one JSON body, often an error)."""
        if "event-stream" in response.headers.get("Content-Type", ""):
            return
        try:
            self._json(response)
        finally:
            response.close()
        raise BadUpstreamResponse("the upstream did not answer with an event stream")

    def _json(self, response: requests.Response) -> dict[str, Any]:
        return self._read_json(response)[1]

    def _read_json(self, response: requests.Response) -> tuple[bytes, dict[str, Any]]:
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
        return raw, data

    def chat(self, payload: Mapping[str, Any], key: str, timeout: Timeout) -> dict[str, Any]:
        """Return a whole chat completion."""
        data = self._json(self._send("POST", "chat/completions", key, timeout, payload))
        check_completion(data)
        return data

    def stream_chat(self, payload: Mapping[str, Any], key: str, timeout: Timeout) -> UpstreamStream:
        """Open a streamed chat completion; the caller must close it."""
        response = self._send("POST", "chat/completions", key, timeout, payload, stream=True)
        self._event_stream(response)
        return UpstreamStream(response, self._redact, self._max_event)

    def embeddings(self, payload: Mapping[str, Any], key: str, timeout: Timeout) -> dict[str, Any]:
        """Return an embeddings response."""
        data = self._json(self._send("POST", "embeddings", key, timeout, payload))
        if not isinstance(data.get("data"), list):
            raise BadUpstreamResponse("the upstream embeddings answer has no data")
        return data

    def list_models(self, key: str, timeout: Timeout) -> list[str]:
        """Return the model ids the upstream lists at ``GET /models``."""
        if self._models_auth == WireDialect.MESSAGES:  # Anthropic's list: 20 a page unless asked
            native = (None, auth_headers(WireDialect.MESSAGES, key))
            response = self._send("GET", "models?limit=1000", key, timeout, native=native)
        else:
            response = self._send("GET", "models", key, timeout)
        data = self._json(response)
        entries = data.get("data")
        if not isinstance(entries, list):
            raise BadUpstreamResponse("the upstream model list has no data")
        return [e["id"] for e in entries if isinstance(e, dict) and isinstance(e.get("id"), str)]
