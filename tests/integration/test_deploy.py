"""The deploy/ files: alert rules and dashboard against real /metrics, nginx in front, compose."""

from __future__ import annotations

import json
import re
import shutil
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
import yaml
from prometheus_client.parser import text_string_to_metric_families

from bench.gunicorn import ROOT, Gunicorn
from bench.redisserver import RedisServer
from bench.upstream import free_port, nginx_binary, start_nginx
from tests.fakes.upstream import (
    FakeUpstream,
    Reply,
    endless_words,
    stream_events,
    wait_until,
)

from .helpers import AUTH, CLIENT_KEY, IN_CI, KEY_A, StartGateway, fake_env

pytestmark = pytest.mark.integration

DEPLOY = ROOT / "deploy"
METRIC = re.compile(r"\bkeyrelay_[a-z_]+\b")
CHAT = {"model": "premium/m", "messages": [{"role": "user", "content": "Hi"}]}


@pytest.fixture(scope="module")
def exposed_names() -> Iterator[set[str]]:
    """Sample names in /metrics after traffic that exercises every metric."""
    premium, backup = FakeUpstream(), FakeUpstream()
    env = {
        "PROXY_API_KEY": CLIENT_KEY,
        "PREMIUM_API_BASE": premium.base_url,
        "PREMIUM_API_KEY": "sk-premium-aaaaaaaaaaaaaaaa",
        "PREMIUM_MODELS": "m",
        "PROVIDER_PRIORITY_PREMIUM": "1",
        "BACKUP_API_BASE": backup.base_url,
        "BACKUP_API_KEY": "sk-backup-bbbbbbbbbbbbbbbbbb",
        "BACKUP_MODELS": "m",
        "PROVIDER_PRIORITY_BACKUP": "2",
    }
    gateway = Gunicorn(env)
    try:
        premium.default = lambda hit: Reply(status=429, headers={"Retry-After": "60"})
        assert gateway.request("POST", "/v1/chat/completions", json=CHAT, headers=AUTH).ok
        backup.default = lambda hit: Reply(events=stream_events("m", ["a", "b"]), drop_after=3)
        gateway.request("POST", "/v1/chat/completions", json={**CHAT, "stream": True}, headers=AUTH)
        text = gateway.request("GET", "/metrics").text
    finally:
        gateway.stop()
        premium.close()
        backup.close()
    yield {s.name for family in text_string_to_metric_families(text) for s in family.samples}


def test_alert_rules_are_well_formed_and_use_existing_metrics(exposed_names: set[str]) -> None:
    rules = yaml.safe_load((DEPLOY / "prometheus" / "alerts.yml").read_text())
    alerts = [rule for group in rules["groups"] for rule in group["rules"]]
    names = {rule["alert"] for rule in alerts}
    assert {
        "KeyrelayExcessiveFallback",
        "KeyrelayTierWithoutUsableKeys",
        "KeyrelayTierErrorRate",
        "KeyrelayTierSlow",
    } <= names
    for rule in alerts:
        assert rule["labels"]["severity"] and rule["annotations"]["summary"] and rule["for"]
        used = set(METRIC.findall(rule["expr"]))
        assert used, rule["alert"]
        assert used <= exposed_names, f"{rule['alert']} uses {used - exposed_names}"


def test_dashboard_queries_use_existing_metrics(exposed_names: set[str]) -> None:
    dashboard = json.loads((DEPLOY / "grafana" / "keyrelay-dashboard.json").read_text())
    exprs = [t["expr"] for panel in dashboard["panels"] for t in panel["targets"]]
    used = {name for expr in exprs for name in METRIC.findall(expr)}
    assert used <= exposed_names, used - exposed_names
    # Every kind of figure the issue asks for has a panel.
    for name in (
        "keyrelay_fallbacks_total",
        "keyrelay_upstream_ttft_seconds_bucket",
        "keyrelay_proxy_overhead_seconds_bucket",
        "keyrelay_keys",
        "keyrelay_circuit_state",
        "keyrelay_open_streams",
        "keyrelay_stream_errors_total",
        "keyrelay_cached_prompt_tokens_total",
    ):
        assert name in used


# -- nginx ------------------------------------------------------------------------------


class Nginx:
    """A real nginx serving deploy/nginx.conf on a loopback port, in front of ``upstream``."""

    def __init__(self, upstream: Gunicorn, **replace: str) -> None:
        self.upstream = upstream
        self.dir = Path(tempfile.mkdtemp(prefix="keyrelay-nginx-"))
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        site = (DEPLOY / "nginx.conf").read_text()
        site = site.replace("server keyrelay:8000;", f"server 127.0.0.1:{upstream.port};")
        site = site.replace("listen 80;", f"listen 127.0.0.1:{self.port};")
        for old, new in replace.items():
            assert old in site, old
            site = site.replace(old, new)
        (self.dir / "site.conf").write_text(site)
        self.process = start_nginx(self.dir, f"    include {self.dir}/site.conf;")
        wait_until(self._answers, timeout=15, message="nginx listening")

    def _answers(self) -> bool:
        assert self.process.poll() is None, (self.dir / "error.log").read_text()
        try:
            requests.get(self.url + "/health", timeout=1)
            return True
        except requests.ConnectionError:
            return False

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=10)
        shutil.rmtree(self.dir, ignore_errors=True)


#: In CI (CI=true) a missing nginx fails these tests instead of skipping them.
needs_nginx = pytest.mark.skipif(
    nginx_binary() is None and not IN_CI,
    reason="no nginx binary (.ci/run installs it from the distribution)",
)


@pytest.fixture
def nginx(start_gateway: StartGateway, fake: FakeUpstream) -> Iterator[Nginx]:
    server = Nginx(start_gateway(fake_env(fake)))
    yield server
    server.stop()


@needs_nginx
def test_nginx_relays_stream_events_as_they_arrive(nginx: Nginx, fake: FakeUpstream) -> None:
    words = ["one", " two", " three"]
    reply = Reply(events=stream_events("m", words), gated=True)
    fake.default = lambda hit: reply
    reply.advance()
    body = {"model": "fake/fake-model", "messages": CHAT["messages"], "stream": True}
    with requests.post(
        nginx.url + "/v1/chat/completions", json=body, headers=AUTH, stream=True, timeout=20
    ) as response:
        assert response.status_code == 200
        lines = (line for line in response.iter_lines(chunk_size=1) if line.startswith(b"data: "))
        assert b'"role":"assistant"' in next(lines)
        # The fake sends each next word only after the client has the previous one,
        # through nginx: any buffering on the way would stall here.
        for word in words:
            assert json.loads(next(lines)[6:])["choices"][0]["delta"]["content"] == word
            reply.advance()
        assert b'"finish_reason":"stop"' in next(lines)
        assert next(lines) == b"data: [DONE]"


@needs_nginx
def test_nginx_health_request_id_and_json_errors(nginx: Nginx) -> None:
    health = requests.get(nginx.url + "/health", timeout=5)
    assert health.status_code == 200 and health.json() == {"status": "ok"}
    minted = requests.get(nginx.url + "/v1/models", headers=AUTH, timeout=5)
    assert minted.ok and len(minted.headers["X-Request-ID"]) == 32
    echoed = requests.get(
        nginx.url + "/v1/models", headers={**AUTH, "X-Request-ID": "abc-1"}, timeout=5
    )
    assert echoed.headers["X-Request-ID"] == "abc-1"
    too_big = requests.post(
        nginx.url + "/v1/chat/completions",
        data=b"x" * (11 * 1024 * 1024),
        headers={**AUTH, "Content-Type": "application/json"},
        timeout=20,
    )
    assert too_big.status_code == 413
    assert too_big.json()["error"]["code"] == "request_too_large"


@needs_nginx
def test_nginx_closes_a_stream_nobody_reads_and_keyrelay_frees_the_key(
    start_gateway: StartGateway, fake: FakeUpstream
) -> None:
    env = fake_env(fake, KEY_A, MAX_CONCURRENT_REQUESTS_PER_KEY_FAKE="1")
    # The shipped send_timeout, shortened for the test: keyrelay's own limit stays far away.
    proxy = Nginx(start_gateway({**env, "CLIENT_SEND_TIMEOUT": "300"}), **{
        "send_timeout 30s;": "send_timeout 2s;"
    })  # fmt: skip
    reply = Reply(headers={"Content-Type": "text/event-stream"}, pieces=lambda: endless_words("m"))
    fake.script(KEY_A, reply)
    body = json.dumps({"model": "fake/fake-model", "messages": CHAT["messages"], "stream": True})
    head = (
        f"POST /v1/chat/completions HTTP/1.1\r\nHost: k\r\nAuthorization: Bearer {CLIENT_KEY}"
        f"\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    try:
        with socket.socket() as sleeper:
            sleeper.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            sleeper.connect(("127.0.0.1", proxy.port))
            sleeper.sendall(head.encode() + body.encode())
            wait_until(reply.disconnected.is_set, timeout=17, message="the upstream stream closed")
            follow = requests.post(
                proxy.url + "/v1/chat/completions",
                json={"model": "fake/fake-model", "messages": CHAT["messages"]},
                headers=AUTH,
                timeout=10,
            )
            assert follow.status_code == 200
    finally:
        proxy.stop()


@needs_nginx
def test_nginx_answers_bad_heads_in_the_envelope(nginx: Nginx) -> None:
    with socket.create_connection(("127.0.0.1", nginx.port), timeout=10) as sock:
        sock.sendall(b"GET /health HTTP/1.1\r\nHost: k\r\nX-Big: " + b"b" * 40000 + b"\r\n\r\n")
        answer = b""
        while data := sock.recv(65536):
            answer += data
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 400")
    assert json.loads(body)["error"]["code"] == "bad_request"


@needs_nginx
def test_nginx_answers_json_when_keyrelay_is_down(nginx: Nginx) -> None:
    nginx.upstream.stop()
    response = requests.get(nginx.url + "/v1/models", headers=AUTH, timeout=10)
    assert response.status_code == 502
    assert response.json()["error"]["code"] == "proxy_unavailable"


# -- docker compose ---------------------------------------------------------------------


def test_compose_file_wires_proxy_nginx_and_healthchecks() -> None:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    proxy, nginx = compose["services"]["keyrelay"], compose["services"]["nginx"]
    assert proxy["build"] == "." and proxy["env_file"] == ".env"
    assert proxy["environment"]["BIND"] == "0.0.0.0:8000"
    assert proxy["healthcheck"]["test"] and nginx["healthcheck"]["test"]
    assert "./deploy/nginx.conf:/etc/nginx/conf.d/default.conf:ro" in nginx["volumes"]
    assert nginx["depends_on"]["keyrelay"]["condition"] == "service_healthy"
    assert "keyrelay:8000" in (DEPLOY / "nginx.conf").read_text()


def _compose_command() -> list[str] | None:
    if (
        shutil.which("docker")
        and subprocess.run(["docker", "compose", "version"], capture_output=True).returncode == 0
    ):
        return ["docker", "compose"]
    if shutil.which("docker-compose"):
        return ["docker-compose"]
    return None


@pytest.mark.skipif(_compose_command() is None, reason="docker compose is not installed here")
def test_docker_compose_config_validates(tmp_path: Path) -> None:
    env_file = ROOT / ".env"
    created = not env_file.exists()
    if created:
        env_file.write_text("PROXY_API_KEY=x\n")
    try:
        result = subprocess.run(
            [*(_compose_command() or []), "config", "-q"], cwd=ROOT, capture_output=True, text=True
        )
    finally:
        if created:
            env_file.unlink()
    assert result.returncode == 0, result.stderr


@pytest.fixture(scope="module")
def runtime_venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A virtualenv with requirements.txt alone, installed as the Dockerfile does (--no-deps)."""
    venv = tmp_path_factory.mktemp("runtime") / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    python = venv / "bin" / "python"
    subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
         "--no-deps", "-r", str(ROOT / "requirements.txt")],
        check=True,
        timeout=600,
    )  # fmt: skip
    return python


@pytest.mark.parametrize("worker_class", ["gevent", "gthread"])
def test_every_worker_class_boots_from_the_runtime_lock_alone(
    runtime_venv: Path, fake: FakeUpstream, worker_class: str
) -> None:
    gateway = Gunicorn(fake_env(fake), worker_class=worker_class, python=str(runtime_venv))
    try:
        answer = gateway.request(
            "POST",
            "/v1/chat/completions",
            json={"model": "fake/fake-model", "messages": [{"role": "user", "content": "Hi"}]},
            headers=AUTH,
        )
        assert answer.status_code == 200
    finally:
        gateway.stop()


def test_the_runtime_lock_alone_boots_on_redis_state(
    runtime_venv: Path, fake: FakeUpstream, redis_server: RedisServer
) -> None:
    env = fake_env(fake, STATE_URL=redis_server.url)
    gateway = Gunicorn(env, worker_class="gevent", python=str(runtime_venv))
    try:
        answer = gateway.request(
            "POST",
            "/v1/chat/completions",
            json={"model": "fake/fake-model", "messages": [{"role": "user", "content": "Hi"}]},
            headers=AUTH,
        )
        assert answer.status_code == 200
        assert gateway.request("GET", "/ready").json()["state"] == "shared"
    finally:
        gateway.stop()


def test_the_redis_compose_file_points_keyrelay_at_its_redis() -> None:
    redis_file = yaml.safe_load((ROOT / "docker-compose.redis.yml").read_text())
    proxy, redis = redis_file["services"]["keyrelay"], redis_file["services"]["redis"]
    assert proxy["environment"]["STATE_URL"] == "redis://redis:6379/0"
    assert proxy["depends_on"]["redis"]["condition"] == "service_healthy"
    assert redis["healthcheck"]["test"] and "6379" in redis["expose"]
    base = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    assert "keyrelay-state:/srv/keyrelay/.keyrelay" in base["services"]["keyrelay"]["volumes"]
    assert "VOLUME /srv/keyrelay/.keyrelay" in (ROOT / "Dockerfile").read_text()
