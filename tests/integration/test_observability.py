"""Metrics and logs as an operator reads them, from a real gunicorn with several workers."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from bench.gunicorn import Gunicorn
from tests.fakes.upstream import FakeUpstream, Reply, stream_events, wait_until

from .helpers import AUTH, CLIENT_KEY, KEY_A, KEY_B, StartGateway, fake_env

pytestmark = pytest.mark.integration

CHAT = {"model": "fake/fake-model", "messages": [{"role": "user", "content": "Hi"}]}


def samples(
    gateway: Gunicorn, **headers: str
) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """Every sample of /metrics, keyed by (name, labels) (the pid label of live gauges dropped)."""
    response = gateway.request("GET", "/metrics", headers=headers)
    assert response.status_code == 200, response.text
    found: dict[tuple[str, frozenset[tuple[str, str]]], float] = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            labels = frozenset((k, v) for k, v in sample.labels.items() if k != "pid")
            key = (sample.name, labels)
            found[key] = found.get(key, 0.0) + sample.value
    return found


def value(
    found: dict[tuple[str, frozenset[tuple[str, str]]], float], name: str, **labels: str
) -> float:
    """The sum of the samples called ``name`` whose labels include ``labels``."""
    wanted = set(labels.items())
    return sum(v for (n, ls), v in found.items() if n == name and wanted <= ls)


def log_lines(gateway: Gunicorn) -> list[dict[str, object]]:
    """The JSON lines keyrelay logged (gunicorn's own lines are not JSON)."""
    lines = []
    for line in gateway.logs().splitlines():
        if line.startswith("{"):
            lines.append(json.loads(line))
    return lines


def requests_logged(gateway: Gunicorn) -> list[dict[str, object]]:
    return [line for line in log_lines(gateway) if line["msg"] == "request"]


def test_figures_from_every_worker_add_up(start_gateway: StartGateway, fake: FakeUpstream) -> None:
    gateway = start_gateway(fake_env(fake, WEB_CONCURRENCY="2"))
    sent = 0
    # New connections until both workers have served (the pid in each log line says who).
    while (
        len(
            {
                line["pid"]
                for line in requests_logged(gateway)
                if line["route"] == "/v1/chat/completions"
            }
        )
        < 2
    ):
        assert sent < 300, "one worker served everything"
        response = requests.post(
            gateway.url + "/v1/chat/completions",
            json=CHAT,
            headers={**AUTH, "Connection": "close"},
            timeout=10,
        )
        assert response.status_code == 200
        sent += 1
        wait_until(lambda n=sent: len(requests_logged(gateway)) >= n, message="log line")
    found = samples(gateway)
    assert (
        value(found, "keyrelay_requests_total", route="/v1/chat/completions", status="200") == sent
    )
    assert (
        value(found, "keyrelay_upstream_attempts_total", provider="fake", outcome="success") == sent
    )
    assert value(found, "keyrelay_requests_in_flight") == 0


def test_failover_figures(start_gateway: StartGateway) -> None:
    premium, backup = FakeUpstream(), FakeUpstream()
    try:
        env = {
            "PROXY_API_KEY": CLIENT_KEY,
            "PREMIUM_API_BASE": premium.base_url,
            "PREMIUM_API_KEY_1": KEY_A,
            "PREMIUM_API_KEY_2": KEY_B,
            "PREMIUM_MODELS": "m",
            "PROVIDER_PRIORITY_PREMIUM": "1",
            "BACKUP_API_BASE": backup.base_url,
            "BACKUP_API_KEY": "sk-backup-key-cccccccccccccc",
            "BACKUP_MODELS": "m",
            "PROVIDER_PRIORITY_BACKUP": "2",
        }
        gateway = start_gateway(env)
        premium.default = lambda hit: Reply(status=429, headers={"Retry-After": "60"})
        body = {"model": "premium/m", "messages": CHAT["messages"]}
        assert gateway.request("POST", "/v1/chat/completions", json=body, headers=AUTH).ok
        backup.default = lambda hit: Reply(events=stream_events("m", ["a", "b"]), drop_after=3)
        streamed = gateway.request(
            "POST", "/v1/chat/completions", json={**body, "stream": True}, headers=AUTH
        )
        assert '"error"' in streamed.text
        # A request's figures are recorded when its response closes, which the worker
        # finishes after the client has the last byte: wait for the stream's to land.
        wait_until(
            lambda: value(samples(gateway), "keyrelay_requests_total") == 2,
            message="both requests' figures",
        )
        found = samples(gateway)
    finally:
        premium.close()
        backup.close()
    assert (
        value(
            found,
            "keyrelay_upstream_attempts_total",
            provider="premium",
            tier="1",
            outcome="rate_limited",
        )
        == 2
    )
    assert (
        value(
            found,
            "keyrelay_upstream_attempts_total",
            provider="backup",
            tier="2",
            outcome="success",
        )
        == 2
    )
    assert value(found, "keyrelay_fallbacks_total", from_tier="1", to_tier="2") == 2
    assert value(found, "keyrelay_stream_errors_total", provider="backup", tier="2") == 1
    assert value(found, "keyrelay_upstream_ttft_seconds_count", provider="backup") == 2
    assert value(found, "keyrelay_upstream_latency_seconds_count", provider="premium") == 2
    assert value(found, "keyrelay_proxy_overhead_seconds_count", route="/v1/chat/completions") == 2
    assert value(found, "keyrelay_keys", provider="premium", tier="1", state="cooling") == 2
    assert value(found, "keyrelay_keys", provider="backup", state="usable") == 1
    assert value(found, "keyrelay_circuit_state", provider="backup") == 0
    assert value(found, "keyrelay_open_streams") == 0
    assert value(found, "keyrelay_requests_total", model="premium/m", status="200") == 2
    # No key, no client key, anywhere in the exposition.
    text = gateway.request("GET", "/metrics").text
    assert KEY_A not in text and CLIENT_KEY not in text


def test_dead_workers_leave_no_live_gauges(start_gateway: StartGateway, fake: FakeUpstream) -> None:
    gateway = start_gateway(fake_env(fake))
    assert gateway.request("POST", "/v1/chat/completions", json=CHAT, headers=AUTH).ok
    reply = Reply(events=stream_events("m", ["a", "b", "c"]), gated=True)
    fake.default = lambda hit: reply
    reply.advance()
    with gateway.request(
        "POST", "/v1/chat/completions", json={**CHAT, "stream": True}, headers=AUTH, stream=True
    ):
        found = samples(gateway)
        assert value(found, "keyrelay_open_streams") == 1
        assert value(found, "keyrelay_requests_in_flight") == 1
        (worker,) = worker_pids(gateway)
        os.kill(worker, signal.SIGKILL)  # dies mid-stream: its live gauges still say 1
        wait_until(
            lambda: worker_pids(gateway) not in ([], [worker]), timeout=20, message="respawn"
        )
    wait_until(lambda: _healthy(gateway), message="healthy again")
    found = samples(gateway)
    assert value(found, "keyrelay_open_streams") == 0
    assert value(found, "keyrelay_requests_in_flight") == 0
    # The dead worker's counters still count.
    assert value(found, "keyrelay_requests_total", route="/v1/chat/completions", status="200") == 1


def worker_pids(gateway: Gunicorn) -> list[int]:
    children = Path(f"/proc/{gateway.process.pid}/task/{gateway.process.pid}/children")
    return [int(p) for p in children.read_text().split()]


def _healthy(gateway: Gunicorn) -> bool:
    try:
        return gateway.request("GET", "/health", timeout=2).status_code == 200
    except requests.RequestException:
        return False


def test_metrics_key(start_gateway: StartGateway, fake: FakeUpstream) -> None:
    gateway = start_gateway(fake_env(fake, METRICS_API_KEY="scrape-secret"))
    assert gateway.request("GET", "/metrics").status_code == 401
    assert (
        gateway.request("GET", "/metrics", headers={"Authorization": "Bearer nope"}).status_code
        == 401
    )
    assert gateway.request("GET", "/metrics", headers={"Authorization": "Bearer scrape-secret"}).ok


def test_one_json_line_per_request(gateway: Gunicorn, fake: FakeUpstream) -> None:
    gateway.request(
        "POST", "/v1/chat/completions", json=CHAT, headers={**AUTH, "X-Request-ID": "req-1"}
    )
    gateway.request(
        "POST",
        "/v1/chat/completions",
        json={**CHAT, "stream": True},
        headers={**AUTH, "X-Request-ID": "req-2"},
    )
    gateway.request(
        "POST",
        "/v1/chat/completions",
        json={**CHAT, "temperature": 7},
        headers={**AUTH, "X-Request-ID": "req-3"},
    )
    wait_until(lambda: len(requests_logged(gateway)) >= 3, message="three request lines")
    lines = {line["request_id"]: line for line in requests_logged(gateway)}
    whole, stream, bad = lines["req-1"], lines["req-2"], lines["req-3"]
    assert whole["route"] == "/v1/chat/completions" and whole["model"] == "fake/fake-model"
    assert (whole["provider"], whole["tier"], whole["attempts"], whole["status"]) == (
        "fake",
        10,
        1,
        200,
    )
    assert whole["stream"] is False and whole["bytes"] > 0 and whole["latency_ms"] > 0
    assert stream["stream"] is True and stream["bytes"] > whole["bytes"] / 2
    assert (bad["status"], bad["provider"]) == (400, None)
    assert {"ts", "level", "logger", "fallback", "error"} <= set(whole)


def test_text_logs_and_debug_attempts(start_gateway: StartGateway, fake: FakeUpstream) -> None:
    gateway = start_gateway(fake_env(fake, LOG_FORMAT="text", LOG_LEVEL="debug"))
    fake.script(KEY_A, Reply(status=429))
    gateway.request(
        "POST", "/v1/chat/completions", json=CHAT, headers={**AUTH, "X-Request-ID": "t-1"}
    )
    wait_until(lambda: 'request_id="t-1"' in gateway.logs(), message="text request line")
    text = gateway.logs()
    assert 'keyrelay.request: request request_id="t-1"' in text
    assert 'keyrelay.request: attempts request_id="t-1" attempts=' in text
    assert '"outcome": "rate_limited"' in text
    assert KEY_A not in text and KEY_B not in text
