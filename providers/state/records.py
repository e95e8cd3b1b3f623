"""What the kinds of state hold: key states and their vocabulary, circuit records, usage rows.

The stores of ``providers.state.contract`` exchange these; shared stores keep them as
they are here (a circuit record as JSON, usage per provider, key fingerprint and UTC day).
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

SECONDS_PER_DAY = 86400


@dataclass(frozen=True)
class Pin:
    """Where a session's last turn was served: a provider and a key (its fingerprint)."""

    provider: str
    key: str
    #: When the pin expires unless a later turn renews it (the store's clock).
    until: float


def utc_day(now: float | None = None) -> str:
    """``YYYY-MM-DD`` in UTC."""
    return time.strftime("%Y-%m-%d", time.gmtime(time.time() if now is None else now))


#: Token counts: prompt, completion, total, and the prompt tokens read from a cache.
Tokens = tuple[int, int, int, int]


def _count(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else 0


def token_counts(usage: Any) -> Tokens | None:
    """(prompt, completion, total, cached) from an OpenAI ``usage`` object, or None."""
    if not isinstance(usage, Mapping):
        return None
    prompt, completion, total = (
        _count(usage.get(k)) for k in ("prompt_tokens", "completion_tokens", "total_tokens")
    )
    if not (prompt or completion or total):
        return None
    details = usage.get("prompt_tokens_details")
    cached = _count(details.get("cached_tokens")) if isinstance(details, Mapping) else 0
    return prompt, completion, total or prompt + completion, min(cached, prompt)


class KeyStatus(StrEnum):
    """Whether a key may be used now, or why not."""

    USABLE = "usable"
    COOLING = "cooling"
    DISABLED = "disabled"
    EXHAUSTED = "exhausted"


USABLE, COOLING, DISABLED, EXHAUSTED = (
    KeyStatus.USABLE,
    KeyStatus.COOLING,
    KeyStatus.DISABLED,
    KeyStatus.EXHAUSTED,
)


class BlockSource(StrEnum):
    """Where a block's duration came from."""

    #: The upstream said how long: Retry-After or a rate-limit reset header.
    UPSTREAM = "upstream"
    #: keyrelay's own cooldown (KEY_COOLDOWN_*, the doubling 429 backoff).
    DEFAULT = "default"


@dataclass(frozen=True)
class KeyState:
    """A snapshot of one key's state."""

    in_flight: int = 0
    last_used: float = 0.0
    blocked_until: float = 0.0
    #: Why the key is blocked: COOLING (429), DISABLED (401/403) or EXHAUSTED (quota).
    reason: str = USABLE
    #: Consecutive 429s without a Retry-After, for the default backoff.
    strikes: int = 0
    #: Where the current block's duration came from (a ``BlockSource``; "" if never blocked).
    source: str = ""

    def status(self, now: float) -> str:
        """Return USABLE, or why the key cannot be used until ``blocked_until``."""
        return self.reason if self.blocked_until > now else USABLE


@dataclass(frozen=True)
class CircuitRecord:
    """One circuit's state."""

    #: Failures in a row (reset by any sign of life).
    failures: int = 0
    opens: int = 0
    open_until: float = 0.0
    #: A trial is in flight until then (0: none); a trial that never reports expires.
    trial_until: float = 0.0
    #: Aggregators: the models the current run of failures spans.
    models: tuple[str, ...] = field(default=())
    #: Every failure of the current run was a connection failure.
    unreachable: bool = True
    #: The window (started by a failure): when it began, its calls and its failed calls.
    since: float = 0.0
    calls: int = 0
    failed: int = 0

    @property
    def at_rest(self) -> bool:
        """Closed with nothing counted: nothing worth keeping."""
        return not (self.failures or self.opens or self.trial_until or self.failed)


AT_REST = CircuitRecord()


def encode_record(record: CircuitRecord) -> str:
    """A record as JSON, for a shared store."""
    data = record.__dict__ | {"models": list(record.models)}
    return json.dumps(data, separators=(",", ":"))


def decode_record(raw: str | bytes) -> CircuitRecord:
    """A record from its JSON."""
    data = json.loads(raw)
    data["models"] = tuple(data.get("models") or ())
    return CircuitRecord(**data)


@dataclass(frozen=True)
class UsageRow:
    """One provider, key and day."""

    provider: str
    key: str
    date: str
    requests: int = 0
    succeeded: int = 0
    failed: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0
    #: Prompt tokens the provider read from its prompt cache (a share of ``prompt_tokens``).
    cached_tokens: int = 0


@dataclass(frozen=True)
class ClientUsageRow:
    """One client key, the provider and upstream key that served it, and a UTC day."""

    client: str
    provider: str
    key: str
    date: str
    requests: int = 0
    failed: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached_tokens: int = 0
    #: US dollars, by the price table.
    cost: float = 0.0


#: Client usage columns, as the stores count them (cost in nano-dollars, so sums are exact).
CLIENT_USAGE_COLUMNS = ("requests", "failed", "prompt_tokens", "completion_tokens",
                        "cached_tokens", "cost_nanos")  # fmt: skip


def client_usage_row(client: str, provider: str, key: str, day: str, values: Any) -> ClientUsageRow:
    """A row from the six counted columns (cost in nano-dollars)."""
    requests, failed, prompt, completion, cached, nanos = (int(v) for v in values)
    return ClientUsageRow(client, provider, key, day, requests, failed, prompt, completion,
                          cached, nanos / 1e9)  # fmt: skip
