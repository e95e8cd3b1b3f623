"""What a client key is: its name, limits and budget, and the window of what it used."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any

#: A client key's name: it becomes a metric label and a log field, so it is kept plain.
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$")
#: The name usage made with a ``PROXY_API_KEY`` key is counted under (never a record's).
PROXY_KEY_NAME = "(proxy key)"
#: The most patterns one list of a record may hold.
MAX_PATTERNS = 64


class Period(StrEnum):
    """How often a budget starts again (UTC)."""

    DAY = "day"
    WEEK = "week"
    MONTH = "month"


@dataclass(frozen=True)
class Limits:
    """What a client key may do; None (or an empty list) is no limit."""

    #: Patterns (``fnmatch``) on the model asked for; a model group is matched by ``groups``.
    models: tuple[str, ...] = ()
    #: Patterns on the model groups asked for (``MODEL_GROUP_*``).
    groups: tuple[str, ...] = ()
    #: Patterns on the providers that may serve it.
    providers: tuple[str, ...] = ()
    #: The lowest tier (highest number) that may serve it.
    max_tier: int | None = None
    rpm: int | None = None
    tpm: int | None = None
    daily_tokens: int | None = None
    max_concurrent: int | None = None
    #: US dollars per ``period``.
    budget: float | None = None
    period: Period = Period.MONTH

    @property
    def counted(self) -> bool:
        """True when admission must go to the store (some limit counts requests or spend)."""
        return any(
            v is not None
            for v in (self.rpm, self.tpm, self.daily_tokens, self.max_concurrent, self.budget)
        )


@dataclass(frozen=True)
class ClientRecord:
    """One client key: its name, the prefix it starts with, and a keyed hash of the rest."""

    name: str
    prefix: str
    digest: str = field(repr=False)
    limits: Limits = field(default_factory=Limits)
    created: float = 0.0
    #: When it stops working (epoch seconds), if ever.
    expires: float | None = None
    #: When it was revoked, if it was.
    revoked: float | None = None

    def refused(self, now: float) -> str | None:
        """Why it cannot be used now (``revoked``, ``expired``), or None."""
        if self.revoked is not None:
            return "revoked"
        if self.expires is not None and now >= self.expires:
            return "expired"
        return None


@dataclass
class Window:
    """What a key used lately: the counts its limits are checked against."""

    #: Requests admitted per second, over the last minute.
    requests: dict[int, int] = field(default_factory=dict)
    #: Tokens used per second, over the last minute.
    tokens: dict[int, int] = field(default_factory=dict)
    #: The UTC day (days since the epoch) ``day_tokens`` counts.
    day: int = 0
    day_tokens: int = 0
    #: The start of the budget period ``spent`` counts (epoch seconds).
    period: float = 0.0
    spent: float = 0.0
    #: Requests in flight: hold id -> [expires, reserved dollars].
    held: dict[str, list[float]] = field(default_factory=dict)


@dataclass(frozen=True)
class ClientEntry:
    """A record with its window, kept together so one transaction checks and counts."""

    record: ClientRecord
    window: Window = field(default_factory=Window)

    def with_record(self, record: ClientRecord) -> ClientEntry:
        """The same window under a changed record."""
        return replace(self, record=record)


def encode_entry(entry: ClientEntry) -> str:
    """An entry as JSON, for a shared store (written by hand: ``asdict`` deep-copies)."""
    record, limits, window = entry.record, entry.record.limits, entry.window
    data = {
        "record": {"name": record.name, "prefix": record.prefix, "digest": record.digest,
                   "limits": limits.__dict__, "created": record.created,
                   "expires": record.expires, "revoked": record.revoked},
        "window": window.__dict__,
    }  # fmt: skip
    return json.dumps(data, separators=(",", ":"))


def decode_entry(raw: str | bytes) -> ClientEntry:
    """An entry from its JSON."""
    data = json.loads(raw)
    record: dict[str, Any] = data["record"]
    limits: dict[str, Any] = record.pop("limits")
    for name in ("models", "groups", "providers"):
        limits[name] = tuple(limits.get(name) or ())
    limits["period"] = Period(limits.get("period") or Period.MONTH)
    window: dict[str, Any] = data.get("window") or {}
    for name in ("requests", "tokens"):
        window[name] = {int(k): int(v) for k, v in (window.get(name) or {}).items()}
    return ClientEntry(ClientRecord(**record, limits=Limits(**limits)), Window(**window))
