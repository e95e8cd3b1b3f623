"""The verdict when no candidate served: one status and code that name the dominant cause.

The attempts list (``error.attempts``) tells the rest; the verdict must not hide
a hang behind the last attempt's 429, nor call a mix of failures by the name of
whichever came last.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from providers.errors import ChainExhausted, ProviderError
from providers.outcomes import Outcome, Skip

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


@dataclass(frozen=True)
class Facts:
    """What the walk saw: the attempts sent, the reasons providers were passed over."""

    attempts: Sequence[Any]
    skipped: set[str]
    deadline_hit: bool
    last_error: ProviderError | None
    soonest: float | None
    report: list[dict[str, Any]]

    @property
    def outcomes(self) -> set[str]:
        """The distinct outcomes of the attempts sent."""
        return {a.outcome for a in self.attempts}


def _deadline(facts: Facts) -> ChainExhausted | None:
    if not facts.deadline_hit:
        return None
    message = "the request deadline ran out before any provider answered"
    return ChainExhausted(message, status=504, code="deadline_exceeded", attempts=facts.report)


def _rate_limited(facts: Facts) -> ChainExhausted | None:
    if not (facts.outcomes <= {Outcome.RATE_LIMITED} and facts.skipped <= {Skip.COOLING}):
        return None
    return ChainExhausted(
        "every provider key for this model is rate limited; retry later",
        status=429,
        code="rate_limit_exceeded",
        error_type="rate_limit_error",
        retry_after=facts.soonest,
        attempts=facts.report,
    )


def _nothing_sent(facts: Facts) -> ChainExhausted | None:
    if facts.attempts:
        return None
    if facts.skipped == {Skip.BUSY}:
        message = (
            "every key that could serve this model stayed busy (at its "
            "MAX_CONCURRENT_REQUESTS_PER_KEY limit) until the request deadline; retry shortly"
        )
        return ChainExhausted(
            message, status=503, code="keys_busy", retry_after=facts.soonest or 1.0,
            attempts=facts.report,
        )  # fmt: skip
    return ChainExhausted(
        "no provider for this model is usable right now "
        "(keys cooling, disabled or busy, or circuits open)",
        status=503,
        code="no_usable_provider",
        retry_after=facts.soonest,
        attempts=facts.report,
    )


def _not_found(facts: Facts) -> ChainExhausted | None:
    if not facts.outcomes <= {Outcome.NOT_FOUND}:
        return None
    body = facts.last_error.body if facts.last_error else None
    return ChainExhausted(
        str((body or {}).get("message") or "no provider serves this model"),
        status=404,
        code="model_not_found",
        error_type="invalid_request_error",
        attempts=facts.report,
    )


def _keys_rejected(facts: Facts) -> ChainExhausted | None:
    if not facts.outcomes <= {Outcome.AUTH, Outcome.QUOTA}:
        return None
    return ChainExhausted(
        "the upstream provider rejected every configured key for this model",
        status=502,
        code="upstream_credentials_exhausted",
        attempts=facts.report,
    )


def _timed_out(facts: Facts) -> ChainExhausted | None:
    if not facts.outcomes <= {Outcome.TIMEOUT}:
        return None
    return ChainExhausted(
        "the upstream provider did not answer in time",
        status=504,
        code="upstream_timeout",
        attempts=facts.report,
    )


def _one_cause(facts: Facts) -> ChainExhausted | None:
    error = facts.last_error
    if len(facts.outcomes) != 1 or error is None:
        return None
    return ChainExhausted(
        f"the upstream provider failed: {error.message}",
        status=502,
        code=error.code or "upstream_error",
        attempts=facts.report,
    )


#: The verdicts, checked in order; the first that applies is the client's answer.
RULES: tuple[Callable[[Facts], ChainExhausted | None], ...] = (
    _deadline,
    _rate_limited,
    _nothing_sent,
    _not_found,
    _keys_rejected,
    _timed_out,
    _one_cause,
)


def verdict(facts: Facts) -> ChainExhausted:
    """The error that tells the client, truthfully, why nothing served it."""
    for rule in RULES:
        found = rule(facts)
        if found is not None:
            return found
    return mixed_verdict(facts.attempts, facts.soonest, facts.report)


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
