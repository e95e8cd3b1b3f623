"""The verdict when no candidate served: one status and code that name the dominant cause.

The attempts list (``error.attempts``) tells the rest; the verdict must not hide
a hang behind the last attempt's 429, nor call a mix of failures by the name of
whichever came last.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

from .errors import ChainExhausted

#: Outcomes that are a key's, not a provider's.
KEY_OUTCOMES = frozenset({"rate_limited", "quota", "auth"})
#: Each provider-side outcome: its error code, and how the message says it. Order breaks ties.
FAILURES: dict[str, tuple[str, str]] = {
    "timeout": ("upstream_timeout", "timed out"),
    "connection": ("upstream_connection_error", "could not be reached"),
    "server_error": ("upstream_server_error", "failed with a server error"),
    "backend_error": ("upstream_backend_error", "had a backend refuse"),
    "in_band_error": ("upstream_error", "reported an error"),
    "malformed": ("upstream_bad_response", "sent a malformed answer"),
    "too_large": ("upstream_response_too_large", "sent an answer over the size cap"),
    "model_swapped": ("upstream_model_swapped", "answered from another model"),
    "client_error": ("upstream_rejected_request", "refused the request"),
    "not_found": ("model_not_found", "did not know the model"),
}
_KEY_WORDS = {"rate_limited": "rate limited", "quota": "out of quota", "auth": "rejected the key"}


def summary(outcomes: Counter[str]) -> str:
    """``2 timed out, 1 rate limited``: every outcome and how often, most frequent first."""
    words = {**{k: v[1] for k, v in FAILURES.items()}, **_KEY_WORDS}
    return ", ".join(f"{n} {words.get(o, o)}" for o, n in outcomes.most_common())


def dominant(outcomes: Counter[str]) -> str | None:
    """The most frequent provider-side outcome (ties: the order of ``FAILURES``)."""
    order = list(FAILURES)
    found = [o for o in outcomes if o in FAILURES]
    if not found:
        return None
    return min(found, key=lambda o: (-outcomes[o], order.index(o)))


def mixed_verdict(
    attempts: Sequence[Any], soonest: float | None, report: list[dict[str, Any]]
) -> ChainExhausted:
    """Attempts that failed in more than one way: name the dominant cause."""
    outcomes = Counter(a.outcome for a in attempts)
    main = dominant(outcomes)
    if main is None:  # only key outcomes: some keys rate limited, the others dead
        return ChainExhausted(
            f"no key could serve this model ({summary(outcomes)}); retry later",
            status=429,
            code="rate_limit_exceeded",
            error_type="rate_limit_error",
            retry_after=soonest,
            attempts=report,
        )
    code, _ = FAILURES[main]
    last = next((a.error for a in reversed(attempts) if a.outcome == main and a.error), None)
    detail = f"; the last: {last}" if last else ""
    return ChainExhausted(
        f"the upstream providers failed ({summary(outcomes)}){detail}",
        status=502,
        code=code,
        attempts=report,
    )
