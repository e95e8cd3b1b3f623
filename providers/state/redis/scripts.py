"""The Lua scripts of the Redis key store (``rediskeys``): each one round trip, atomic.

Per pool: hashes of blocked-until, reason, strikes, source and last use by key; a sorted
set of leases (``key|owner`` by expiry); a sorted set of blocks (key by blocked-until), so
that counting usable keys reads the blocked ones only; and, per configured key list, a
sorted set of turns (``position|key`` by last use, position zero-padded so that ties go
to the first key), so that choosing a key reads the least recently used first and stops
at the first free one instead of reading every key.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

from providers.state.redis.link import PREFIX

#: A turn set no worker has touched for this long is dropped (a key list nobody uses).
TURNS_TTL = 7 * 86400

# KEYS: turns, last use, blocked-until, blocks. ARGV: now, then every "position|key".
INTRODUCE = f"""
for i = 2, #ARGV do
  local k = string.match(ARGV[i], '^%d+|(.*)$')
  redis.call('ZADD', KEYS[1], 'NX', tonumber(redis.call('HGET', KEYS[2], k) or '0'), ARGV[i])
  local untl = tonumber(redis.call('HGET', KEYS[3], k) or '0')
  if untl > tonumber(ARGV[1]) then redis.call('ZADD', KEYS[4], untl, k) end
end
redis.call('EXPIRE', KEYS[1], {TURNS_TTL})
return 1
"""

# KEYS: blocked-until, last use, leases, strikes, turns. ARGV: now, cap (-1: none), lease
# name, lease expiry, the number of excluded keys, those keys, then (key, count) pairs of
# the keys this worker holds (pools without a cap). -1 when the turn set is missing.
ACQUIRE = f"""
local now, cap, n = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[5])
if redis.call('EXISTS', KEYS[5]) == 0 then return -1 end
local excluded, busy = {{}}, {{}}
for i = 6, 5 + n do excluded[ARGV[i]] = true end
if cap >= 0 then
  redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', now)
  for _, member in ipairs(redis.call('ZRANGE', KEYS[3], 0, -1)) do
    local k = string.match(member, '^([^|]*)|')
    busy[k] = (busy[k] or 0) + 1
  end
else
  for i = 6 + n, #ARGV, 2 do busy[ARGV[i]] = tonumber(ARGV[i + 1]) end
end
local best, bb, bm, start = nil, -1, nil, 0
while bb ~= 0 do
  local page = redis.call('ZRANGE', KEYS[5], start, start + 63)
  if #page == 0 then break end
  for _, member in ipairs(page) do
    local k = string.match(member, '^%d+|(.*)$')
    if not excluded[k] and tonumber(redis.call('HGET', KEYS[1], k) or '0') <= now then
      local b = busy[k] or 0
      if best == nil or b < bb then best, bb, bm = k, b, member end
      if bb == 0 then break end
    end
  end
  start = start + 64
end
if best == nil or (cap >= 0 and bb >= cap) then return false end
if cap >= 0 then redis.call('ZADD', KEYS[3], ARGV[4], best .. '|' .. ARGV[3]) end
redis.call('ZADD', KEYS[5], now, bm)
redis.call('EXPIRE', KEYS[5], {TURNS_TTL})
redis.call('HSET', KEYS[2], best, ARGV[1])
return {{best, redis.call('HGET', KEYS[4], best) or '0'}}
"""

# KEYS: blocked-until, reason, strikes, source, blocks. ARGV: key, now, until, reason,
# strike (1/0), source.
BLOCK = """
local now, untl = tonumber(ARGV[2]), tonumber(ARGV[3])
local current = tonumber(redis.call('HGET', KEYS[1], ARGV[1]) or '0')
if not (current > now and current >= untl) then
  redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
  redis.call('HSET', KEYS[2], ARGV[1], ARGV[4])
  redis.call('HSET', KEYS[4], ARGV[1], ARGV[6])
  redis.call('ZADD', KEYS[5], untl, ARGV[1])
end
redis.call('ZREMRANGEBYSCORE', KEYS[5], '-inf', now)
if ARGV[5] == '1' then redis.call('HINCRBY', KEYS[3], ARGV[1], 1) end
return 1
"""

# KEYS: blocks, reason. ARGV: now. The keys blocked after now: key, reason, until, ...
BLOCKED = """
local found = {}
local blocks = redis.call('ZRANGEBYSCORE', KEYS[1], '(' .. ARGV[1], '+inf', 'WITHSCORES')
for i = 1, #blocks, 2 do
  found[#found + 1] = blocks[i]
  found[#found + 1] = redis.call('HGET', KEYS[2], blocks[i]) or 'usable'
  found[#found + 1] = blocks[i + 1]
end
return found
"""


def pool_keys(pool: str) -> tuple[str, str, str, str, str, str]:
    """A pool's hashes and sorted sets: blocked, used, leases, strikes, reason, source."""
    base = f"{PREFIX}keys:{pool}:"
    return (
        base + "blocked",
        base + "used",
        base + "leases",
        base + "strikes",
        base + "reason",
        base + "source",
    )


def blocks_key(pool: str) -> str:
    """A pool's sorted set of blocks (by when they end)."""
    return f"{PREFIX}keys:{pool}:blocks"


def turns_key(pool: str, key_ids: Sequence[str]) -> tuple[str, list[str]]:
    """The turn set of this key list (its own per list: hosts mid-deploy may differ)."""
    members = [f"{i:08d}|{k}" for i, k in enumerate(key_ids)]
    digest = hashlib.sha256("\0".join(key_ids).encode()).hexdigest()[:16]
    return f"{PREFIX}keys:{pool}:turns:{digest}", members
