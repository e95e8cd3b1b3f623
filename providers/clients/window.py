"""Admission and settlement of one request against a client key's limits, as pure
functions of its window: every store runs them inside one atomic change.

Admission checks, in order: revoked or expired, concurrent requests, requests and tokens
in the last minute, tokens today, and the budget (what was spent this period, plus what
requests in flight have reserved, plus this request's reservation must fit). Admitted,
it counts the request and holds its reservation; settlement releases the hold once and
counts what the request really used.
"""

from __future__ import annotations

import calendar
import hmac
import time
from dataclasses import dataclass, replace
from enum import StrEnum
from functools import lru_cache

from .records import SLOTS, ClientEntry, Limits, Period, Window

MINUTE = 60
DAY = 86400


class Refusal(StrEnum):
    """Why a client key's request is refused before any upstream is called."""

    REVOKED = "revoked"
    EXPIRED = "expired"
    CONCURRENCY = "max_concurrent"
    RPM = "rpm"
    TPM = "tpm"
    DAILY_TOKENS = "daily_tokens"
    BUDGET = "budget"
    UNKNOWN = "unknown_key"


@dataclass(frozen=True)
class Ask:
    """One request's claim: its hold's id, its reservation and how long the hold lasts."""

    hold: str
    reserve: float
    lease: float


@dataclass(frozen=True)
class Verdict:
    """Admitted (``refusal`` None), or why not and when to try again."""

    refusal: Refusal | None = None
    retry_after: float | None = None
    #: What the entry looked like after the decision (for ``/v1/me``).
    entry: ClientEntry | None = None


def period_start(period: Period, now: float) -> float:
    """When the budget period holding ``now`` began (UTC midnight, Monday, the 1st)."""
    day = int(now // DAY) * DAY
    if period == Period.DAY:
        return float(day)
    if period == Period.WEEK:
        return float(day - time.gmtime(day).tm_wday * DAY)
    t = time.gmtime(now)
    return float(calendar.timegm((t.tm_year, t.tm_mon, 1, 0, 0, 0)))


def period_end(period: Period, now: float) -> float:
    """When the budget period holding ``now`` ends."""
    start = period_start(period, now)
    if period == Period.DAY:
        return start + DAY
    if period == Period.WEEK:
        return start + 7 * DAY
    t = time.gmtime(start)
    year, month = (t.tm_year + 1, 1) if t.tm_mon == 12 else (t.tm_year, t.tm_mon + 1)
    return float(calendar.timegm((year, month, 1, 0, 0, 0)))


def fresh(window: Window, limits: Limits, now: float) -> Window:
    """A new window: what fell out of the minute, the day and the period dropped."""
    second, day = int(now), int(now // DAY)
    requests, tokens = window.requests[:], window.tokens[:]
    gap = second - window.second
    if gap >= SLOTS:
        requests, tokens = [0] * SLOTS, [0] * SLOTS
    for past in range(window.second + 1, second + 1) if 0 < gap < SLOTS else ():
        requests[past % SLOTS] = tokens[past % SLOTS] = 0
    start = _period_start(limits.period, now)
    return Window(
        requests, tokens, max(second, window.second), day,
        window.day_tokens if window.day == day else 0,
        start, window.spent if window.period == start else 0.0,
        {h: v for h, v in window.held.items() if v[0] > now},
    )  # fmt: skip


#: Where each period's start and end stand in ``_day_bounds``.
_PERIODS = (Period.DAY, Period.WEEK, Period.MONTH)


@lru_cache(maxsize=8)
def _day_bounds(day: int) -> tuple[float, ...]:
    """The start and end of the day, the week and the month holding UTC day ``day`` (the
    calendar costs microseconds a call; a period depends on the day alone)."""
    now = float(day * DAY)
    return tuple(b(p, now) for p in _PERIODS for b in (period_start, period_end))


def _period_start(period: Period, now: float) -> float:
    """``period_start``, from the day's bounds."""
    return _day_bounds(int(now // DAY))[2 * _PERIODS.index(period)]


def _free_in(counts: list[int], last: int, limit: int, now: float) -> float:
    """Seconds until the counts of the minute up to ``last`` fall below ``limit``."""
    total = sum(counts)
    for second in range(last - SLOTS + 1, last + 1):
        total -= counts[second % SLOTS]
        if total < limit:
            return second + MINUTE - now
    return MINUTE


def _refused(window: Window, limits: Limits, ask: Ask, now: float) -> Verdict | None:
    if limits.max_concurrent is not None and len(window.held) >= limits.max_concurrent:
        return Verdict(Refusal.CONCURRENCY, 1.0)
    if limits.rpm is not None and sum(window.requests) >= limits.rpm:
        return Verdict(Refusal.RPM, _free_in(window.requests, window.second, limits.rpm, now))
    if limits.tpm is not None and sum(window.tokens) >= limits.tpm:
        return Verdict(Refusal.TPM, _free_in(window.tokens, window.second, limits.tpm, now))
    if limits.daily_tokens is not None and window.day_tokens >= limits.daily_tokens:
        return Verdict(Refusal.DAILY_TOKENS, (window.day + 1) * DAY - now)
    if limits.budget is not None:
        reserved = sum(v[1] for v in window.held.values())
        if window.spent + reserved + ask.reserve > limits.budget:
            if window.spent + ask.reserve > limits.budget:
                return Verdict(Refusal.BUDGET, period_end(limits.period, now) - now)
            return Verdict(Refusal.BUDGET, 1.0)  # requests in flight may settle for less
    return None


def admit(entry: ClientEntry, ask: Ask, now: float) -> tuple[ClientEntry, Verdict]:
    """The entry after ``ask`` is admitted (counted and held), or unchanged and why not."""
    reason = entry.record.refused(now)
    if reason is not None:
        return entry, Verdict(Refusal(reason), None, entry)
    limits = entry.record.limits
    window = fresh(entry.window, limits, now)
    refused = _refused(window, limits, ask, now)
    if refused is not None:
        kept = ClientEntry(entry.record, window)
        return kept, replace(refused, retry_after=max(refused.retry_after or 1.0, 1.0), entry=kept)
    window.requests[int(now) % SLOTS] += 1
    if limits.settled:
        window.held[ask.hold] = [now + ask.lease, ask.reserve]
    admitted = ClientEntry(entry.record, window)
    return admitted, Verdict(None, None, admitted)


def admit_entry(
    entry: ClientEntry | None, digest: str, ask: Ask, now: float
) -> tuple[ClientEntry | None, Verdict]:
    """What a store does to admit a key presented with ``digest``: an entry to write back
    (None: nothing changed) and the verdict (``UNKNOWN`` for no entry or another key's
    hash; a key without counted limits is only confirmed)."""
    if entry is None or not hmac.compare_digest(entry.record.digest, digest):
        return None, Verdict(Refusal.UNKNOWN)
    if not entry.record.limits.counted and entry.record.refused(now) is None:
        return None, Verdict(None, None, entry)
    changed, verdict = admit(entry, ask, now)
    return (changed if verdict.refusal is None else None), verdict


def period_bounds(now: float) -> tuple[float, ...]:
    """The start and end of the day, the week and the month holding ``now`` (for a store
    that runs admission where the calendar is not at hand)."""
    return _day_bounds(int(now // DAY))


def settle(entry: ClientEntry, hold: str, tokens: int, cost: float, now: float) -> ClientEntry:
    """The entry with ``hold`` released and what the request used counted. The caller
    settles each ticket once; a hold that expired (a stream longer than its lease) is
    gone already, and what the request used still counts."""
    window = fresh(entry.window, entry.record.limits, now)
    window.held.pop(hold, None)
    if tokens:
        window.tokens[int(now) % SLOTS] += tokens
        window.day_tokens += tokens
    window.spent += cost
    return ClientEntry(entry.record, window)
