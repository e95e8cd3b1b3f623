"""The words attempts, trails, circuits, metrics and logs share: outcomes and skip reasons."""

from __future__ import annotations

from enum import StrEnum


class Outcome(StrEnum):
    """How one upstream attempt ended (a metric label and a trail entry)."""

    SUCCESS = "success"
    ERROR = "error"
    CONNECTION = "connection"
    TIMEOUT = "timeout"
    RATE_LIMITED = "rate_limited"
    QUOTA = "quota"
    AUTH = "auth"
    CLIENT_ERROR = "client_error"
    NOT_FOUND = "not_found"
    SERVER_ERROR = "server_error"
    BACKEND_ERROR = "backend_error"
    MALFORMED = "malformed"
    MODEL_SWAPPED = "model_swapped"
    TOO_LARGE = "too_large"
    IN_BAND_ERROR = "in_band_error"
    STREAM_INTERRUPTED = "stream_interrupted"
    CLIENT_GONE = "client_gone"
    MODEL_NOT_FOUND = "model_not_found"
    UNSUPPORTED = "unsupported"
    NO_KEY = "no_key"
    NO_PROVIDER = "no_provider"


class Skip(StrEnum):
    """Why a candidate was passed over without a request (``skipped_<reason>`` in trails)."""

    COOLING = "cooling"
    DISABLED = "disabled"
    EXHAUSTED = "exhausted"
    BUSY = "busy"
    CIRCUIT_OPEN = "circuit_open"
    MODEL_SET_ASIDE = "model_set_aside"
    IGNORED_BY_CONFIG = "ignored_by_config"
    #: It speaks neither the request's dialect nor chat completions (``<P>_DIALECTS``).
    DIALECT = "dialect"


#: Trail entries for candidates passed over start with this.
SKIPPED = "skipped_"

#: Outcomes that say the provider itself is failing (the others say it is alive).
PROVIDER_FAILURES = frozenset(
    {
        Outcome.SERVER_ERROR,
        Outcome.CONNECTION,
        Outcome.TIMEOUT,
        Outcome.MALFORMED,
        Outcome.IN_BAND_ERROR,
        Outcome.STREAM_INTERRUPTED,
        Outcome.TOO_LARGE,
        Outcome.BACKEND_ERROR,
        Outcome.MODEL_SWAPPED,
    }
)
#: Outcomes that are a key's, not a provider's.
KEY_OUTCOMES = frozenset({Outcome.RATE_LIMITED, Outcome.QUOTA, Outcome.AUTH})
