"""Key state, circuits, 404 marks and usage in a real Redis: one truth for every worker."""

from __future__ import annotations

import logging
import time

import pytest

from bench.redisserver import RedisServer
from providers.config.env import ConfigError
from providers.health.circuit import CLOSED, OPEN, Circuit, Permit
from providers.state.fallbackkeys import FallbackKeyStore
from providers.state.records import COOLING, EXHAUSTED, USABLE
from providers.state.redis import keys as rediskeys
from providers.state.redis.keys import RedisKeyStore
from providers.state.redis.link import RedisLink, redis_client
from providers.state.redis.state import RedisCircuits, RedisMarks, RedisUsage
from tests.fakes.upstream import wait_until
from tests.helpers import FakeClock

KEYS = ["key-a", "key-b"]
NOW = 1_795_000_000.0


def worker(server: RedisServer) -> RedisKeyStore:
    """A worker's view: its own link (connection pool) to the one Redis."""
    return RedisKeyStore(RedisLink(server.url))


def test_a_block_is_seen_by_every_worker_and_a_shorter_one_never_shortens_it(
    redis_server: RedisServer,
) -> None:
    first, second = worker(redis_server), worker(redis_server)
    now = time.time()
    first.block("p", "key-a", until=now + 3600, reason=EXHAUSTED, strike=False, now=now)
    second.block(
        "p", "key-a", until=now + 5, reason=COOLING, strike=True, now=now, source="upstream"
    )
    state = worker(redis_server).snapshot("p", KEYS)["key-a"]
    assert (state.blocked_until, state.reason, state.strikes) == (now + 3600, EXHAUSTED, 1)
    assert state.source == "default"
    assert second.acquire("p", KEYS, exclude=(), max_in_flight=None, now=now) == "key-b"
    assert second.counts("p", KEYS, now) == {USABLE: 1, COOLING: 0, "disabled": 0, EXHAUSTED: 1}
    second.unblock("p", "key-a")
    assert first.snapshot("p", KEYS)["key-a"].status(now) == USABLE


def test_the_in_flight_cap_holds_across_workers_and_a_dead_workers_lease_expires(
    redis_server: RedisServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(rediskeys, "LEASE_SECONDS", 0.5)
    dead, alive = worker(redis_server), worker(redis_server)
    now = time.time()
    assert dead.acquire("p", ["only"], exclude=(), max_in_flight=1, now=now) == "only"
    assert alive.acquire("p", ["only"], exclude=(), max_in_flight=1, now=now) is None
    assert alive.snapshot("p", ["only"])["only"].in_flight == 1
    # ``dead`` never releases nor renews: its lease stops counting once it expires.
    wait_until(
        lambda: (
            alive.acquire("p", ["only"], exclude=(), max_in_flight=1, now=time.time()) is not None
        ),
        timeout=5,
        message="the dead worker's lease expired",
    )
    alive.release("p", "only")
    assert alive.snapshot("p", ["only"])["only"].in_flight == 0


def test_leases_in_use_are_renewed(
    redis_server: RedisServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(rediskeys, "LEASE_SECONDS", 0.6)
    monkeypatch.setattr(rediskeys, "RENEW_SECONDS", 0.1)
    holder, other = worker(redis_server), worker(redis_server)
    assert holder.acquire("p", ["only"], exclude=(), max_in_flight=1, now=time.time()) == "only"
    deadline = time.monotonic() + 1.5  # well past LEASE_SECONDS: only renewals keep it
    while time.monotonic() < deadline:
        assert other.acquire("p", ["only"], exclude=(), max_in_flight=1, now=time.time()) is None
        time.sleep(0.05)


def test_redis_down_at_start_serves_locally_and_comes_back(
    redis_server: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    redis_server.stop()
    with caplog.at_level(logging.WARNING, logger="providers.state.redis.link"):
        link = RedisLink(redis_server.url, timeout=0.05)
        store = FallbackKeyStore(RedisKeyStore(link))
        assert store.up is False
        started = time.monotonic()
        for _ in range(50):  # no network while down: each answer is immediate
            key = store.acquire("p", KEYS, exclude=(), max_in_flight=None, now=time.time())
            assert key in KEYS
            store.release("p", key)
        assert time.monotonic() - started < 1.0
        redis_server.start()
        wait_until(lambda: store.up, timeout=5, message="the link is back up")
        assert store.acquire("p", KEYS, exclude=(), max_in_flight=1, now=time.time()) == "key-a"
        assert worker(redis_server).snapshot("p", KEYS)["key-a"].in_flight == 1
    mine = f":{redis_server.port}/"  # links of earlier tests retry their own servers
    warnings = [r.getMessage() for r in caplog.records if mine in r.getMessage()]
    assert len(warnings) == 2, warnings  # down once, up once: not once per request


def test_the_password_never_shows(
    redis_server: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    redis_server.stop()
    url = f"redis://:s3cret-pass@127.0.0.1:{redis_server.port}/0"
    with caplog.at_level(logging.DEBUG):
        link = RedisLink(url, timeout=0.05)
        assert link.up is False
    assert "s3cret-pass" not in caplog.text and "***@127.0.0.1" in link.shown
    with pytest.raises(ConfigError) as bad:
        redis_client("redis://:s3cret-pass@127.0.0.1:notaport/0", 0.1)
    assert "s3cret-pass" not in str(bad.value)


def test_a_password_protected_redis(tmp_path: object) -> None:
    server = RedisServer(password="s3cret-pass")
    try:
        store = RedisKeyStore(RedisLink(server.url))
        assert store.link.up
        assert store.acquire("p", KEYS, exclude=(), max_in_flight=None, now=time.time()) == "key-a"
    finally:
        server.stop()


def test_rediss_speaks_tls_and_checks_the_servers_certificate() -> None:
    server = RedisServer(tls=True)
    try:
        store = RedisKeyStore(RedisLink(server.url))
        assert store.link.up
        assert store.acquire("p", KEYS, exclude=(), max_in_flight=None, now=time.time()) == "key-a"
        # Without the server's CA the certificate is not trusted: down, never insecure.
        untrusted = server.url.split("?", 1)[0]
        assert RedisLink(untrusted, timeout=0.5).up is False
    finally:
        server.stop()


def circuit(server: RedisServer, clock: FakeClock, threshold: int = 2) -> Circuit:
    store = RedisCircuits(RedisLink(server.url))
    store.clock = clock
    return Circuit(min_calls=threshold, open_seconds=30, store=store, name="groq")


def test_one_circuit_for_the_fleet_and_one_trial(
    redis_server: RedisServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("providers.state.redis.state.MIRROR_SECONDS", 0.0)
    clock = FakeClock()
    clock.now = NOW
    first, second = circuit(redis_server, clock), circuit(redis_server, clock)
    first.record("server_error", first.allow() or Permit.PASS)
    second.record("timeout", second.allow() or Permit.PASS)
    assert first.state() == OPEN and second.state() == OPEN
    clock.now += 30
    trial = first.allow()
    assert trial is Permit.TRIAL and second.allow() is None
    first.record("success", trial)
    assert second.state() == CLOSED and second.allow() is Permit.PASS
    assert redis_server.command("KEYS", "keyrelay:circuit:*").startswith(b"*0")  # at rest


def test_marks_are_shared_and_bounded(redis_server: RedisServer) -> None:
    first, second = RedisMarks(RedisLink(redis_server.url)), RedisMarks(RedisLink(redis_server.url))
    first.mark("groq", "gpt-9", NOW + 600, NOW)
    assert second.until("groq", "gpt-9") == NOW + 600 and second.any_live("groq", NOW)
    for i in range(1100):
        first.mark("groq", f"made-up-{i}", NOW + 600 + i, NOW)
    assert second.count("groq") == 1024
    assert RedisMarks(RedisLink(redis_server.url)).until("groq", "made-up-1099") is not None


def test_usage_adds_up_across_workers(redis_server: RedisServer) -> None:
    first = RedisUsage(RedisLink(redis_server.url), retention_days=3)
    second = RedisUsage(RedisLink(redis_server.url), retention_days=3)
    first.count("groq", "key-a", "success", NOW)
    first.add_tokens("groq", "key-a", (5, 7, 12, 0), NOW)
    second.count("groq", "key-a", "rate_limited", NOW)
    second.count("groq", "key-b", "success", NOW - 86400)
    second.flush()
    rows = first.rows(provider="groq", days=2, now=NOW)
    assert [(r.date, r.key, r.requests, r.succeeded, r.failed, r.total_tokens) for r in rows] == [
        ("2026-11-18", "key-a", 2, 1, 1, 12),
        ("2026-11-17", "key-b", 1, 1, 0, 0),
    ]
    assert first.rows(provider="openai", days=2, now=NOW) == []


def test_a_pool_of_ten_thousand_keys_is_served_from_redis(redis_server: RedisServer) -> None:
    keys = [f"key-{i}" for i in range(10_000)]  # more ids than Lua's unpack() takes at once
    store = worker(redis_server)
    now = time.time()
    store.block("big", "key-0", until=now + 60, reason=COOLING, strike=False, now=now)
    assert store.acquire("big", keys, exclude=("key-1",), max_in_flight=None, now=now) == "key-2"
    assert store.acquire("big", keys, exclude=(), max_in_flight=1, now=now) == "key-1"
    assert worker(redis_server).snapshot("big", keys)["key-1"].in_flight == 1


def test_choosing_a_key_reads_the_least_recently_used_not_every_key(
    redis_server: RedisServer,
) -> None:
    keys = [f"key-{i}" for i in range(1000)]
    store = worker(redis_server)
    now = time.time()
    for i in range(3):  # key-0 .. key-2 used, in that order
        assert store.acquire("p", keys, exclude=(), max_in_flight=None, now=now + i) == keys[i]
        store.release("p", keys[i])
    client = redis_client(redis_server.url, 1.0)
    client.config_resetstat()
    assert store.acquire("p", keys, exclude=("key-3",), max_in_flight=None, now=now + 9) == "key-4"
    stats = client.info("commandstats")
    assert "cmdstat_hmget" not in stats
    assert stats["cmdstat_hget"]["calls"] <= 3  # key-4's block, its strikes: not 1,000 reads
    assert store.counts("p", keys, now + 9)[USABLE] == 1000


def test_a_flushed_redis_is_filled_again_and_old_blocks_are_counted(
    redis_server: RedisServer,
) -> None:
    store = worker(redis_server)
    now = time.time()
    assert store.acquire("p", KEYS, exclude=(), max_in_flight=None, now=now) == "key-a"
    store.release("p", "key-a")
    client = redis_client(redis_server.url, 1.0)
    client.flushall()  # Redis restarted without persistence
    assert store.acquire("p", KEYS, exclude=(), max_in_flight=None, now=now) == "key-a"
    store.release("p", "key-a")
    # A block written without the blocks index (an older keyrelay) counts once introduced.
    client.hset("keyrelay:keys:q:blocked", "key-b", now + 60)
    client.hset("keyrelay:keys:q:reason", "key-b", COOLING)
    fresh = worker(redis_server)
    assert fresh.counts("q", KEYS, now) == {USABLE: 1, COOLING: 1, "disabled": 0, EXHAUSTED: 0}
    assert fresh.next_available("q", KEYS, now) == now + 60
    assert fresh.acquire("q", KEYS, exclude=(), max_in_flight=None, now=now) == "key-a"
    # Another host's key list (mid-deploy) has its own turns; blocks of keys not in this
    # list are not counted.
    assert fresh.counts("q", ["key-a"], now) == {USABLE: 1, COOLING: 0, "disabled": 0, EXHAUSTED: 0}


def test_counts_see_this_workers_blocks_at_once_and_others_within_the_mirror(
    redis_server: RedisServer,
) -> None:
    mine, other = worker(redis_server), worker(redis_server)
    now = time.time()
    assert mine.counts("p", KEYS, now)[USABLE] == 2  # now mirrored here for a moment
    mine.block("p", "key-a", until=now + 60, reason=COOLING, strike=False, now=now)
    assert mine.counts("p", KEYS, now)[COOLING] == 1
    other.block("p", "key-b", until=now + 60, reason=EXHAUSTED, strike=False, now=now)
    wait_until(lambda: mine.counts("p", KEYS, time.time())[EXHAUSTED] == 1, timeout=5)
    assert mine.next_available("p", KEYS, now) == now + 60
