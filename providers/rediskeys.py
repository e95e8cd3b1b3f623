"""Key state in Redis: one truth for every worker of every host that points at it.

Per pool, four hashes (blocked until, reason, strikes, last used) and a sorted set of
leases (``key|owner``, scored by when the lease expires). Choosing and reserving a
key is one Lua script, so it is one round trip and atomic across the fleet. A worker
renews its leases every ``RENEW_SECONDS``; the leases of a worker that died expire
after ``LEASE_SECONDS``. Times are wall-clock: the fleet's clocks must agree (NTP).
"""

from __future__ import annotations

import itertools
import os
import socket
import time
from collections.abc import Callable, Collection, Sequence
from contextlib import suppress
from typing import Any

import redis

from .alarm import ALARM
from .keystore import USABLE, BlockSource, KeyState, StateUnavailable
from .leases import CountsFromSnapshot, HeldLeases
from .redislink import PREFIX, RedisLink

#: A lease not renewed for this long no longer counts (its worker died).
LEASE_SECONDS = 30.0
#: How often a worker renews the leases it holds.
RENEW_SECONDS = 10.0

# ARGV: now, cap (-1: none), lease name, lease expiry, then per key "+" (usable) or "-"
# (excluded), this worker's own count of it (used without a cap), ":", the key.
_ACQUIRE = """
local now = tonumber(ARGV[1])
local cap = tonumber(ARGV[2])
local busy, ids, mine, wanted = {}, {}, {}, {}
if cap >= 0 then
  redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', now)
  for _, member in ipairs(redis.call('ZRANGE', KEYS[3], 0, -1)) do
    local k = string.match(member, '^([^|]*)|')
    busy[k] = (busy[k] or 0) + 1
  end
end
for i = 5, #ARGV do
  local flag, own, k = string.match(ARGV[i], '^(.)(%d+):(.*)$')
  ids[#ids + 1], mine[#ids + 1], wanted[#ids + 1] = k, tonumber(own), flag == '+'
end
local function hmget(hash)  -- in parts: unpack() of thousands of ids overflows Lua's stack
  local found = {}
  for first = 1, #ids, 1000 do
    local part = redis.call('HMGET', hash, unpack(ids, first, math.min(first + 999, #ids)))
    for j = 1, #part do found[first + j - 1] = part[j] end
  end
  return found
end
local blocked, used = hmget(KEYS[1]), hmget(KEYS[2])
local best, bb, bu
for i, k in ipairs(ids) do
  if wanted[i] and tonumber(blocked[i] or '0') <= now then
    local b, u = (cap >= 0 and (busy[k] or 0)) or mine[i], tonumber(used[i] or '0')
    if best == nil or b < bb or (b == bb and u < bu) then best, bb, bu = k, b, u end
  end
end
if best == nil or (cap >= 0 and bb >= cap) then return false end
if cap >= 0 then redis.call('ZADD', KEYS[3], ARGV[4], best .. '|' .. ARGV[3]) end
redis.call('HSET', KEYS[2], best, ARGV[1])
return {best, redis.call('HGET', KEYS[4], best) or '0'}
"""

_BLOCK = """
local now, untl = tonumber(ARGV[2]), tonumber(ARGV[3])
local current = tonumber(redis.call('HGET', KEYS[1], ARGV[1]) or '0')
if not (current > now and current >= untl) then
  redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
  redis.call('HSET', KEYS[2], ARGV[1], ARGV[4])
  redis.call('HSET', KEYS[4], ARGV[1], ARGV[6])
end
if ARGV[5] == '1' then redis.call('HINCRBY', KEYS[3], ARGV[1], 1) end
return 1
"""


def _keys(pool: str) -> tuple[str, str, str, str, str, str]:
    base = f"{PREFIX}keys:{pool}:"
    return (
        base + "blocked",
        base + "used",
        base + "leases",
        base + "strikes",
        base + "reason",
        base + "source",
    )


class RedisKeyStore(CountsFromSnapshot):
    """``KeyStore`` in Redis (raises ``StateUnavailable``; ``FallbackKeyStore`` stands in)."""

    #: Shared stores keep wall-clock times (``KeyPool`` reads its clock from here).
    clock: Callable[[], float] = staticmethod(time.time)

    def __init__(self, link: RedisLink) -> None:
        self.link = link
        self._acquire = link.script(_ACQUIRE)
        self._block = link.script(_BLOCK)
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
        blocked, used, leases, strikes, *_ = _keys(pool)
        if self._owner_pid != os.getpid():  # a forked worker names its own leases
            self._owner, self._owner_pid = f"{socket.gethostname()}:{os.getpid()}", os.getpid()
        lease = f"{self._owner}:{next(self._serial)}"
        cap = -1 if max_in_flight is None else max_in_flight
        mine = self._held.local_busy(pool, key_ids) if max_in_flight is None else {}
        args = [now, cap, lease, now + LEASE_SECONDS]
        args += [f"{'-' if k in exclude else '+'}{mine.get(k, 0)}:{k}" for k in key_ids]
        found = self.link.call(
            lambda r: self._acquire(keys=[blocked, used, leases, strikes], args=args, client=r)
        )
        if not found:
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
            self.link.call(lambda r: r.zrem(_keys(pool)[2], member))

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
        blocked, _, _, strikes, reasons, sources = _keys(pool)
        args = [key_id, now, until, reason, int(strike), source]
        self._no_strikes.discard((pool, key_id))
        names = [blocked, reasons, strikes, sources]
        self.link.call(lambda r: self._block(keys=names, args=args, client=r))

    def succeeded(self, pool: str, key_id: str) -> None:
        """Clear the rate-limit strikes of a key that just worked (nothing sent if it has none)."""
        if (pool, key_id) in self._no_strikes:
            return
        self.link.call(lambda r: r.hdel(_keys(pool)[3], key_id))
        self._no_strikes.add((pool, key_id))

    def unblock(self, pool: str, key_id: str) -> None:
        """Lift a key's block and strikes, for the whole fleet."""
        blocked, _, _, strikes, reasons, sources = _keys(pool)

        def lift(r: redis.Redis) -> Any:
            with r.pipeline(transaction=True) as pipe:
                for name in (blocked, strikes, reasons, sources):
                    pipe.hdel(name, key_id)
                return pipe.execute()

        self.link.call(lift)

    def snapshot(self, pool: str, key_ids: Sequence[str]) -> dict[str, KeyState]:
        """Return the state of each key (one round trip)."""
        blocked, used, leases, strikes, reasons, sources = _keys(pool)
        ids = list(key_ids)

        def read(r: redis.Redis) -> list[Any]:
            with r.pipeline(transaction=False) as pipe:
                for name in (blocked, used, strikes, reasons, sources):
                    pipe.hmget(name, ids)
                pipe.zrangebyscore(leases, time.time(), "+inf")
                return pipe.execute()

        until, last, strike, why, came, live = self.link.call(read)
        busy = self._held.local_busy(pool, ids)
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
                    pipe.zadd(_keys(pool)[2], {member: expiry}, xx=True)
                return pipe.execute()

        with suppress(StateUnavailable):  # tried again in RENEW_SECONDS
            self.link.call(renew)
