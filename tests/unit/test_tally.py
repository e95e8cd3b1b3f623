"""Events per name over a window: per process, and shared through SQLite and a real Redis."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.redisserver import RedisServer
from providers.state import tally
from providers.state.contract import Tally
from providers.state.memory.tally import MAX_EVENTS, MAX_NAMES, InMemoryTally
from providers.state.redis.link import RedisLink, redis_client
from providers.state.redis.tally import redis_tally
from providers.state.sqlite.events import sqlite_tally

NOW = 1_795_000_000.0
WINDOW = 60.0


@pytest.fixture
def now(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The tallies' wall clock, set by the test."""
    clock = [NOW]
    monkeypatch.setattr(tally.time, "time", lambda: clock[0])
    return clock


def counts_in_a_window(first: Tally, second: Tally, now: list[float]) -> None:
    """Two workers' tallies over one store: each sees the other's events, until they age."""
    assert [first.add("a", WINDOW) for _ in range(3)] == [1, 2, 3]
    assert second.count("a", WINDOW) == 3 and second.count("b", WINDOW) == 0
    assert second.add("a", WINDOW) == 4
    now[0] += WINDOW - 1
    assert first.add("a", WINDOW) == 5
    now[0] += 2  # the first four have left the window
    assert first.count("a", WINDOW) == 1 and second.count("a", WINDOW) == 1


def test_in_memory_counts_in_a_window_and_is_bounded(now: list[float]) -> None:
    kept = InMemoryTally()
    counts_in_a_window(kept, kept, now)
    assert [kept.add("many", WINDOW) for _ in range(MAX_EVENTS + 5)][-1] == MAX_EVENTS
    for index in range(MAX_NAMES + 10):
        kept.add(f"name-{index}", WINDOW)
    assert len(kept._times) == MAX_NAMES
    assert kept.count("name-0", WINDOW) == 0  # the oldest names went first


def test_sqlite_counts_for_every_worker_on_the_host(tmp_path: Path, now: list[float]) -> None:
    path = tmp_path / "state.db"
    counts_in_a_window(sqlite_tally(path, 0.1), sqlite_tally(path, 0.1), now)


def test_redis_counts_for_every_worker_of_the_fleet_and_forgets(
    redis_server: RedisServer, now: list[float]
) -> None:
    first = redis_tally(RedisLink(redis_server.url))
    counts_in_a_window(first, redis_tally(RedisLink(redis_server.url)), now)
    for _ in range(MAX_EVENTS + 5):
        first.add("many", WINDOW)
    assert first.count("many", WINDOW) == MAX_EVENTS
    client = redis_client(redis_server.url, 1.0)
    names = client.keys("keyrelay:tally:*")
    assert len(names) == 2 and b"many" not in b"".join(names)  # digests, not what was sent
    assert all(0 < client.ttl(name) <= WINDOW + 1 for name in names)


def test_a_store_that_does_not_answer_leaves_the_workers_own_count(
    redis_server: RedisServer, now: list[float]
) -> None:
    first = redis_tally(RedisLink(redis_server.url, timeout=0.05))
    assert [first.add("a", WINDOW) for _ in range(2)] == [1, 2]
    redis_server.stop()
    assert first.add("a", WINDOW) == 3 and first.count("a", WINDOW) == 3


def test_a_short_window_does_not_drop_a_longer_one_in_the_state_file(tmp_path: Path) -> None:
    """A sign-out counted for a week survives wrong keys counted over a shorter window."""
    worker = sqlite_tally(tmp_path / "state.db", 1.0)
    worker.add("signed-out", 7 * 86400)
    for _ in range(3):
        worker.add("wrong-key", 0.0)  # its window drops every earlier event of its own name
    other = sqlite_tally(tmp_path / "state.db", 1.0)  # another worker: no local count
    assert other.count("signed-out", 7 * 86400) == 1
