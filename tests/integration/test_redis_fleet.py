"""Two keyrelay hosts (two gunicorns) on one real Redis: one truth for the whole fleet."""

from __future__ import annotations

import re
import threading
import time

import pytest

from bench.gunicorn import Gunicorn
from bench.redisserver import RedisServer
from tests.fakes.upstream import FakeUpstream, Reply, wait_until

from .helpers import AUTH, KEY_A, KEY_B, StartGateway, fake_env
from .test_shared_state import CHAT, ask_on_new_connections

pytestmark = pytest.mark.integration


def fleet(start: StartGateway, env: dict[str, str]) -> tuple[Gunicorn, Gunicorn]:
    """Two hosts of two workers each, sharing ``env`` (and so its STATE_URL)."""
    return start({**env, "WEB_CONCURRENCY": "2"}), start({**env, "WEB_CONCURRENCY": "2"})


def test_a_rate_limited_key_is_asked_once_by_the_whole_fleet(
    start_gateway: StartGateway, fake: FakeUpstream, redis_server: RedisServer
) -> None:
    fake.default = lambda hit: (
        Reply(status=429, headers={"Retry-After": "60"}) if hit.key == KEY_A else None
    )
    first, second = fleet(start_gateway, fake_env(fake, KEY_A, KEY_B, STATE_URL=redis_server.url))
    statuses = []
    for _ in range(20):
        statuses += ask_on_new_connections(first.url, 1) + ask_on_new_connections(second.url, 1)
    assert statuses == [200] * 40
    assert len(fake.hits_for(KEY_A, path="/chat/completions")) == 1
    # Routing reads Redis on every choice (above); a listing counts blocked keys from a
    # copy each worker reads again every 0.5 s (BLOCKED_MIRROR_SECONDS).
    for host in (first, second):
        wait_until(
            lambda host=host: (
                host.request("GET", "/v1/providers", headers=AUTH).json()["data"][0]["cooling"] == 1
            ),
            timeout=5,
            message="the listing shows the cooling key",
        )


def test_a_key_out_of_quota_stays_aside_after_every_host_restarts(
    start_gateway: StartGateway, fake: FakeUpstream, redis_server: RedisServer
) -> None:
    fake.script(KEY_A, Reply(status=402))
    env = fake_env(fake, KEY_A, KEY_B, STATE_URL=redis_server.url)
    first = start_gateway(env)
    assert ask_on_new_connections(first.url, 1) == [200]
    first.stop()
    again = start_gateway(env)
    assert ask_on_new_connections(again.url, 5) == [200] * 5
    assert len(fake.hits_for(KEY_A, path="/chat/completions")) == 1


def test_the_in_flight_cap_and_the_wait_for_a_slot_hold_across_hosts(
    start_gateway: StartGateway, fake: FakeUpstream, redis_server: RedisServer
) -> None:
    busy, most = 0, 0
    lock = threading.Lock()

    def slow(hit: object) -> Reply:
        nonlocal busy, most
        with lock:
            busy += 1
            most = max(most, busy)
        time.sleep(0.3)
        with lock:
            busy -= 1
        return Reply()

    fake.default = slow
    env = fake_env(fake, KEY_A, MAX_CONCURRENT_REQUESTS_PER_KEY_FAKE="1", REQUEST_DEADLINE="10")
    first, second = fleet(start_gateway, {**env, "STATE_URL": redis_server.url})
    results: list[int] = []

    def ask(host: Gunicorn) -> None:
        results.extend(ask_on_new_connections(host.url, 1))

    threads = [threading.Thread(target=ask, args=(h,)) for h in (first, second) * 3]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    # Six requests for one key of cap 1 on two hosts: each waited for the slot in turn.
    assert results == [200] * 6
    assert most == 1


def test_redis_gone_mid_run_serves_locally_says_so_and_recovers(
    start_gateway: StartGateway, fake: FakeUpstream, redis_server: RedisServer
) -> None:
    gateway = start_gateway(fake_env(fake, KEY_A, KEY_B, STATE_URL=redis_server.url))
    assert ask_on_new_connections(gateway.url, 2) == [200] * 2
    assert gateway.request("GET", "/ready").json()["state"] == "shared"
    timed = re.search(
        r"keyrelay_state_store_seconds_count ([0-9.]+)", gateway.request("GET", "/metrics").text
    )
    assert timed and float(timed.group(1)) >= 4  # two acquires and two releases at least
    redis_server.stop()
    started = time.monotonic()
    assert ask_on_new_connections(gateway.url, 10) == [200] * 10
    assert time.monotonic() - started < 5  # no request waits on the missing store
    ready = gateway.request("GET", "/ready")
    assert ready.status_code == 200 and ready.json()["state"] == "degraded"
    metrics = gateway.request("GET", "/metrics").text
    assert re.search(r'keyrelay_state_store_up\{pid="\d+"\} 0\.0', metrics), metrics
    assert gateway.request("GET", "/health").status_code == 200
    usage = gateway.request("GET", "/v1/usage", headers=AUTH)
    assert usage.status_code == 503
    assert usage.json()["error"]["code"] == "state_store_unavailable"
    redis_server.start()
    wait_until(
        lambda: gateway.request("GET", "/ready").json()["state"] == "shared",
        timeout=10,
        message="back on Redis",
    )
    assert ask_on_new_connections(gateway.url, 2) == [200] * 2
    # The link is marked up before its warning is written: wait for the line, then count.
    wait_until(lambda: "answers again" in gateway.logs(), timeout=5, message="the warning")
    assert gateway.logs().count("does not answer") == 1  # one warning per transition
    assert gateway.logs().count("answers again") == 1


def test_redis_gone_at_start_still_serves(
    start_gateway: StartGateway, fake: FakeUpstream, redis_server: RedisServer
) -> None:
    redis_server.stop()
    gateway = start_gateway(fake_env(fake, KEY_A, STATE_URL=redis_server.url))
    assert ask_on_new_connections(gateway.url, 3) == [200] * 3
    assert gateway.request("GET", "/ready").json()["state"] == "degraded"


def test_usage_adds_up_over_the_fleet_and_no_key_text_is_stored(
    start_gateway: StartGateway, fake: FakeUpstream, redis_server: RedisServer
) -> None:
    first, second = fleet(start_gateway, fake_env(fake, KEY_A, STATE_URL=redis_server.url))
    assert ask_on_new_connections(first.url, 3) + ask_on_new_connections(second.url, 2) == [200] * 5
    stream = {**CHAT, "stream": True}
    assert second.request("POST", "/v1/chat/completions", json=stream, headers=AUTH).ok

    def row() -> dict[str, int]:
        rows = first.request("GET", "/v1/usage", headers=AUTH).json()["data"]
        return rows[0] if rows else {}

    wait_until(lambda: row().get("requests") == 6, timeout=10, message="six requests counted")
    assert row()["succeeded"] == 6 and row()["failed"] == 0
    assert row()["total_tokens"] > 0
    text = first.request("GET", "/v1/usage", headers=AUTH).text
    everything = redis_server.command("KEYS", "*")
    for key in everything.split(b"\r\n"):
        if key.startswith(b"keyrelay:"):
            everything += redis_server.command("DUMP", key.decode())
    for place in (text, first.logs(), second.logs(), everything.decode("latin-1")):
        assert KEY_A not in place
