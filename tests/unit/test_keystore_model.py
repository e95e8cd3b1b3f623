"""The heap-based key store makes exactly the choices of a brute-force scan."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass

import pytest

from providers.state.contract import KeyStore
from providers.state.memory.keys import InMemoryKeyStore
from providers.state.records import COOLING, DISABLED, EXHAUSTED, USABLE
from providers.state.redis import keys as rediskeys
from providers.state.redis.link import RedisLink
from providers.state.sqlite.keys import SqliteKeyStore


@dataclass
class Model:
    """The specification: scan every key, pick the least (in flight, last used, position)."""

    keys: list[str]

    def __post_init__(self) -> None:
        self.in_flight = dict.fromkeys(self.keys, 0)
        self.last_used = dict.fromkeys(self.keys, 0.0)
        self.blocked_until = dict.fromkeys(self.keys, 0.0)
        self.reason = dict.fromkeys(self.keys, USABLE)

    def acquire(self, exclude: set[str], max_in_flight: int | None, now: float) -> str | None:
        best = None
        for position, key in enumerate(self.keys):
            if key in exclude or self.blocked_until[key] > now:
                continue
            if max_in_flight is not None and self.in_flight[key] >= max_in_flight:
                continue
            rank = (self.in_flight[key], self.last_used[key], position)
            if best is None or rank < best[0]:
                best = (rank, key)
        if best is None:
            return None
        self.in_flight[best[1]] += 1
        self.last_used[best[1]] = now
        return best[1]

    def block(self, key: str, until: float, reason: str, now: float) -> None:
        if self.blocked_until[key] > now and self.blocked_until[key] >= until:
            return
        self.blocked_until[key], self.reason[key] = until, reason

    def counts(self, now: float) -> dict[str, int]:
        counts = {USABLE: 0, COOLING: 0, DISABLED: 0, EXHAUSTED: 0}
        for key in self.keys:
            counts[self.reason[key] if self.blocked_until[key] > now else USABLE] += 1
        return counts


def memory(request: pytest.FixtureRequest) -> KeyStore:
    return InMemoryKeyStore()


def sqlite(request: pytest.FixtureRequest) -> KeyStore:
    return SqliteKeyStore(request.getfixturevalue("tmp_path") / "state.db")


def redis(request: pytest.FixtureRequest) -> KeyStore:
    server = request.getfixturevalue("redis_server")
    # The model's clock runs far faster than renewals: leases must outlive the run.
    request.getfixturevalue("monkeypatch").setattr(rediskeys, "LEASE_SECONDS", 1e9)
    return rediskeys.RedisKeyStore(RedisLink(server.url))


@pytest.mark.parametrize("make_store", [memory, sqlite, redis])
@pytest.mark.parametrize("seed", range(20))
def test_store_matches_the_brute_force_model(
    seed: int,
    make_store: Callable[[pytest.FixtureRequest], KeyStore],
    request: pytest.FixtureRequest,
) -> None:
    rng = random.Random(seed)
    keys = [f"k{i}" for i in range(rng.choice([1, 3, 8, 40]))]
    max_in_flight = rng.choice([None, 1, 2])
    model, store = Model(keys), make_store(request)
    held: list[str] = []
    now = 1.0
    assert store.counts("p", keys, now)[USABLE] == len(keys)  # the pool is introduced with its keys
    for _ in range(600):
        action = rng.random()
        now += rng.choice([0.0, 0.0, 0.5, 3.0])
        if action < 0.45:
            exclude = set(rng.sample(keys, k=rng.randint(0, min(2, len(keys)))))
            expected = model.acquire(exclude, max_in_flight, now)
            got = store.acquire("p", keys, exclude=exclude, max_in_flight=max_in_flight, now=now)
            assert got == expected
            if got is not None:
                held.append(got)
        elif action < 0.8 and held:
            key = held.pop(rng.randrange(len(held)))
            model.in_flight[key] -= 1
            store.release("p", key)
        else:
            key = rng.choice(keys)
            until = now + rng.choice([1.0, 5.0, 30.0])
            reason = rng.choice([COOLING, DISABLED, EXHAUSTED])
            model.block(key, until, reason, now)
            store.block("p", key, until=until, reason=reason, strike=False, now=now)
        assert store.counts("p", keys, now) == model.counts(now)
        waits = [u for u in model.blocked_until.values() if u > now]
        assert store.next_available("p", keys, now) == (min(waits) if waits else None)
