"""Key state in Redis: one truth for every worker of every host that points at it.

What is kept per pool is in ``redisscripts``. Choosing and reserving a key is one Lua
script, so it is one round trip and atomic across the fleet; it reads the least recently
used keys first and stops at the first free one. A worker renews its leases every
``RENEW_SECONDS``; the leases of a worker that died expire after ``LEASE_SECONDS``.
Times are wall-clock: the fleet's clocks must agree (NTP).
"""

from __future__ import annotations

import itertools
import os
import socket
import time
from collections.abc import Callable, Collection, Sequence
from typing import Any

import redis

from providers.alarm import ALARM
from providers.state.leases import HeldLeases
from providers.state.mirror import Mirror
from providers.state.records import COOLING, DISABLED, EXHAUSTED, USABLE, BlockSource, KeyState

from .link import RedisLink
from .scripts import ACQUIRE, BLOCK, BLOCKED, INTRODUCE, blocks_key, pool_keys, turns_key

#: A lease not renewed for this long no longer counts (its worker died).
LEASE_SECONDS = 30.0
#: How often a worker renews the leases it holds.
RENEW_SECONDS = 10.0
#: A worker reads a pool's blocked keys (to count usable keys) at most this often; its own
#: blocks and lifts are seen at once, and choosing a key always reads Redis.
BLOCKED_MIRROR_SECONDS = 0.5


class RedisKeyStore:
    """``KeyStore`` in Redis (raises ``StateUnavailable``; ``FallbackKeyStore`` stands in)."""

    #: Shared stores keep wall-clock times (``KeyPool`` reads its clock from here).
    clock: Callable[[], float] | None = staticmethod(time.time)
    on_latency: Callable[[float], None] | None = None

    def __init__(self, link: RedisLink) -> None:
        self.link = link
        self.standby = link.standby
        self._acquire = link.script(ACQUIRE)
        self._block = link.script(BLOCK)
        self._introduce = link.script(INTRODUCE)
        self._blocked = link.script(BLOCKED)
        #: Each pool's turn set and key list as this process introduced them.
        self._turns: dict[str, tuple[Sequence[str], str, frozenset[str]]] = {}
        self._blocked_now_mirror: Mirror[list[tuple[str, str, float]]] = Mirror(
            BLOCKED_MIRROR_SECONDS
        )
        self._owner, self._owner_pid = f"{socket.gethostname()}:{os.getpid()}", os.getpid()
        self._serial = itertools.count()
        #: The keys this process holds (leases as ``key|owner:serial`` members).
        self._held: HeldLeases[str] = HeldLeases()
        #: Keys known to have no strikes (then a success writes nothing).
        self._no_strikes: set[tuple[str, str]] = set()
        self._renewing = 0  # the pid whose renewal is scheduled

    def acquire(
        self,
        pool: str,
        key_ids: Sequence[str],
        *,
        exclude: Collection[str],
        max_in_flight: int | None,
        now: float,
    ) -> str | None:
        """Reserve the least busy, least recently used usable key (one round trip), or None."""
        blocked, used, leases, strikes, *_ = pool_keys(pool)
        if self._owner_pid != os.getpid():  # a forked worker names its own leases
            self._owner, self._owner_pid = f"{socket.gethostname()}:{os.getpid()}", os.getpid()
        lease = f"{self._owner}:{next(self._serial)}"
        cap = -1 if max_in_flight is None else max_in_flight
        out = list(exclude)
        args: list[Any] = [now, cap, lease, now + LEASE_SECONDS, len(out), *out]
        if max_in_flight is None:
            for key, count in self._held.local_busy_in(pool).items():
                args += [key, count]
        turns = self._ensure(pool, key_ids)
        names = [blocked, used, leases, strikes, turns]
        found = self.link.call(lambda r: self._acquire(keys=names, args=args, client=r))
        if found == -1:  # Redis lost the turn set (flushed, restarted empty, expired)
            self._ensure(pool, key_ids, again=True)
            found = self.link.call(lambda r: self._acquire(keys=names, args=args, client=r))
        if not found or found == -1:
            return None
        key = str(found[0].decode())
        self._held.hold(pool, key, None if max_in_flight is None else f"{key}|{lease}")
        if found[1] in (b"0", 0):
            self._no_strikes.add((pool, key))
        else:
            self._no_strikes.discard((pool, key))
        if max_in_flight is not None:
            self._schedule_renewal()
        return key

    def release(self, pool: str, key_id: str) -> None:
        """Give back one hold of ``key_id`` by this process (a round trip only for a lease;
        if Redis is away, the lease expires)."""
        member = self._held.give_back(pool, key_id)
        if member is not None:
            self.link.call(lambda r: r.zrem(pool_keys(pool)[2], member))

    def block(
        self,
        pool: str,
        key_id: str,
        *,
        until: float,
        reason: str,
        strike: bool,
        now: float,
        source: str = BlockSource.DEFAULT,
    ) -> None:
        """Block a key until ``until``; an existing later block is never shortened."""
        blocked, _, _, strikes, reasons, sources = pool_keys(pool)
        args = [key_id, now, until, reason, int(strike), source]
        self._no_strikes.discard((pool, key_id))
        names = [blocked, reasons, strikes, sources, blocks_key(pool)]
        self.link.call(lambda r: self._block(keys=names, args=args, client=r))
        self._blocked_now_mirror.drop(pool)  # this worker sees its own block at once

    def succeeded(self, pool: str, key_id: str) -> None:
        """Clear the rate-limit strikes of a key that just worked (nothing sent if it has none)."""
        if (pool, key_id) in self._no_strikes:
            return
        self.link.call(lambda r: r.hdel(pool_keys(pool)[3], key_id))
        self._no_strikes.add((pool, key_id))

    def unblock(self, pool: str, key_id: str) -> None:
        """Lift a key's block and strikes, for the whole fleet."""
        blocked, _, _, strikes, reasons, sources = pool_keys(pool)

        def lift(r: redis.Redis) -> Any:
            with r.pipeline(transaction=True) as pipe:
                for name in (blocked, strikes, reasons, sources):
                    pipe.hdel(name, key_id)
                pipe.zrem(blocks_key(pool), key_id)
                return pipe.execute()

        self.link.call(lift)
        self._blocked_now_mirror.drop(pool)

    def _ensure(self, pool: str, key_ids: Sequence[str], *, again: bool = False) -> str:
        """The pool's turn set in Redis (written once per process, key list, or loss)."""
        known = self._turns.get(pool)
        if known is not None and not again and (known[0] is key_ids or known[0] == key_ids):
            return known[1]
        turns, members = turns_key(pool, key_ids)
        blocked, used, *_ = pool_keys(pool)
        names = [turns, used, blocked, blocks_key(pool)]
        args = [time.time(), *members]
        self.link.call(lambda r: self._introduce(keys=names, args=args, client=r))
        self._turns[pool] = (key_ids, turns, frozenset(key_ids))
        return turns

    def counts(self, pool: str, key_ids: Sequence[str], now: float) -> dict[str, int]:
        """Count keys by status: the blocked ones are read, not every key."""
        counts: dict[str, int] = dict.fromkeys((USABLE, COOLING, DISABLED, EXHAUSTED), 0)
        for _, reason, _ in self._blocked_now(pool, key_ids, now):
            counts[reason] = counts.get(reason, 0) + 1
        counts[USABLE] = len(key_ids) - sum(n for r, n in counts.items() if r != USABLE)
        return counts

    def next_available(self, pool: str, key_ids: Sequence[str], now: float) -> float | None:
        """When the first blocked key becomes usable, or None if none is blocked."""
        return min((until for *_, until in self._blocked_now(pool, key_ids, now)), default=None)

    def _blocked_now(
        self, pool: str, key_ids: Sequence[str], now: float
    ) -> list[tuple[str, str, float]]:
        """(key, reason, until) of this key list's keys blocked after ``now``."""
        self._ensure(pool, key_ids)
        wanted = self._turns[pool][2]
        names = [blocks_key(pool), pool_keys(pool)[4]]

        def read() -> list[tuple[str, str, float]]:
            flat = self.link.call(lambda r: self._blocked(keys=names, args=[now], client=r))
            return [
                (flat[i].decode(), flat[i + 1].decode(), float(flat[i + 2]))
                for i in range(0, len(flat), 3)
            ]

        found = self._blocked_now_mirror.get(pool, read)
        return [entry for entry in found if entry[0] in wanted and entry[2] > now]

    def snapshot(self, pool: str, key_ids: Sequence[str]) -> dict[str, KeyState]:
        """Return the state of each key (one round trip)."""
        blocked, used, leases, strikes, reasons, sources = pool_keys(pool)
        ids = list(key_ids)

        def read(r: redis.Redis) -> list[Any]:
            with r.pipeline(transaction=False) as pipe:
                for name in (blocked, used, strikes, reasons, sources):
                    pipe.hmget(name, ids)
                pipe.zrangebyscore(leases, time.time(), "+inf")
                return pipe.execute()

        until, last, strike, why, came, live = self.link.call(read)
        busy = self._held.local_busy_in(pool)
        for member in live:
            key = member.decode().split("|", 1)[0]
            busy[key] = busy.get(key, 0) + 1
        return {
            k: KeyState(
                in_flight=busy.get(k, 0),
                last_used=float(last[i] or 0),
                blocked_until=float(until[i] or 0),
                reason=(why[i] or USABLE.encode()).decode(),
                strikes=int(strike[i] or 0),
                source=(came[i] or b"").decode(),
            )
            for i, k in enumerate(ids)
        }

    def _schedule_renewal(self) -> None:
        if self._renewing != os.getpid():
            self._renewing = os.getpid()
            ALARM.after(RENEW_SECONDS, self._renew)

    def _renew(self) -> None:
        """Push the expiry of every lease this process holds (best effort)."""
        ALARM.after(RENEW_SECONDS, self._renew)
        held = self._held.shared()
        if not held or not self.link.up:
            return
        expiry = time.time() + LEASE_SECONDS

        def renew(r: redis.Redis) -> Any:
            with r.pipeline(transaction=False) as pipe:
                for pool, member in held:
                    pipe.zadd(pool_keys(pool)[2], {member: expiry}, xx=True)
                return pipe.execute()

        self.standby.attempt(lambda: self.link.call(renew))  # tried again in RENEW_SECONDS
