"""Client keys as records, over sockets: limits and budgets hold across 2 workers on the
state file and across two gunicorns on a real Redis, revocation holds at once, limits
survive a restart, a store outage leaves them per worker, every request settles once,
and the keys never appear in clear anywhere keyrelay writes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import requests

from bench.gunicorn import Gunicorn
from bench.redisserver import RedisServer
from tests.fakes.upstream import FakeUpstream, Reply, completion, stream_events, wait_until

from .clients import BODY, add, ask, at_once, cli, me, settled
from .helpers import CLIENT_KEY, KEY_A, KEY_B, StartGateway, fake_env

pytestmark = pytest.mark.integration

#: A dollar per thousand output tokens, nothing for input, answers of 100 tokens at most: a
#: reservation is max_tokens / 1000 dollars ($0.10 without max_tokens).
PRICES = "fake-model=0/0/1000/100"


def file_env(fake: FakeUpstream, tmp_path: Path, *keys: str) -> dict[str, str]:
    return fake_env(fake, *(keys or (KEY_A,)), STATE_URL=f"sqlite:///{tmp_path}/state.db",
                    WEB_CONCURRENCY="2", MODEL_PRICES=PRICES)  # fmt: skip


def redis_env(fake: FakeUpstream, redis: RedisServer) -> dict[str, str]:
    return fake_env(fake, KEY_A, STATE_URL=redis.url, MODEL_PRICES=PRICES)


def slow(fake: FakeUpstream, seconds: float = 1.5) -> None:
    """Every answer waits ``seconds``: requests sent together overlap."""
    fake.default = lambda hit: (
        Reply(body=completion("fake-model"), delay=seconds)
        if hit.path.endswith("/completions")
        else None
    )


def test_rpm_serves_exactly_k_across_two_workers_on_the_state_file(
    fake: FakeUpstream, start_gateway: StartGateway, tmp_path: Path
) -> None:
    env = file_env(fake, tmp_path)
    key = add(env, "alice", "--rpm", "5")
    gateway = start_gateway(env)
    replies = at_once(12, lambda _: ask(gateway, key))
    assert sorted(r.status_code for r in replies) == [200] * 5 + [429] * 7
    refused = next(r for r in replies if r.status_code == 429)
    assert 1 <= int(refused.headers["Retry-After"]) <= 60
    assert refused.json()["error"]["code"] == "client_rpm_exceeded"
    assert len(fake.hits_for(KEY_A, "/v1/chat/completions")) == 5  # refusals never went upstream


def test_rpm_serves_exactly_k_across_two_gunicorns_on_redis(
    fake: FakeUpstream, start_gateway: StartGateway, redis_server: RedisServer
) -> None:
    env = redis_env(fake, redis_server)
    key = add(env, "bob", "--rpm", "4")
    one, two = start_gateway(env), start_gateway(env)
    replies = at_once(10, lambda i: ask(one if i % 2 else two, key))
    assert sorted(r.status_code for r in replies) == [200] * 4 + [429] * 6


def budget_case(gateway: Gunicorn, fake: FakeUpstream, key: str) -> None:
    slow(fake)
    body = {**BODY, "max_tokens": 10}  # reserves $0.01; the budget is $0.05
    replies = at_once(20, lambda _: ask(gateway, key, body))
    served = [r for r in replies if r.status_code == 200]
    assert 1 <= len(served) <= 5
    assert {r.status_code for r in replies} <= {200, 429}
    refused = next(r for r in replies if r.status_code == 429)
    assert refused.json()["error"]["type"] == "insufficient_quota"
    found = settled(gateway, key)
    assert found["used"]["in_flight"] == 0 and found["used"]["reserved"] == 0
    assert found["used"]["spent"] == pytest.approx(0.007 * len(served))  # 7 tokens each
    assert found["used"]["spent"] <= 0.05


def test_a_budget_holds_under_20_concurrent_requests_on_the_state_file(
    fake: FakeUpstream, start_gateway: StartGateway, tmp_path: Path
) -> None:
    env = file_env(fake, tmp_path)
    key = add(env, "carol", "--budget", "0.05", "--period", "day")
    budget_case(start_gateway(env), fake, key)


def test_a_budget_holds_under_20_concurrent_requests_on_two_gunicorns_on_redis(
    fake: FakeUpstream, start_gateway: StartGateway, redis_server: RedisServer
) -> None:
    env = redis_env(fake, redis_server)
    key = add(env, "dave", "--budget", "0.05", "--period", "month")
    one, two = start_gateway(env), start_gateway(env)
    slow(fake)
    body = {**BODY, "max_tokens": 10}
    replies = at_once(20, lambda i: ask(one if i % 2 else two, key, body))
    served = [r for r in replies if r.status_code == 200]
    assert 1 <= len(served) <= 5
    found = settled(one, key)
    assert found["used"]["spent"] == pytest.approx(0.007 * len(served))
    assert found["used"]["spent"] <= 0.05


def test_a_concurrency_cap_holds_across_hosts(
    fake: FakeUpstream, start_gateway: StartGateway, redis_server: RedisServer
) -> None:
    env = redis_env(fake, redis_server)
    key = add(env, "erin", "--max-concurrent", "2")
    one, two = start_gateway(env), start_gateway(env)
    slow(fake, 2.0)
    replies = at_once(6, lambda i: ask(one if i % 2 else two, key))
    assert sorted(r.status_code for r in replies) == [200] * 2 + [429] * 4
    assert settled(two, key)["used"]["in_flight"] == 0
    assert ask(one, key).status_code == 200  # the slots came back


def test_a_revoked_key_is_refused_on_every_worker_and_host_at_once(
    fake: FakeUpstream, start_gateway: StartGateway, redis_server: RedisServer, tmp_path: Path
) -> None:
    for env in (file_env(fake, tmp_path), redis_env(fake, redis_server)):
        key = add(env, "frank")
        gateways = [start_gateway(env), start_gateway(env)]
        assert all(ask(g, key).status_code == 200 for g in gateways)
        cli(env, "revoke", "frank")
        replies = [ask(g, key) for g in gateways for _ in range(4)]
        assert {r.status_code for r in replies} == {403}
        assert replies[0].json()["error"]["code"] == "client_key_revoked"
        new = cli(env, "rotate", "frank").split("rotated frank: ", 1)[1].split()[0]
        assert ask(gateways[0], new).status_code == 200
        assert ask(gateways[1], key).status_code == 401  # the old key is no key at all now


def test_limits_and_budgets_survive_a_restart(
    fake: FakeUpstream, start_gateway: StartGateway, tmp_path: Path
) -> None:
    env = file_env(fake, tmp_path)
    key = add(env, "gina", "--rpm", "2", "--budget", "1")
    gateway = start_gateway(env)
    assert [ask(gateway, key).status_code for _ in range(2)] == [200, 200]
    gateway.stop()
    again = start_gateway(env)
    assert ask(again, key).status_code == 429
    assert me(again, key)["used"]["spent"] == pytest.approx(0.014)


def test_a_store_outage_leaves_limits_enforced_per_worker_with_one_warning(
    fake: FakeUpstream, start_gateway: StartGateway, redis_server: RedisServer
) -> None:
    env = redis_env(fake, redis_server)
    key = add(env, "hank", "--rpm", "3")
    gateway = start_gateway(env)
    assert ask(gateway, key).status_code == 200
    unseen = add(env, "hugo")  # a good key, made after the gateway last read the store
    redis_server.stop()
    codes = [ask(gateway, key).status_code for _ in range(5)]
    assert codes == [200, 200, 429, 429, 429]  # this worker's own copy went on counting
    away = ask(gateway, unseen)
    assert away.status_code == 503  # not 401: the key may be fine, the store cannot say
    assert away.json()["error"]["code"] == "state_unavailable"
    wait_until(lambda: "does not answer" in gateway.logs(), message="the outage was noticed")
    assert gateway.logs().count("does not answer") == 1


def test_a_failure_a_client_that_leaves_and_a_failover_each_settle_once(
    fake: FakeUpstream, start_gateway: StartGateway, tmp_path: Path
) -> None:
    env = file_env(fake, tmp_path, KEY_A, KEY_B) | {"ROTATION_MODE": "sequential"}  # A first
    key = add(env, "ivy", "--budget", "10", "--max-concurrent", "4")
    gateway = start_gateway(env)
    body = {**BODY, "max_tokens": 20}
    # A failure nothing can serve: released, nothing spent.
    fake.script(KEY_A, Reply(status=400, body={"error": {"message": "bad", "type": "x"}}))
    assert ask(gateway, key, body).status_code == 400
    found = settled(gateway, key)
    assert (found["used"]["in_flight"], found["used"]["spent"]) == (0, 0)
    # A failover: the first key is rate-limited, the second serves; counted once, at its cost.
    fake.script(KEY_A, Reply(status=429, headers={"Retry-After": "60"}))
    reply = ask(gateway, key, body)
    assert reply.status_code == 200, reply.text
    assert reply.headers["X-Attempts"] == "2"
    found = settled(gateway, key)
    assert found["used"]["spent"] == pytest.approx(0.007)
    # A client that leaves mid-stream: no usage came, so its whole reservation ($0.02) counts.
    stalled = Reply(events=stream_events("fake-model", ["a", "b", "c"]), stall_after=2)
    fake.script(KEY_B, stalled)  # KEY_A cools down now
    with requests.post(gateway.url + "/v1/chat/completions", json={**body, "stream": True},
                       headers={"Authorization": f"Bearer {key}"}, stream=True,
                       timeout=30) as streamed:  # fmt: skip
        assert streamed.status_code == 200
        next(streamed.iter_lines())
    found = settled(gateway, key)
    assert found["used"]["in_flight"] == 0
    assert found["used"]["spent"] == pytest.approx(0.007 + 0.02)


def test_models_providers_and_tiers_are_enforced_before_any_upstream(
    fake: FakeUpstream, start_gateway: StartGateway, tmp_path: Path
) -> None:
    env = file_env(fake, tmp_path)
    key = add(env, "jack", "--models", "fake/other-*")
    gateway = start_gateway(env)
    refused = ask(gateway, key)
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "model_not_allowed"
    assert ask(gateway, key, {**BODY, "model": "fake/other-model"}).status_code == 200
    messages = requests.post(gateway.url + "/v1/messages", headers={"x-api-key": key},
                             json={"model": "fake/fake-model", "max_tokens": 5,
                                   "messages": [{"role": "user", "content": "hi"}]},
                             timeout=30)  # fmt: skip
    assert messages.status_code == 403
    assert messages.json()["type"] == "error"  # in the Messages dialect's shape
    embedding = {"model": "fake/fake-model", "input": "x"}
    embeddings = requests.post(gateway.url + "/v1/embeddings", json=embedding,
                               headers={"Authorization": f"Bearer {key}"}, timeout=30)  # fmt: skip
    assert embeddings.status_code == 403
    assert listed(gateway, key) == ["fake/other-model"]  # the models it may use, no others
    assert listed(gateway, CLIENT_KEY) == ["fake/fake-model", "fake/other-model"]
    assert requests.get(gateway.url + "/v1/models/fake/fake-model", timeout=30,
                        headers={"Authorization": f"Bearer {key}"}).status_code == 404  # fmt: skip
    cli(env, "set", "jack", "--models", "", "--providers", "openai")
    assert ask(gateway, key).json()["error"]["code"] == "provider_not_allowed"
    assert listed(gateway, key) == []  # no provider it may use serves anything
    assert len(fake.hits_for(None, "/v1/chat/completions")) == 1


def listed(gateway: Gunicorn, key: str) -> list[str]:
    """The model ids ``GET /v1/models`` lists to ``key``."""
    reply = requests.get(gateway.url + "/v1/models", headers={"Authorization": f"Bearer {key}"},
                         timeout=30)  # fmt: skip
    assert reply.status_code == 200
    return sorted(m["id"] for m in reply.json()["data"])


def test_usage_per_client_key_and_me_never_show_another_key_or_a_key_in_clear(
    fake: FakeUpstream, start_gateway: StartGateway, tmp_path: Path
) -> None:
    env = file_env(fake, tmp_path) | {
        "ADMIN_API_KEY": "admin-key-for-usage-test",
        "METRICS_API_KEY": "",
    }
    alice, bob = add(env, "alice", "--budget", "5"), add(env, "bob")
    gateway = start_gateway(env)
    assert ask(gateway, alice).status_code == 200
    assert ask(gateway, bob).status_code == 200
    assert ask(gateway, CLIENT_KEY).status_code == 200
    assert me(gateway, alice)["name"] == "alice"
    assert "bob" not in json.dumps(me(gateway, alice))
    assert requests.get(gateway.url + "/v1/usage", headers={"Authorization": f"Bearer {alice}"},
                        timeout=30).status_code == 403  # fmt: skip
    usage: dict[str, Any] = {}
    wait_until(lambda: bool(usage.update(_usage(gateway, "admin-key-for-usage-test")) or usage),
               message="usage written")  # fmt: skip
    by_client = {row["client"] for row in usage["clients"]}
    assert {"alice", "bob", "(proxy key)"} <= by_client
    alice_row = next(row for row in usage["clients"] if row["client"] == "alice")
    assert alice_row["cost"] == pytest.approx(0.007)
    assert alice_row["key"].startswith("key-")  # the upstream key, by fingerprint
    metrics = requests.get(gateway.url + "/metrics", timeout=30).text
    assert 'keyrelay_client_requests_total{client="alice"}' in metrics
    logs = gateway.logs()
    assert '"client":"alice"' in logs
    written = b"".join(p.read_bytes() for p in tmp_path.glob("state.db*"))
    for key in (alice, bob):
        secret = key.rsplit("-", 1)[1]
        for seen in (logs, metrics, json.dumps(usage), written.decode("latin-1")):
            assert secret not in seen


def _usage(gateway: Gunicorn, admin: str) -> dict[str, Any]:
    reply = requests.get(gateway.url + "/v1/usage", headers={"Authorization": f"Bearer {admin}"},
                         timeout=30)  # fmt: skip
    body = reply.json()
    return body if len(body.get("clients", [])) >= 3 else {}


def test_a_budget_set_after_a_worker_recalled_the_key_holds_at_its_next_request(
    fake: FakeUpstream, start_gateway: StartGateway, tmp_path: Path
) -> None:
    env = file_env(fake, tmp_path) | {"WEB_CONCURRENCY": "1"}  # the worker that saw it
    key = add(env, "kim")
    gateway = start_gateway(env)
    assert ask(gateway, key).status_code == 200  # the worker now recalls a key with no budget
    cli(env, "set", "kim", "--budget", "0.005")
    refused = ask(gateway, key, {**BODY, "max_tokens": 10})  # reserves $0.01: more than all
    assert refused.status_code == 429
    assert refused.json()["error"]["type"] == "insufficient_quota"
    assert me(gateway, key)["used"]["in_flight"] == 0  # the unpriced first try was given back
    assert ask(gateway, key, {**BODY, "max_tokens": 2}).status_code == 200  # $0.002 fits
