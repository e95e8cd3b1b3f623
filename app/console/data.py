"""What the console shows, computed from the router's snapshots, usage and recent requests.

Per-provider traffic (requests, fallbacks away, p50 latency) comes from the recent
requests of the last hour, kept in the state store: a window of at most ``MAX_RECENT``
requests, labelled as such on the page.
"""

from __future__ import annotations

import calendar
import statistics
import time
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from providers import KeySnapshot, ProviderStatus, Router

HOUR = 3600.0
DAY = 86400.0


@dataclass
class Traffic:
    """One provider's last hour, from the recent requests."""

    served: int = 0
    fell_away: int = 0
    latencies: list[float] = field(default_factory=list)

    @property
    def p50_ms(self) -> float | None:
        """The median latency of its successful attempts, if any."""
        return statistics.median(self.latencies) if self.latencies else None


@dataclass(frozen=True)
class Card:
    """A provider on the ladder."""

    status: ProviderStatus
    traffic: Traffic
    #: Seconds until the first blocked key is usable again (None: none is blocked).
    back_in: float | None


@dataclass(frozen=True)
class KeyRow:
    """One key on the keys page."""

    provider: str
    tier: int
    key: KeySnapshot
    last_error: str | None
    today: tuple[int, int]
    week: tuple[int, int]
    month: tuple[int, int]


def traffic(recent: list[dict[str, Any]], now: float) -> dict[str, Traffic]:
    """Requests served, fallbacks away and successful attempt latencies, per provider."""
    found: dict[str, Traffic] = defaultdict(Traffic)
    for entry in recent:
        if now - float(entry.get("at") or 0) > HOUR:
            continue
        trail = entry.get("trail") or []
        if entry.get("provider"):
            found[entry["provider"]].served += 1
        if trail and entry.get("provider") and trail[0]["provider"] != entry["provider"]:
            found[trail[0]["provider"]].fell_away += 1
        for attempt in trail:
            if attempt.get("outcome") == "success":
                found[attempt["provider"]].latencies.append(float(attempt.get("ms") or 0))
    return found


def ladder(router: Router, recent: list[dict[str, Any]]) -> list[tuple[int, list[Card]]]:
    """Providers by tier, tier 1 first."""
    seen = traffic(recent, time.time())
    tiers: dict[int, list[Card]] = defaultdict(list)
    for status in router.status():
        blocked = [k.available_in for k in status.keys if k.available_in > 0]
        card = Card(status, seen.get(status.provider, Traffic()), min(blocked, default=None))
        tiers[status.tier].append(card)
    return sorted(tiers.items())


def _last_errors(recent: list[dict[str, Any]]) -> dict[tuple[str, str], str]:
    errors: dict[tuple[str, str], str] = {}
    for entry in recent:  # newest first: the first error seen for a key is its last
        for attempt in entry.get("trail") or []:
            where = (attempt.get("provider", ""), attempt.get("key", ""))
            if attempt.get("outcome") != "success" and where not in errors:
                status = attempt.get("status")
                errors[where] = f"{attempt['outcome']}" + (f" ({status})" if status else "")
    return errors


def key_rows(router: Router, recent: list[dict[str, Any]]) -> list[KeyRow]:
    """Every key with its state, last error and usage (today, 7 and 30 days)."""
    now = time.time()
    rows = router.usage.rows(
        provider=None, days=min(30, router.config.usage_retention_days), now=now
    )
    spent: dict[tuple[str, str], list[tuple[int, int, int]]] = defaultdict(list)
    for row in rows:
        age = int((now - calendar.timegm(time.strptime(row.date, "%Y-%m-%d"))) // DAY)
        spent[(row.provider, row.key)].append((age, row.requests, row.total_tokens))
    errors = _last_errors(recent)

    def total(provider: str, key: str, days: int) -> tuple[int, int]:
        found = [(r, t) for age, r, t in spent[(provider, key)] if age < days]
        return sum(r for r, _ in found), sum(t for _, t in found)

    return [
        KeyRow(
            status.provider,
            status.tier,
            key,
            errors.get((status.provider, key.key)),
            total(status.provider, key.key, 1),
            total(status.provider, key.key, 7),
            total(status.provider, key.key, 30),
        )
        for status in router.status()
        for key in status.keys
    ]
