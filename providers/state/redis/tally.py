"""Events per name in Redis, counted for every worker of every host (see ``tally``)."""

from __future__ import annotations

import math
import secrets
from typing import Any

import redis

from providers.state.memory.tally import MAX_EVENTS
from providers.state.tally import SharedTally

from .link import PREFIX, RedisLink


def redis_tally(link: RedisLink) -> SharedTally:
    """A sorted set per name, trimmed to the window and to ``MAX_EVENTS``, expiring with it."""

    def add(name: str, window: float, now: float) -> int:
        key = PREFIX + "tally:" + name
        member = f"{now!r}:{secrets.token_hex(8)}"  # unique across workers and hosts

        def count_one(r: redis.Redis) -> Any:
            with r.pipeline(transaction=True) as pipe:
                pipe.zremrangebyscore(key, "-inf", now - window)
                pipe.zadd(key, {member: now})
                pipe.zremrangebyrank(key, 0, -(MAX_EVENTS + 1))
                pipe.zcard(key)
                pipe.expire(key, math.ceil(window) + 1)
                return pipe.execute()[3]

        return int(link.call(count_one))

    def count(name: str, window: float, now: float) -> int:
        key = PREFIX + "tally:" + name
        return int(link.call(lambda r: r.zcount(key, f"({now - window!r}", "+inf")))

    return SharedTally(add, count, link.standby)
