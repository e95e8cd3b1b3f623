"""Client keys and their usage in Redis, for every worker of every host.

A key's record and its window are two string keys (JSON). Admission (finding the key by
its prefix, checking its hash, its limits and its budget, counting it and holding its
reservation) and settlement are each one Lua script run inside Redis (``clientscripts``):
one round trip, atomic across every worker of every host, never retried. The operator's
edits are a compare-and-set of the record alone. While Redis is away, this process's
copy of what it last read stands in.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from functools import partial
from typing import Any

import redis

from providers.clients.records import (
    ClientEntry,
    RecordCache,
    decode_window,
    encode_record,
    encode_window,
)
from providers.clients.window import Ask, Refusal, Verdict, period_bounds
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

from . import clientscripts
from .link import PREFIX, RedisLink

NAMES = PREFIX + "clients"
#: An edit retried this often under contention before it gives up as unavailable.
MAX_SWAPS = 64


def entry_key(name: str) -> str:
    """The Redis key of a client key's record."""
    return f"{PREFIX}client:{name}"


def window_key(name: str) -> str:
    """The Redis key of a client key's window."""
    return f"{PREFIX}client-window:{name}"


def prefix_key(prefix: str) -> str:
    """The Redis key that names the entry of a key prefix."""
    return f"{PREFIX}client-prefix:{prefix}"


class RedisClients:
    """Client records and windows in Redis; admission and settlement are one script call
    each (``clientscripts``)."""

    clock: Callable[[], float] | None = staticmethod(time.time)

    def __init__(self, link: RedisLink) -> None:
        self.link = link
        self.standby = link.standby
        self._local = InMemoryClients()
        self._records = RecordCache()
        self._lookup = link.script(clientscripts.LOOKUP)
        self._create = link.script(clientscripts.CREATE)
        self._swap = link.script(clientscripts.SWAP)
        self._admit = link.script(clientscripts.ADMIT)
        self._settle = link.script(clientscripts.SETTLE)
        self._split = link.script(clientscripts.SPLIT)
        self._split_done = False

    def lookup(self, prefix: str) -> ClientEntry | None:
        """The entry whose key starts with ``prefix`` (the last one read, while away)."""

        def shared() -> ClientEntry | None:
            self._split_old()
            keys, args = [prefix_key(prefix)], [entry_key(""), window_key("")]
            found = self.link.call(lambda r: self._lookup(keys=keys, args=args, client=r))
            if not found:
                return None
            return self._kept(ClientEntry(self._records.decode(found[0]), decode_window(found[1])))

        return self.standby.run(shared, lambda: self._local.lookup_away(prefix))

    def entries(self) -> list[ClientEntry]:
        """Every entry, by name."""

        def shared() -> list[ClientEntry]:
            self._split_old()

            def read(r: redis.Redis) -> list[Any]:
                names = sorted(_text(n) for n in r.smembers(NAMES))
                if not names:
                    return []
                return list(zip(r.mget([entry_key(n) for n in names]),
                                r.mget([window_key(n) for n in names]), strict=True))  # fmt: skip

            return [
                self._kept(ClientEntry(self._records.decode(raw), decode_window(win)))
                for raw, win in self.link.call(read)
                if raw
            ]

        return self.standby.run(shared, self._local.entries)

    def create(self, entry: ClientEntry) -> bool:
        """Add ``entry``; False when its name is taken (``StateUnavailable`` if away)."""
        name = entry.record.name
        keys = [entry_key(name), prefix_key(entry.record.prefix), NAMES, window_key(name)]
        args = [encode_record(entry.record), name, encode_window(entry.window)]
        return bool(self.link.call(lambda r: self._create(keys=keys, args=args, client=r)))

    def edit(self, name: str, fn: Callable[[ClientEntry], ClientEntry]) -> ClientEntry | None:
        """Replace the record ``name`` by ``fn``'s result's, as a compare-and-set of the
        record read (``StateUnavailable`` if away)."""
        self._split_old()
        key = entry_key(name)
        raw, win = self.link.call(lambda r: r.mget([key, window_key(name)]))
        for _ in range(MAX_SWAPS):
            if not raw:
                return None
            entry = ClientEntry(self._records.decode(raw), decode_window(win))
            changed = fn(entry)
            moved = changed.record.prefix if changed.record.prefix != entry.record.prefix else ""
            keys = [key, prefix_key(entry.record.prefix), prefix_key(moved or "-")]
            args = [raw, encode_record(changed.record), moved, name]
            answer = self.link.call(partial(self._swapped, keys, args))
            if answer == 1:
                self._local.keep(changed)
                return changed
            raw = answer if isinstance(answer, bytes) else None
        raise StateUnavailable(f"client key {name!r} changed too often to be changed now")

    def admit(self, prefix: str, digest: str, ask: Ask, now: float) -> Verdict:
        """Find, check and count the key in one script call (one round trip)."""

        def shared() -> Verdict:
            keys = [prefix_key(prefix)]
            args = [entry_key(""), window_key(""), digest, secrets.token_hex(8), repr(now),
                    ask.hold, repr(ask.reserve), repr(ask.lease),
                    *map(repr, period_bounds(now))]  # fmt: skip
            found = self.link.call(lambda r: self._admit(keys=keys, args=args, client=r))
            if found[0] == 0:
                return Verdict(Refusal.UNKNOWN)
            record = self._records.decode(found[1])
            self._local.keep(record, found[4])
            entry = ClientEntry(record)
            if not found[2]:
                return Verdict(None, None, entry)
            return Verdict(Refusal(_text(found[2])), float(found[3]) if found[3] else None, entry)

        return self.standby.run(shared, lambda: self._local.admit_away(prefix, digest, ask, now))

    def settle(self, name: str, hold: str, tokens: int, cost: float, now: float) -> None:
        """Release ``hold`` and count its request's use in one script call."""

        def shared() -> None:
            keys = [entry_key(name), window_key(name)]
            args = [hold, str(tokens), repr(cost), repr(now), *map(repr, period_bounds(now))]
            self.link.call(lambda r: self._settle(keys=keys, args=args, client=r))

        self.standby.run(shared, lambda: self._local.settle(name, hold, tokens, cost, now))

    def _split_old(self) -> None:
        """Entries written before the window had a key of its own are split, once."""
        if self._split_done:
            return

        def split(r: redis.Redis) -> None:
            for name in (_text(n) for n in r.smembers(NAMES)):
                self._split(keys=[entry_key(name), window_key(name)], client=r)

        self.link.call(split)
        self._split_done = True

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
