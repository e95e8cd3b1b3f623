"""What a client key is: its name, limits and budget, and the window of what it used."""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any

import orjson

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
    def settled(self) -> bool:
        """True when an admitted request must be settled in the store (a hold to release,
        tokens or spend to count); a key with only ``rpm`` is done at admission."""
        return not (
            self.tpm is None and self.daily_tokens is None
            and self.max_concurrent is None and self.budget is None
        )  # fmt: skip

    @property
    def counted(self) -> bool:
        """True when admission must go to the store (some limit counts requests or spend)."""
        return self.rpm is not None or self.settled


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


#: The seconds a minute's counts are kept in (one slot a second, ``second % SLOTS``).
SLOTS = 60


def _ring() -> list[int]:
    return [0] * SLOTS


@dataclass
class Window:
    """What a key used lately: the counts its limits are checked against."""

    #: Requests admitted in each second of the last minute (slot ``second % 60``).
    requests: list[int] = field(default_factory=_ring)
    #: Tokens used in each second of the last minute (slot ``second % 60``).
    tokens: list[int] = field(default_factory=_ring)
    #: The last second the two rings count (older slots were emptied as time passed).
    second: int = 0
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


def encode_record(record: ClientRecord) -> bytes:
    """A record as JSON, for a shared store (written by hand: ``asdict`` deep-copies)."""
    return orjson.dumps(
        {
            "name": record.name,
            "prefix": record.prefix,
            "digest": record.digest,
            "limits": record.limits.__dict__,
            "created": record.created,
            "expires": record.expires,
            "revoked": record.revoked,
        }
    )


def decode_record(raw: str | bytes) -> ClientRecord:
    """A record from its JSON (or from an entry's, as files written before the window had a
    place of its own kept it)."""
    data: dict[str, Any] = orjson.loads(raw)
    data = data.get("record", data)
    limits: dict[str, Any] = data.pop("limits")
    for name in ("models", "groups", "providers"):
        limits[name] = tuple(limits.get(name) or ())
    limits["period"] = Period(limits.get("period") or Period.MONTH)
    return ClientRecord(**data, limits=Limits(**limits))


def encode_window(window: Window) -> bytes:
    """A window as JSON."""
    return orjson.dumps(window.__dict__)


def decode_window(raw: str | bytes | None) -> Window:
    """A window from its JSON (an empty one from nothing or ``{}``; an old entry's whole
    JSON, or counts kept by second, read into the rings)."""
    data: dict[str, Any] = orjson.loads(raw) if raw else {}
    if "record" in data:
        data = data.get("window") or {}
    requests, tokens = data.get("requests"), data.get("tokens")
    if isinstance(requests, dict) or isinstance(tokens, dict):
        data.update(_rings(requests or {}, tokens or {}))
    data["held"] = dict(data.get("held") or {})
    return Window(**data)


def _rings(requests: dict[str, int], tokens: dict[str, int]) -> dict[str, Any]:
    """Counts kept by second (before the rings) as rings."""
    last = max((int(s) for s in (*requests, *tokens)), default=0)
    rings: dict[str, list[int]] = {"requests": _ring(), "tokens": _ring()}
    for name, counts in (("requests", requests), ("tokens", tokens)):
        for second, count in counts.items():
            if int(second) > last - SLOTS:
                rings[name][int(second) % SLOTS] += int(count)
    return {**rings, "second": last}


def encode_entry(entry: ClientEntry) -> bytes:
    """An entry (record and window) as JSON."""
    return b'{"record":%s,"window":%s}' % (encode_record(entry.record), encode_window(entry.window))


def decode_entry(raw: str | bytes) -> ClientEntry:
    """An entry from its JSON."""
    return ClientEntry(decode_record(raw), decode_window(raw))


class RecordCache:
    """Records decoded once per JSON text (a record changes only when the operator edits
    it, so most reads of a store find the text they decoded last time)."""

    #: Most texts kept; past it the cache starts again (records are few, edits rare).
    MAX = 4096

    def __init__(self) -> None:
        self._decoded: dict[str | bytes, ClientRecord] = {}

    def decode(self, raw: str | bytes) -> ClientRecord:
        """The record ``raw`` holds."""
        found = self._decoded.get(raw)
        if found is None:
            if len(self._decoded) >= self.MAX:
                self._decoded.clear()
            found = self._decoded[raw] = decode_record(raw)
        return found
