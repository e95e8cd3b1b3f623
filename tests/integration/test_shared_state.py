"""Key state shared by every worker of a host and kept across restarts (STATE_URL=sqlite)."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest
import requests

from bench.gunicorn import Gunicorn
from tests.fakes.upstream import FakeUpstream, Reply, wait_until

from .helpers import AUTH, KEY_A, KEY_B, StartGateway, fake_env

pytestmark = pytest.mark.integration

CHAT = {"model": "fake/fake-model", "messages": [{"role": "user", "content": "Hi"}]}


def ask_on_new_connections(url: str, count: int) -> list[int]:
    statuses = []
    for _ in range(count):
        with requests.Session() as session:  # a new connection: any worker may take it
            statuses.append(
                session.post(url + "/v1/chat/completions", json=CHAT, headers=AUTH).status_code
            )
    return statuses


def until_two_workers_served(gateway_url: str, logs: Callable[[], str]) -> list[int]:
    """Requests on new connections until at least two workers have served (200 at most)."""
    statuses: list[int] = []
    while len(pids_that_served(logs())) < 2:
        assert len(statuses) < 200, "the requests never reached a second worker"
        statuses += ask_on_new_connections(gateway_url, 5)
    return statuses


def request_lines(logs: str) -> list[dict[str, object]]:
    lines = [json.loads(line) for line in logs.splitlines() if line.startswith("{")]
    return [line for line in lines if line.get("msg") == "request"]


def pids_that_served(logs: str) -> set[int]:
    return {int(str(line["pid"])) for line in request_lines(logs)}


def wait_for_request_lines(logs: Callable[[], str], count: int) -> None:
    """A request's line is written when its response closes, after the client has the last
    byte: wait (with a deadline) until every request sent has one."""
    wait_until(
        lambda: len(request_lines(logs())) >= count, timeout=10, message=f"{count} request lines"
    )


def test_a_rate_limited_key_is_asked_once_by_four_workers(
    start_gateway: StartGateway, fake: FakeUpstream, tmp_path: Path
) -> None:
    fake.default = lambda hit: (
        Reply(status=429, headers={"Retry-After": "60"}) if hit.key == KEY_A else None
    )
    env = fake_env(fake, KEY_A, KEY_B, WEB_CONCURRENCY="4", STATE_URL=f"sqlite:///{tmp_path}/s.db")
    gateway = start_gateway(env)
    statuses = until_two_workers_served(gateway.url, gateway.logs)
    assert statuses == [200] * len(statuses)
    assert len(fake.hits_for(KEY_A, path="/chat/completions")) == 1


def test_each_worker_asks_the_rate_limited_key_with_per_process_state(
    start_gateway: StartGateway, fake: FakeUpstream
) -> None:
    """The control: with memory:// every worker learns the 429 for itself."""
    fake.default = lambda hit: (
        Reply(status=429, headers={"Retry-After": "60"}) if hit.key == KEY_A else None
    )
    env = fake_env(fake, KEY_A, KEY_B, WEB_CONCURRENCY="4", STATE_URL="memory://")
    gateway = start_gateway(env)
    statuses = until_two_workers_served(gateway.url, gateway.logs)
    assert statuses == [200] * len(statuses)
    wait_for_request_lines(gateway.logs, len(statuses))
    served_by = pids_that_served(gateway.logs())
    assert len(fake.hits_for(KEY_A, path="/chat/completions")) == len(served_by) > 1


def test_a_key_out_of_quota_stays_aside_after_a_restart(
    start_gateway: StartGateway, fake: FakeUpstream, tmp_path: Path
) -> None:
    fake.script(KEY_A, Reply(status=402))
    env = fake_env(fake, KEY_A, KEY_B, STATE_URL=f"sqlite:///{tmp_path}/s.db")
    first = start_gateway(env)
    assert ask_on_new_connections(first.url, 1) == [200]
    first.stop()
    again = start_gateway(env)  # a restart on the same state file
    assert ask_on_new_connections(again.url, 5) == [200] * 5
    assert len(fake.hits_for(KEY_A, path="/chat/completions")) == 1
    listing = again.request("GET", "/v1/providers", headers=AUTH).json()["data"][0]
    assert listing["exhausted"] == 1


def test_an_unusable_state_file_stops_start_up_naming_it(
    start_gateway: StartGateway, fake: FakeUpstream, tmp_path: Path
) -> None:
    broken = tmp_path / "state.db"
    broken.write_bytes(b"this is not an SQLite database, not even close" * 100)
    with pytest.raises(RuntimeError) as failed:
        start_gateway(fake_env(fake, STATE_URL=f"sqlite:///{broken}"))
    assert str(broken) in str(failed.value)


def test_usage_adds_up_over_workers_and_shows_no_key(
    start_gateway: StartGateway, fake: FakeUpstream, tmp_path: Path
) -> None:
    state = tmp_path / "s.db"
    env = fake_env(
        fake,
        KEY_A,
        WEB_CONCURRENCY="2",
        STATE_URL=f"sqlite:///{state}",
        FAKE_STREAM_USAGE="true",
        ADMIN_API_KEY="admin-key-for-usage",
    )
    gateway = start_gateway(env)
    assert ask_on_new_connections(gateway.url, 6) == [200] * 6  # whole: 5 + 7 = 12 tokens each
    for _ in range(4):  # streamed, the client not asking for usage: keyrelay asks for it
        with requests.Session() as session:
            body = {**CHAT, "stream": True}
            streamed = session.post(gateway.url + "/v1/chat/completions", json=body, headers=AUTH)
            assert streamed.status_code == 200 and b'"usage":{' not in streamed.content
    hits = fake.hits_for(KEY_A, path="/chat/completions")
    assert [h.body["stream_options"] for h in hits if (h.body or {}).get("stream")] == [
        {"include_usage": True}
    ] * 4
    admin = {"Authorization": "Bearer admin-key-for-usage"}

    def usage_row() -> dict[str, int]:
        answer = gateway.request("GET", "/v1/usage?provider=fake&days=1", headers=admin)
        assert answer.status_code == 200, answer.text
        rows: list[dict[str, int]] = answer.json()["data"]
        return rows[0] if rows else {}

    # Each worker writes its counts within a second (one write a second, not per request).
    wait_until(
        lambda: (usage_row().get("requests"), usage_row().get("total_tokens")) == (10, 108),
        timeout=10,
        message="every count and token written",
    )
    row = usage_row()
    assert (row["requests"], row["succeeded"], row["failed"]) == (10, 10, 0)
    # Whole: 5 prompt + 7 completion; streamed: 5 prompt + 4 completion (one per word).
    assert (row["prompt_tokens"], row["completion_tokens"]) == (50, 6 * 7 + 4 * 4)
    assert row["total_tokens"] == 50 + 58
    answer = gateway.request("GET", "/v1/usage?provider=fake&days=1", headers=admin)
    assert row["key"].startswith("key-") and KEY_A not in answer.text
    assert KEY_A.encode() not in state.read_bytes() and KEY_A not in gateway.logs()
    assert gateway.request("GET", "/v1/usage").status_code == 401  # never open


def test_usage_is_never_open(start_gateway: StartGateway, fake: FakeUpstream) -> None:
    env = fake_env(fake)
    del env["PROXY_API_KEY"]
    gateway = start_gateway(env)
    assert gateway.request("GET", "/v1/usage").status_code == 403


def test_a_locked_state_file_degrades_to_local_state_and_requests_go_on(
    start_gateway: StartGateway, fake: FakeUpstream, tmp_path: Path
) -> None:
    state = tmp_path / "s.db"
    env = fake_env(fake, STATE_URL=f"sqlite:///{state}", STATE_TIMEOUT="0.02")
    gateway = start_gateway(env)
    assert ask_on_new_connections(gateway.url, 1) == [200]
    blocker = sqlite3.connect(state, isolation_level=None)
    blocker.execute("BEGIN EXCLUSIVE")  # the file does not answer in time
    try:
        assert ask_on_new_connections(gateway.url, 5) == [200] * 5
        # Choosing a key only reads (WAL readers go on); the write of its last use, within a
        # second, finds the file locked.
        wait_until(lambda: state_of(gateway) == "degraded", timeout=10, message="degraded")
        assert gateway.request("GET", "/ready").status_code == 200
        assert ask_on_new_connections(gateway.url, 1) == [200]
        wait_until(
            lambda: any(line["state"] == "degraded" for line in request_lines(gateway.logs())),
            timeout=10,
            message="a request logged as served from the worker's own state",
        )
        text = gateway.request("GET", "/metrics").text
        assert "keyrelay_state_store_up" in text
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    assert ask_on_new_connections(gateway.url, 1) == [200]
    wait_until(lambda: state_of(gateway) == "shared", timeout=10, message="shared again")
    assert gateway.logs().count("does not answer") == 1  # one warning, not one per request


def state_of(gateway: Gunicorn) -> str:
    return str(gateway.request("GET", "/ready").json()["state"])


def test_a_failing_provider_opens_one_circuit_for_every_worker(
    start_gateway: StartGateway, fake: FakeUpstream, tmp_path: Path
) -> None:
    backup = FakeUpstream()
    try:
        fake.default = lambda hit: Reply(status=500)
        env = {
            **fake_env(fake, KEY_A, WEB_CONCURRENCY="4", STATE_URL=f"sqlite:///{tmp_path}/s.db"),
            "PROVIDER_PRIORITY_FAKE": "1",
            "BACKUP_API_BASE": backup.base_url,
            "BACKUP_API_KEY": "sk-backup-key-eeeeeeeeeeeeee",
            "BACKUP_MODELS": "fake-model",
            "PROVIDER_PRIORITY_BACKUP": "2",
            "CIRCUIT_MIN_CALLS": "3",
        }
        gateway = start_gateway(env)
        statuses = until_two_workers_served(gateway.url, gateway.logs)
        statuses += ask_on_new_connections(gateway.url, 10)
        assert statuses == [200] * len(statuses)  # the backup served every one
        # CIRCUIT_MIN_CALLS (3) failed calls in all, whichever workers saw them.
        assert len(fake.hits_for(path="/chat/completions")) == 3
        state = gateway.request("GET", "/v1/providers", headers=AUTH).json()["data"][0]
        assert (state["provider"], state["circuit"]) == ("fake", "open")
    finally:
        backup.close()
