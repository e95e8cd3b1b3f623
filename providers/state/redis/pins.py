"""Session pins in Redis, for every worker of every host; local while Redis is away.

A pin is one string key with a lifetime (a read is one ``GET``); an index by expiry
bounds them to ``MAX_PINS``, trimmed by the same script that writes one.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from providers.state.contract import MAX_PINS
from providers.state.memory.pins import InMemoryPins
from providers.state.records import Pin

from .link import PREFIX, RedisLink

INDEX = PREFIX + "pins"
_PUT = """
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
redis.call('ZADD', KEYS[2], ARGV[3], KEYS[1])
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', ARGV[4])
local over = redis.call('ZCARD', KEYS[2]) - tonumber(ARGV[5])
if over > 0 then
  local gone = redis.call('ZRANGE', KEYS[2], 0, over - 1)
  redis.call('ZREMRANGEBYRANK', KEYS[2], 0, over - 1)
  redis.call('DEL', unpack(gone))
end
return 0
"""


def pin_key(session: str) -> str:
    """The Redis key of a session's pin."""
    return f"{PREFIX}pin:{session}"


class RedisPins:
    """Session pins in Redis."""

    clock: Callable[[], float] | None = staticmethod(time.time)

    def __init__(self, link: RedisLink, *, limit: int = MAX_PINS) -> None:
        self.link = link
        self.standby = link.standby
        self._local = InMemoryPins(limit)
        self._limit = limit
        self._script = link.script(_PUT)

    def get(self, session: str, now: float) -> Pin | None:
        """The session's pin, unless it expired."""

        def shared() -> Pin | None:
            raw = self.link.call(lambda r: r.get(pin_key(session)))
            if raw is None:
                return None
            provider, key, until = (raw.decode() if isinstance(raw, bytes) else raw).split("\t")
            return Pin(provider, key, float(until)) if float(until) > now else None

        return self.standby.run(shared, lambda: self._local.get(session, now))

    def put(self, session: str, pin: Pin, now: float) -> None:
        """Pin the session, in Redis and in this process."""
        self._local.put(session, pin, now)
        value = f"{pin.provider}\t{pin.key}\t{pin.until}"
        ttl_ms = max(1, int((pin.until - now) * 1000))
        keys, args = [pin_key(session), INDEX], [value, ttl_ms, pin.until, now, self._limit]
        self.standby.attempt(
            lambda: self.link.call(lambda r: self._script(keys=keys, args=args, client=r))
        )
