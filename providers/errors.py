"""The outcomes of talking to upstreams, as one small exception tree.

``providers.upstream.http`` translates ``requests`` exceptions and HTTP statuses into these
classes at one boundary; nothing above it sees a ``requests`` type. Each class
says what the client should be told (``status``, ``error_type``, ``code``) and
whether the failure belongs to the key, the provider, or the caller.
"""

from __future__ import annotations

from typing import Any

from .outcomes import Outcome


class ProviderError(Exception):
    """Base of every upstream outcome other than success."""

    #: HTTP status the client receives when this error ends the request.
    status: int = 502
    error_type: str = "upstream_error"
    code: str | None = "upstream_error"
    #: The key is at fault: rotate to another key of the same provider.
    key_specific: bool = False
    #: The caller is at fault: relay to the client, never rotate.
    caller_fault: bool = False
    #: Short label for attempt trails and metrics.
    outcome: str = Outcome.ERROR

    def __init__(
        self,
        message: str,
        *,
        upstream_status: int | None = None,
        retry_after: float | None = None,
        body: dict[str, Any] | None = None,
        param: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        #: The status the upstream answered with, when there was an answer.
        self.upstream_status = upstream_status
        #: Seconds the upstream asked us to wait (rate limits).
        self.retry_after = retry_after
        #: The upstream's error object (already redacted), for caller errors.
        self.body = body
        self.param = param
        #: The attempts made before this error ended the request (set by the router).
        self.trail: list[Any] = []


class TransportError(ProviderError):
    """No usable HTTP answer: the connection failed or broke."""

    outcome = Outcome.CONNECTION
    code = "upstream_connection_error"


class UpstreamTimeout(TransportError):
    """The upstream did not answer within the connect or read timeout."""

    status = 504
    outcome = Outcome.TIMEOUT
    code = "upstream_timeout"


class UpstreamHTTPError(ProviderError):
    """The upstream answered with an error status."""


class RateLimited(UpstreamHTTPError):
    """429: this key is rate limited for ``retry_after`` seconds."""

    status = 429
    error_type = "rate_limit_error"
    code = "rate_limit_exceeded"
    key_specific = True
    outcome = Outcome.RATE_LIMITED


class QuotaExhausted(UpstreamHTTPError):
    """402 or ``insufficient_quota``: this key has no credit left."""

    error_type = "insufficient_quota"
    code = "upstream_quota_exhausted"
    key_specific = True
    outcome = Outcome.QUOTA


class KeyRejected(UpstreamHTTPError):
    """401/403: the upstream refused this key."""

    code = "upstream_credentials_rejected"
    key_specific = True
    outcome = Outcome.AUTH


class CallerError(UpstreamHTTPError):
    """400/404/413/422 and other 4xx: the request itself was refused."""

    error_type = "invalid_request_error"
    code = None
    caller_fault = True
    outcome = Outcome.CLIENT_ERROR

    def __init__(self, message: str, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        if self.upstream_status is not None:
            self.status = self.upstream_status


class ModelNotServed(UpstreamHTTPError):
    """404: this provider does not serve the model; others may."""

    status = 404
    error_type = "invalid_request_error"
    code = "model_not_found"
    outcome = Outcome.NOT_FOUND


class BackendError(UpstreamHTTPError):
    """An aggregator's backend refused (G4F: a backend's login wall, its rate limit).

    Not the key's fault and not the whole endpoint's: it counts against the model.
    """

    code = "upstream_backend_error"
    outcome = Outcome.BACKEND_ERROR


class UpstreamServerError(UpstreamHTTPError):
    """408 or 5xx: the provider failed."""

    outcome = Outcome.SERVER_ERROR
    code = "upstream_server_error"


class BadUpstreamResponse(ProviderError):
    """A 2xx answer that is not what the protocol promises (malformed or empty)."""

    outcome = Outcome.MALFORMED
    code = "upstream_bad_response"


class ModelSwapped(BadUpstreamResponse):
    """An aggregator answered from another model than asked (``G4F_STRICT_MODEL``)."""

    outcome = Outcome.MODEL_SWAPPED
    code = "upstream_model_swapped"


class UpstreamResponseTooLarge(ProviderError):
    """A whole answer over MAX_UPSTREAM_RESPONSE_BYTES, or a stream event over its cap."""

    outcome = Outcome.TOO_LARGE
    code = "upstream_response_too_large"


class InBandError(ProviderError):
    """An error carried inside a 200 answer (a JSON body or a stream event)."""

    outcome = Outcome.IN_BAND_ERROR
    code = "upstream_error"


class StreamInterrupted(ProviderError):
    """A committed stream failed: the client gets an error event, not ``[DONE]``."""

    outcome = Outcome.STREAM_INTERRUPTED
    code = "upstream_stream_interrupted"


class ClientGone(ProviderError):
    """The client closed its connection while keyrelay waited on the upstream."""

    status = 499
    error_type = "invalid_request_error"
    code = "client_closed_request"
    outcome = Outcome.CLIENT_GONE


class NoProviderConfigured(ProviderError):
    """Nothing to route to: no provider key and no base URL in the configuration."""

    status = 503
    error_type = "server_error"
    code = "no_provider_configured"
    outcome = Outcome.NO_PROVIDER


class ModelNotFound(ProviderError):
    """No configured provider serves the requested model."""

    status = 404
    error_type = "invalid_request_error"
    code = "model_not_found"
    caller_fault = True
    outcome = Outcome.MODEL_NOT_FOUND


class NotPermitted(ModelNotFound):
    """The client key may not use any provider that serves the requested model."""

    status = 403
    error_type = "permission_error"
    code = "provider_not_allowed"


class UnsupportedEndpoint(ProviderError):
    """The provider does not offer this endpoint (e.g. embeddings)."""

    status = 400
    error_type = "invalid_request_error"
    code = "unsupported_endpoint"
    caller_fault = True
    outcome = Outcome.UNSUPPORTED


class DeadlineExceeded(ProviderError):
    """``REQUEST_DEADLINE`` ran out before any candidate answered."""

    status = 504
    outcome = Outcome.TIMEOUT
    code = "deadline_exceeded"


class NoUsableKey(ProviderError):
    """Every key of a provider is cooling down, disabled or busy."""

    status = 503
    code = "no_usable_key"
    outcome = Outcome.NO_KEY


class ChainExhausted(ProviderError):
    """Every candidate failed; carries the attempt trail."""

    def __init__(
        self,
        message: str,
        *,
        status: int,
        code: str,
        error_type: str = "upstream_error",
        retry_after: float | None = None,
        attempts: list[dict[str, Any]] | None = None,
    ) -> None:
        super().__init__(message, retry_after=retry_after)
        self.status = status
        self.code = code
        self.error_type = error_type
        self.attempts = attempts or []
