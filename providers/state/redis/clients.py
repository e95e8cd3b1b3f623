"""Client keys and their usage in Redis, for every worker of every host.

An entry is one string key (JSON). A change (admission, settlement) is a compare-and-set
in one script call: the new entry is written only if the entry is still the one it was
computed from, else the script answers the entry as it is now and the change is computed
again. So two hosts never both take the last request of a minute or the last dollar of a
budget, and a change made from the entry just read (the request's own lookup) is one
round trip. While Redis is away, this process's copy of what it last read stands in.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from functools import partial
from typing import Any, TypeVar

import redis

from providers.clients.records import ClientEntry, decode_entry, encode_entry
from providers.state.clientusage import BatchedClientUsage
from providers.state.contract import StateUnavailable
from providers.state.memory.clients import InMemoryClients
from providers.state.records import (
    CLIENT_USAGE_COLUMNS,
    SECONDS_PER_DAY,
    ClientUsageRow,
    client_usage_row,
    utc_day,
)
from providers.state.usagebatch import Pending

from .link import PREFIX, RedisLink

T = TypeVar("T")
NAMES = PREFIX + "clients"
_LOOKUP = """
local name = redis.call('GET', KEYS[1])
if not name then return false end
return redis.call('GET', ARGV[1] .. name)
"""
_SWAP = """
local now = redis.call('GET', KEYS[1])
if not now then return 0 end
if now ~= ARGV[1] then return now end
redis.call('SET', KEYS[1], ARGV[2])
if ARGV[3] ~= '' then
  redis.call('DEL', KEYS[2])
  redis.call('SET', KEYS[3], ARGV[4])
end
return 1
"""
#: A change retried this often under contention before it gives up as unavailable.
MAX_SWAPS = 64
_CREATE = """
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('SET', KEYS[1], ARGV[1])
redis.call('SET', KEYS[2], ARGV[2])
redis.call('SADD', KEYS[3], ARGV[2])
return 1
"""


def entry_key(name: str) -> str:
    """The Redis key of a client entry."""
    return f"{PREFIX}client:{name}"


def prefix_key(prefix: str) -> str:
    """The Redis key that names the entry of a key prefix."""
    return f"{PREFIX}client-prefix:{prefix}"


class RedisClients:
    """Client entries in Redis."""

    clock: Callable[[], float] | None = staticmethod(time.time)

    def __init__(self, link: RedisLink) -> None:
        self.link = link
        self.standby = link.standby
        self._local = InMemoryClients()
        self._lookup = link.script(_LOOKUP)
        self._create = link.script(_CREATE)
        self._swap = link.script(_SWAP)
        #: The JSON of each entry as this process last read or wrote it (a change starts
        #: from it, so that it needs no read first).
        self._seen: dict[str, bytes] = {}

    def lookup(self, prefix: str) -> ClientEntry | None:
        """The entry whose key starts with ``prefix`` (the last one read, while away)."""

        def shared() -> ClientEntry | None:
            keys, args = [prefix_key(prefix)], [entry_key("")]
            raw = self.link.call(lambda r: self._lookup(keys=keys, args=args, client=r))
            if not raw:
                return None
            entry = self._kept(decode_entry(raw))
            self._seen[entry.record.name] = raw
            return entry

        return self.standby.run(shared, lambda: self._local.lookup(prefix))

    def entries(self) -> list[ClientEntry]:
        """Every entry, by name."""

        def shared() -> list[ClientEntry]:
            def read(r: redis.Redis) -> list[Any]:
                names = sorted(_text(n) for n in r.smembers(NAMES))
                return r.mget([entry_key(n) for n in names]) if names else []

            return [self._kept(decode_entry(raw)) for raw in self.link.call(read) if raw]

        return self.standby.run(shared, self._local.entries)

    def create(self, entry: ClientEntry) -> bool:
        """Add ``entry``; False when its name is taken (``StateUnavailable`` if away)."""
        name = entry.record.name
        keys = [entry_key(name), prefix_key(entry.record.prefix), NAMES]
        args = [encode_entry(entry), name]
        return bool(self.link.call(lambda r: self._create(keys=keys, args=args, client=r)))

    def edit(self, name: str, fn: Callable[[ClientEntry], ClientEntry]) -> ClientEntry | None:
        """Replace the entry ``name`` by ``fn``'s result (``StateUnavailable`` if away)."""
        return self._change(name, lambda entry: (changed := fn(entry), changed))

    def change(self, name: str, fn: Callable[[ClientEntry], tuple[ClientEntry, T]]) -> T | None:
        """Replace the entry by ``fn``'s first result atomically; its second."""
        return self.standby.run(
            lambda: self._change(name, fn), lambda: self._local.change(name, fn)
        )

    def _change(self, name: str, fn: Callable[[ClientEntry], tuple[ClientEntry, T]]) -> T | None:
        key = entry_key(name)
        raw = self._seen.get(name) or self.link.call(lambda r: r.get(key))
        for _ in range(MAX_SWAPS):
            if not raw:
                self._seen.pop(name, None)
                return None
            entry = decode_entry(raw)
            changed, result = fn(entry)
            new = encode_entry(changed).encode()
            moved = changed.record.prefix if changed.record.prefix != entry.record.prefix else ""
            keys = [key, prefix_key(entry.record.prefix), prefix_key(moved or "-")]
            args = [raw, new, moved, name]
            answer = self.link.call(partial(self._swapped, keys, args))
            if answer == 1:
                self._seen[name] = new
                self._local.keep(changed)
                return result
            raw = answer if isinstance(answer, bytes) else None
        raise StateUnavailable(f"client key {name!r} changed too often to be changed now")

    def _swapped(self, keys: list[str], args: list[Any], client: redis.Redis) -> Any:
        return self._swap(keys=keys, args=args, client=client)

    def _kept(self, entry: ClientEntry) -> ClientEntry:
        self._local.keep(entry)
        return entry


class RedisClientUsage(BatchedClientUsage):
    """Usage per client key: one hash per UTC day, expiring after retention."""

    def __init__(self, link: RedisLink, *, retention_days: int = 90) -> None:
        self.link = link
        super().__init__(retention_days, link.standby)

    def _store_batch(self, pending: Pending, now: float) -> None:
        ttl = (self._retention + 1) * SECONDS_PER_DAY

        def write(r: redis.Redis) -> Any:
            with r.pipeline(transaction=True) as pipe:
                for (day, *parts), values in pending.items():
                    for column, value in zip(CLIENT_USAGE_COLUMNS, values, strict=True):
                        if value:
                            pipe.hincrby(_day_key(day), "\x1f".join((*parts, column)), value)
                    pipe.expire(_day_key(day), ttl)
                return pipe.execute()

        self.link.call(write)

    def _read(self, oldest: str, now: float) -> list[ClientUsageRow]:
        days = [utc_day(now - back * SECONDS_PER_DAY) for back in range(self._retention)]
        wanted = [d for d in days if d >= oldest]

        def read(r: redis.Redis) -> list[Any]:
            with r.pipeline(transaction=False) as pipe:
                for day in wanted:
                    pipe.hgetall(_day_key(day))
                return pipe.execute()

        found: dict[tuple[str, str, str, str], dict[str, int]] = {}
        for day, fields in zip(wanted, self.link.call(read), strict=True):
            for field, value in fields.items():
                client, provider, key, column = field.decode().split("\x1f")
                found.setdefault((day, client, provider, key), {})[column] = int(value)
        return [
            client_usage_row(c, p, k, d, [cols.get(n, 0) for n in CLIENT_USAGE_COLUMNS])
            for (d, c, p, k), cols in found.items()
        ]


def _text(raw: bytes | str) -> str:
    return raw.decode() if isinstance(raw, bytes) else raw


def _day_key(day: str) -> str:
    return f"{PREFIX}client-usage:{day}"
