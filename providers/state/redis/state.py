"""Circuits, 404 marks and usage in Redis, shared by every worker of every host.

Each falls back to this process's own state while Redis is away (``StateUnavailable``)
and reads Redis again once it answers. Circuit and mark reads are mirrored for a
moment per worker (a change made elsewhere reaches it within ``MIRROR_SECONDS``; its
own changes at once); key blocks, by contrast, are read on every choice of key.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, TypeVar

import redis

from providers.state.contract import MAX_MISSING
from providers.state.memory.circuits import InMemoryCircuits
from providers.state.memory.marks import InMemoryMarks
from providers.state.memory.recent import MAX_RECENT
from providers.state.mirror import Mirror
from providers.state.recent import BatchedRecent
from providers.state.records import (
    AT_REST,
    SECONDS_PER_DAY,
    CircuitRecord,
    UsageRow,
    decode_record,
    encode_record,
    utc_day,
)
from providers.state.usagebatch import BatchedUsage, Pending

from .link import PREFIX, RedisLink

T = TypeVar("T")
#: A worker reads a circuit or a provider's marks from Redis at most this often.
MIRROR_SECONDS = 0.5
#: A circuit record nobody touched for this long is dropped by Redis.
CIRCUIT_TTL = 86400
_FIELDS = ("requests", "succeeded", "failed", "prompt_tokens", "completion_tokens",
           "total_tokens", "cached_tokens")  # fmt: skip

_MARK = """
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
local limit = tonumber(ARGV[4])
if redis.call('HLEN', KEYS[1]) <= limit then return 0 end
local flat, live = redis.call('HGETALL', KEYS[1]), {}
for i = 1, #flat, 2 do
  if tonumber(flat[i + 1]) <= tonumber(ARGV[3]) then redis.call('HDEL', KEYS[1], flat[i])
  else live[#live + 1] = {flat[i], tonumber(flat[i + 1])} end
end
table.sort(live, function(a, b) return a[2] < b[2] end)
for i = 1, #live - limit do redis.call('HDEL', KEYS[1], live[i][1]) end
return 1
"""


class RedisCircuits:
    """Circuit records in Redis; ``change`` is an optimistic transaction (WATCH)."""

    clock: Callable[[], float] | None = staticmethod(time.time)

    def __init__(self, link: RedisLink) -> None:
        self.link = link
        self.standby = link.standby
        self._local = InMemoryCircuits()
        self._mirror: Mirror[CircuitRecord] = Mirror(MIRROR_SECONDS)

    def read(self, name: str) -> CircuitRecord:
        """The record of circuit ``name`` (this process's own while Redis is away)."""

        def read() -> CircuitRecord:
            raw = self.link.call(lambda r: r.get(PREFIX + "circuit:" + name))
            return decode_record(raw) if raw else AT_REST

        return self.standby.run(
            lambda: self._mirror.get(name, read), lambda: self._local.read(name)
        )

    def change(self, name: str, fn: Callable[[CircuitRecord], tuple[CircuitRecord, T]]) -> T:
        """Replace the record by ``fn``'s first result atomically; return its second."""
        key = PREFIX + "circuit:" + name
        outcome: list[tuple[CircuitRecord, T]] = []

        def apply(pipe: Any) -> None:
            raw = pipe.get(key)
            outcome[:] = [fn(decode_record(raw) if raw else AT_REST)]
            pipe.multi()
            record = outcome[0][0]
            if record.at_rest:
                pipe.delete(key)
            else:
                pipe.set(key, encode_record(record), ex=CIRCUIT_TTL)

        if not self.standby.attempt(lambda: self.link.call(lambda r: r.transaction(apply, key))):
            return self._local.change(name, fn)
        record, result = outcome[0]
        self._mirror.put(name, record)
        return result

    def forget(self, name: str) -> None:
        """Drop the record of ``name``."""
        self._local.forget(name)
        self._mirror.drop(name)
        # If Redis does not take it, it expires with CIRCUIT_TTL.
        self.standby.attempt(lambda: self.link.call(lambda r: r.delete(PREFIX + "circuit:" + name)))


class RedisMarks:
    """404 marks in Redis, bounded per provider like the local ones."""

    clock: Callable[[], float] | None = staticmethod(time.time)

    def __init__(self, link: RedisLink) -> None:
        self.link = link
        self.standby = link.standby
        self._local = InMemoryMarks()
        self._script = link.script(_MARK)
        self._mirror: Mirror[dict[str, float]] = Mirror(MIRROR_SECONDS)

    def _marks_of(self, provider: str) -> dict[str, float]:
        def read() -> dict[str, float]:
            found = self.link.call(lambda r: r.hgetall(PREFIX + "marks:" + provider))
            return {_text(model): float(until) for model, until in found.items()}

        return self.standby.run(
            lambda: self._mirror.get(provider, read), lambda: self._local.of(provider)
        )

    def mark(self, provider: str, model: str, until: float, now: float) -> None:
        """``provider`` does not serve ``model`` until ``until``."""
        self._local.mark(provider, model, until, now)
        self._mirror.drop(provider)
        args = [model, until, now, MAX_MISSING]
        key = PREFIX + "marks:" + provider
        self.standby.attempt(
            lambda: self.link.call(lambda r: self._script(keys=[key], args=args, client=r))
        )

    def until(self, provider: str, model: str) -> float | None:
        """When ``provider`` may serve ``model`` again, if it was marked."""
        return self._marks_of(provider).get(model)

    def any_live(self, provider: str, now: float) -> bool:
        """True when some mark of ``provider`` has not expired."""
        return any(until > now for until in self._marks_of(provider).values())

    def count(self, provider: str) -> int:
        """How many marks of ``provider`` are kept."""
        return self.standby.run(
            lambda: int(self.link.call(lambda r: r.hlen(PREFIX + "marks:" + provider))),
            lambda: self._local.count(provider),
        )


class RedisUsage(BatchedUsage):
    """Usage per provider, key and UTC day: one hash per day, expiring after retention."""

    def __init__(self, link: RedisLink, *, retention_days: int = 90) -> None:
        self.link = link
        super().__init__(retention_days, link.standby)

    def _store_batch(self, pending: Pending, now: float) -> None:
        ttl = (self._retention + 1) * SECONDS_PER_DAY

        def write(r: redis.Redis) -> Any:
            with r.pipeline(transaction=True) as pipe:
                for (day, provider, key), values in pending.items():
                    for name, value in zip(_FIELDS, values, strict=True):
                        if value:
                            pipe.hincrby(_day_key(day), f"{provider}\x1f{key}\x1f{name}", value)
                    pipe.expire(_day_key(day), ttl)
                return pipe.execute()

        self.link.call(write)

    def rows(self, *, provider: str | None, days: int, now: float) -> list[UsageRow]:
        """The rows of the last ``days`` UTC days (today included), newest first."""
        self.flush()
        wanted = [utc_day(now - back * SECONDS_PER_DAY) for back in range(days)]

        def read(r: redis.Redis) -> list[Any]:
            with r.pipeline(transaction=False) as pipe:
                for day in wanted:
                    pipe.hgetall(_day_key(day))
                return pipe.execute()

        found: dict[tuple[str, str, str], dict[str, int]] = {}
        for day, fields in zip(wanted, self.link.call(read), strict=True):
            for field, value in fields.items():
                name, key, column = field.decode().split("\x1f")
                if provider is None or name == provider:
                    found.setdefault((day, name, key), {})[column] = int(value)
        rows = [UsageRow(name, key, day, **cols) for (day, name, key), cols in found.items()]
        return sorted(rows, key=lambda r: (r.date, r.provider, r.key), reverse=True)


def redis_recent(link: RedisLink) -> BatchedRecent:
    """The last requests of every worker of the fleet, in one Redis list."""
    key = PREFIX + "recent"

    def write(entries: list[str]) -> None:
        def push(r: redis.Redis) -> Any:
            with r.pipeline(transaction=True) as pipe:
                pipe.lpush(key, *entries)
                pipe.ltrim(key, 0, MAX_RECENT - 1)
                return pipe.execute()

        link.call(push)

    def read(count: int) -> list[str]:
        found = link.call(lambda r: r.lrange(key, 0, count - 1))
        return [_text(raw) for raw in found]

    return BatchedRecent(write, read, link.standby)


def _text(raw: bytes | str) -> str:
    return raw.decode() if isinstance(raw, bytes) else raw


def _day_key(day: str) -> str:
    return f"{PREFIX}usage:{day}"
