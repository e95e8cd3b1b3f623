"""Sessions over sockets: a conversation's turns stay on one key across workers (the state
file) and hosts (Redis), move when the key cannot serve, never cross client keys, expire
when idle; sequential rotation walks the keys in order; a store outage serves on."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
import requests

from bench.gunicorn import Gunicorn
from bench.redisserver import RedisServer
from tests.fakes.upstream import FakeUpstream, Reply, completion, wait_until

from .helpers import CLIENT_KEY, StartGateway, fake_env

pytestmark = pytest.mark.integration

KEYS = tuple(f"sk-fake-session-key-{n}-aaaaaaaaaaaa" for n in range(4))
#: A conversation past its first turn, as an agent sends it.
TURN = {
    "model": "fake/fake-model",
    "messages": [
        {"role": "system", "content": "You are an agent."},
        {"role": "user", "content": "Fix the bug."},
        {"role": "assistant", "content": "Looking."},
        {"role": "user", "content": "Go on."},
    ],
}


def session_env(fake: FakeUpstream, tmp_path: Path, **extra: str) -> dict[str, str]:
    return fake_env(fake, *KEYS, STATE_URL=f"sqlite:///{tmp_path}/state.db",
                    WEB_CONCURRENCY="2", **extra)  # fmt: skip


#: A first turn: no session by itself (one-shot requests alike spread over the keys).
FIRST = {**TURN, "messages": TURN["messages"][:2]}


def turn(
    gateway: Gunicorn,
    session: str | None = "s-1",
    key: str = CLIENT_KEY,
    body: dict[str, object] = TURN,
    **headers: str,
) -> requests.Response:
    """One turn over a new connection (so that turns reach both workers)."""
    sent = {"Authorization": f"Bearer {key}", "Connection": "close", **headers}
    if session is not None:
        sent["X-Session-ID"] = session
    reply = requests.post(gateway.url + "/v1/chat/completions", json=body, headers=sent,
                          timeout=30)  # fmt: skip
    assert reply.status_code == 200, reply.text
    return reply


def keys_used(fake: FakeUpstream) -> list[str | None]:
    return [h.key for h in fake.hits if h.path.endswith("/chat/completions")]


def pids(gateway: Gunicorn) -> set[int]:
    lines = [json.loads(x) for x in gateway.logs().splitlines() if '"msg":"request"' in x]
    return {line["pid"] for line in lines if line.get("session")}


def test_a_session_stays_on_its_key_across_workers(
    fake: FakeUpstream, start_gateway: StartGateway, tmp_path: Path
) -> None:
    gateway = start_gateway(session_env(fake, tmp_path))
    turn(gateway)
    deadline = time.monotonic() + 30
    while len(pids(gateway)) < 2 and time.monotonic() < deadline:
        turn(gateway)
    assert len(pids(gateway)) == 2  # both workers served turns of it
    assert len(set(keys_used(fake))) == 1
    # First turns alike, with no session named, rotate over the keys as ever.
    for _ in range(4):
        turn(gateway, session=None, body=FIRST)
    assert len(set(keys_used(fake)[-4:])) > 1


def test_a_conversation_past_its_first_turn_is_a_session_without_a_header(
    fake: FakeUpstream, start_gateway: StartGateway, tmp_path: Path
) -> None:
    gateway = start_gateway({**session_env(fake, tmp_path), "WEB_CONCURRENCY": "1"})
    for _ in range(5):
        turn(gateway, session=None)
    assert len(set(keys_used(fake))) == 1
    other = {**TURN, "messages": [TURN["messages"][0], {"role": "user", "content": "New task."},
                                  *TURN["messages"][2:]]}  # fmt: skip
    turn(gateway, session=None, body=other)
    assert keys_used(fake)[-1] != keys_used(fake)[0]  # another conversation, another pin


@pytest.mark.parametrize("header", ["X-Claude-Code-Session-Id", "session-id", "thread-id"])
def test_the_session_headers_agents_send_are_sessions(
    fake: FakeUpstream, start_gateway: StartGateway, tmp_path: Path, header: str
) -> None:
    gateway = start_gateway(session_env(fake, tmp_path))
    for _ in range(6):
        turn(gateway, session=None, **{header: "0f1e2d3c-agent-session"})
    assert len(set(keys_used(fake))) == 1


def test_a_session_stays_on_its_key_across_two_gateways_on_redis(
    fake: FakeUpstream, start_gateway: StartGateway, redis_server: RedisServer
) -> None:
    env = fake_env(fake, *KEYS, STATE_URL=redis_server.url)
    first, second = start_gateway(env), start_gateway(env)
    for n in range(8):
        turn(first if n % 2 else second)
    assert len(set(keys_used(fake))) == 1


def test_the_pin_moves_when_its_key_is_rate_limited_and_sticks_to_the_new_key(
    fake: FakeUpstream, start_gateway: StartGateway, tmp_path: Path
) -> None:
    gateway = start_gateway(session_env(fake, tmp_path))
    turn(gateway)
    (pinned,) = set(keys_used(fake))
    fake.script(pinned, Reply(status=429, headers={"Retry-After": "60"}))
    moved = turn(gateway)
    assert "rate_limited" in moved.headers["X-Attempt-Trail"]
    landed = keys_used(fake)[-1]
    assert landed != pinned
    for _ in range(4):
        turn(gateway)
    assert keys_used(fake)[-4:] == [landed] * 4


def test_two_client_keys_with_the_same_session_id_never_share_a_pin(
    fake: FakeUpstream, start_gateway: StartGateway, tmp_path: Path
) -> None:
    # One worker: its own last uses are exact, so the other client's first turn is sure to
    # take another key than the first client's pin unless it reads that pin.
    env = session_env(fake, tmp_path, PROXY_API_KEY=f"{CLIENT_KEY},other-key")
    gateway = start_gateway({**env, "WEB_CONCURRENCY": "1"})
    turn(gateway, "shared-id")
    first = keys_used(fake)[-1]
    turn(gateway, "shared-id", key="other-key")
    other = keys_used(fake)[-1]
    assert other != first  # the least recently used key, not the other client's pin
    for _ in range(3):
        turn(gateway, "shared-id")
        turn(gateway, "shared-id", key="other-key")
    assert keys_used(fake)[-6:] == [first, other] * 3


def test_an_idle_pin_expires(
    fake: FakeUpstream, start_gateway: StartGateway, tmp_path: Path
) -> None:
    env = session_env(fake, tmp_path, SESSION_IDLE_SECONDS="1")
    gateway = start_gateway({**env, "WEB_CONCURRENCY": "1"})  # its last uses are exact
    turn(gateway)
    turn(gateway)
    pinned = keys_used(fake)[-1]
    assert keys_used(fake) == [pinned, pinned]
    time.sleep(1.2)  # past the pin's lifetime (the rule under test is about time)
    turn(gateway)
    assert keys_used(fake)[-1] != pinned  # least recently used again


def test_affinity_never_overrides_the_tiers(
    fake: FakeUpstream, start_gateway: StartGateway, tmp_path: Path
) -> None:
    backup = FakeUpstream()
    try:
        env = session_env(fake, tmp_path, BACKUP_API_BASE=backup.base_url,
                          BACKUP_API_KEY="sk-backup-session-key-bbbbbbbb",
                          BACKUP_MODELS="fake-model", PROVIDER_PRIORITY_BACKUP="20")  # fmt: skip
        gateway = start_gateway(env)
        fake.default = lambda hit: Reply(status=500)
        assert turn(gateway).headers["X-Provider"] == "backup"  # pinned there
        fake.default = None
        assert turn(gateway).headers["X-Provider"] == "fake"  # tier 10 first again
    finally:
        backup.close()


def test_sequential_rotation_uses_one_key_until_it_cannot_serve(
    fake: FakeUpstream, start_gateway: StartGateway, tmp_path: Path
) -> None:
    gateway = start_gateway(session_env(fake, tmp_path, ROTATION_MODE_FAKE="sequential"))
    for _ in range(4):
        turn(gateway, session=None, body=FIRST)  # no session: rotation alone
    assert keys_used(fake) == [KEYS[0]] * 4
    fake.script(KEYS[0], Reply(status=429, headers={"Retry-After": "60"}))
    for _ in range(3):
        turn(gateway, session=None, body=FIRST)  # no session: rotation alone
    assert keys_used(fake)[-4:] == [KEYS[0], KEYS[1], KEYS[1], KEYS[1]]


def test_a_store_outage_leaves_session_turns_served(
    fake: FakeUpstream, start_gateway: StartGateway, redis_server: RedisServer
) -> None:
    gateway = start_gateway(fake_env(fake, *KEYS, STATE_URL=redis_server.url))
    turn(gateway)
    redis_server.stop()
    replies = [turn(gateway) for _ in range(4)]
    assert all(r.status_code == 200 for r in replies)
    wait_until(lambda: "does not answer" in gateway.logs(), message="the outage was noticed")
    assert len(set(keys_used(fake)[-4:])) == 1  # this process's own pins stood in


def test_cached_tokens_are_counted_in_usage_metrics_and_the_answer(
    fake: FakeUpstream, start_gateway: StartGateway, tmp_path: Path
) -> None:
    answer = completion("fake-model")
    answer["usage"] = {"prompt_tokens": 1000, "completion_tokens": 10, "total_tokens": 1010,
                       "prompt_tokens_details": {"cached_tokens": 900}}  # fmt: skip
    fake.default = lambda hit: Reply(body=answer) if hit.path.endswith("/completions") else None
    gateway = start_gateway(session_env(fake, tmp_path))
    turn(gateway)
    messages = {"model": "fake/fake-model", "max_tokens": 64, "messages": TURN["messages"][1:]}
    auth = {"Authorization": f"Bearer {CLIENT_KEY}"}
    reply = requests.post(gateway.url + "/v1/messages", json=messages, headers=auth, timeout=30)
    usage = reply.json()["usage"]
    assert (usage["input_tokens"], usage["cache_read_input_tokens"]) == (100, 900)

    def rows() -> list[dict[str, int]]:
        listed = gateway.request(
            "GET", "/v1/usage", headers={"Authorization": f"Bearer {CLIENT_KEY}"}
        )
        return [r for r in listed.json()["data"] if r["cached_tokens"]]

    wait_until(lambda: sum(r["cached_tokens"] for r in rows()) == 1800, message="usage written")
    assert sum(r["prompt_tokens"] for r in rows()) == 2000
    metrics = gateway.request("GET", "/metrics", headers=auth)
    assert 'keyrelay_cached_prompt_tokens_total{provider="fake"} 1800.0' in metrics.text
    assert 'keyrelay_prompt_tokens_total{provider="fake"} 2000.0' in metrics.text
