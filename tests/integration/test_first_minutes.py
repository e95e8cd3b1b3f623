"""What a new user, or one arriving with an LLM-API-Key-Proxy .env, meets in the first minutes."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import requests

from bench.gunicorn import ROOT, Gunicorn
from tests.fakes.upstream import FakeUpstream, Hit, Reply, stream_events, wait_until

from .helpers import AUTH, CLIENT_KEY, KEY_A, KEY_B, StartGateway, fake_env
from .test_state_faults import every_worker_back_on_the_file

pytestmark = pytest.mark.integration

CHAT = {"model": "fake-model", "messages": [{"role": "user", "content": "Hi"}]}


def listing_env(fake: FakeUpstream, **extra: str) -> dict[str, str]:
    """A provider whose models are only known by asking the upstream (no FAKE_MODELS)."""
    env = fake_env(fake, **extra)
    del env["FAKE_MODELS"]
    return env


# -- 1. the first request on a fresh worker ------------------------------------------------


def test_the_first_request_for_a_listed_model_is_served_on_every_worker(
    start_gateway: StartGateway, fake: FakeUpstream
) -> None:
    listed = {"object": "list", "data": [{"id": "fake-model", "object": "model"}]}

    def slow_listing(hit: Hit) -> Reply | None:
        return Reply(delay=0.3, body=listed) if hit.path.endswith("/models") else None

    fake.default = slow_listing
    gateway = start_gateway(listing_env(fake, WEB_CONCURRENCY="2"))
    results: list[int] = []

    def ask() -> None:  # a new connection each time: both workers get first requests
        with requests.Session() as session:
            answer = session.post(gateway.url + "/v1/chat/completions", json=CHAT, headers=AUTH)
            results.append(answer.status_code)

    threads = [threading.Thread(target=ask) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert results == [200] * 8
    # Concurrent first requests share a worker's fetch: at most one listing per worker.
    assert len(fake.hits_for(path="/models")) <= 2


def test_a_provider_whose_list_cannot_be_fetched_still_gets_the_request(
    start_gateway: StartGateway, fake: FakeUpstream
) -> None:
    fake.default = lambda hit: Reply(status=500) if hit.path.endswith("/models") else None
    gateway = start_gateway(listing_env(fake))
    answer = gateway.request("POST", "/v1/chat/completions", json=CHAT, headers=AUTH)
    assert answer.status_code == 200  # the upstream judged, and served it


# -- 2. nothing configured -----------------------------------------------------------------


def test_with_no_provider_the_error_says_how_to_configure_one(
    start_gateway: StartGateway,
) -> None:
    gateway = start_gateway({"PROXY_API_KEY": CLIENT_KEY})
    answer = gateway.request("POST", "/v1/chat/completions", json=CHAT, headers=AUTH)
    assert answer.status_code == 503
    error = answer.json()["error"]
    assert error["code"] == "no_provider_configured"
    assert "_API_KEY" in error["message"] and ".env" in error["message"]


# -- 4. a key without its scheme -----------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "said"),
    [(CLIENT_KEY, "'Bearer ' scheme"), (f"Basic {CLIENT_KEY}", "scheme 'Basic'")],
)
def test_a_missing_or_wrong_scheme_is_named(gateway: Gunicorn, header: str, said: str) -> None:
    answer = gateway.request(
        "POST", "/v1/chat/completions", json=CHAT, headers={"Authorization": header}
    )
    assert answer.status_code == 401
    assert said in answer.json()["error"]["message"]
    assert CLIENT_KEY not in answer.text


# -- 6. a tier per G4F endpoint ---------------------------------------------------------------


def test_each_g4f_endpoint_can_have_its_own_tier(
    start_gateway: StartGateway, fake: FakeUpstream
) -> None:
    backup = FakeUpstream()
    try:
        env = {
            **fake_env(backup, PROVIDER_PRIORITY_FAKE="3"),
            "G4F_MAIN_API_BASE": fake.base_url,
            "G4F_GROQ_API_BASE": fake.base_url,
            "PROVIDER_PRIORITY_G4F_MAIN": "2",
        }
        gateway = start_gateway(env)
        tiers = {
            p["provider"]: p["tier"]
            for p in gateway.request("GET", "/v1/providers", headers=AUTH).json()["data"]
        }
        assert tiers == {"fake": 3, "g4f-main": 2, "g4f-groq": 5}
        answer = gateway.request("POST", "/v1/chat/completions", json=CHAT, headers=AUTH)
        assert answer.headers["X-Provider"] == "g4f-main"  # tier 2 before tier 3
    finally:
        backup.close()


# -- 7. busy keys wait their turn ------------------------------------------------------------


def test_a_request_waits_for_a_busy_key_and_is_served(
    start_gateway: StartGateway, fake: FakeUpstream
) -> None:
    gateway = start_gateway(fake_env(fake, KEY_A, MAX_CONCURRENT_REQUESTS_PER_KEY_FAKE="1"))
    held = Reply(events=stream_events("fake-model", ["a", "b", "c"]), gated=True)
    fake.script(KEY_A, held)
    held.advance()  # the first words go out: the stream commits and holds the only key
    stream = {"model": "fake/fake-model", "messages": CHAT["messages"], "stream": True}
    waiting: list[requests.Response] = []
    with gateway.request(
        "POST", "/v1/chat/completions", json=stream, headers=AUTH, stream=True
    ) as first:
        assert first.status_code == 200
        waiter = threading.Thread(
            target=lambda: waiting.append(
                gateway.request("POST", "/v1/chat/completions", json=CHAT, headers=AUTH)
            )
        )
        waiter.start()
        wait_until(
            lambda: (
                gateway.request("GET", "/v1/providers", headers=AUTH).json()["data"][0][
                    "waiting_for_key"
                ]
                == 1
            ),
            message="the second request waiting for the key",
        )
        held.advance(5)  # the stream ends: its key is given back
        assert first.content.endswith(b"data: [DONE]\n\n")
    waiter.join(timeout=20)
    assert [w.status_code for w in waiting] == [200]
    assert waiting[0].headers["X-Attempts"] == "1"


# -- 8. a model the operator hid is said to be skipped ---------------------------------------


def test_an_ignored_model_served_elsewhere_shows_the_skip(
    start_gateway: StartGateway, fake: FakeUpstream
) -> None:
    other = FakeUpstream(models=["text-embedding-3-small"])
    try:
        env = {
            **fake_env(
                fake, FAKE_MODELS="text-embedding-3-small", IGNORE_MODELS_FAKE="*embedding*"
            ),
            "OTHER_API_BASE": other.base_url,
            "OTHER_API_KEY": "sk-other-key-dddddddddddddd",
            "OTHER_MODELS": "text-embedding-3-small",
        }
        gateway = start_gateway(env)
        body = {"model": "fake/text-embedding-3-small", "input": "hi"}
        answer = gateway.request("POST", "/v1/embeddings", json=body, headers=AUTH)
        assert answer.status_code == 200
        assert answer.headers["X-Provider"] == "other"
        assert answer.headers["X-Attempt-Trail"].startswith("fake:-:skipped_ignored_by_config")
        assert fake.hits_for(path="/embeddings") == []
    finally:
        other.close()


# -- 10. one log line per request --------------------------------------------------------------


@pytest.mark.parametrize("access_log", [None, "-"])
def test_one_request_line_by_default_and_the_access_log_one_setting_away(
    start_gateway: StartGateway, fake: FakeUpstream, access_log: str | None
) -> None:
    env = fake_env(fake, **({"ACCESS_LOG": access_log} if access_log else {}))
    gateway = start_gateway(env)
    body = {**CHAT, "model": "fake/fake-model"}
    assert gateway.request("POST", "/v1/chat/completions", json=body, headers=AUTH).ok
    wait_until(lambda: '"msg":"request"' in gateway.logs(), message="the request line")
    logs = gateway.logs()
    assert logs.count('"msg":"request"') == 1
    access = '"POST /v1/chat/completions HTTP/1.1" 200'
    assert (access in logs) is (access_log is not None)


# -- 3 and 5. start-up: the default key, open binds, ignored variables -------------------------


def test_make_env_writes_a_random_client_key_and_shows_it_once(tmp_path: Path) -> None:
    if shutil.which("make") is None:
        pytest.fail("make is missing")
    shutil.copy(ROOT / "Makefile", tmp_path)
    shutil.copy(ROOT / ".env.example", tmp_path)
    first = subprocess.run(["make", "-s", ".env"], cwd=tmp_path, capture_output=True, text=True)
    again = subprocess.run(["make", "-s", ".env"], cwd=tmp_path, capture_output=True, text=True)
    lines = (tmp_path / ".env").read_text().splitlines()
    key_lines = [line for line in lines if line.startswith("PROXY_API_KEY=")]
    key = key_lines[0].split("=", 1)[1]
    assert len(key) >= 32 and key != "change-me"
    assert key in first.stdout and key not in again.stdout
    assert (tmp_path / ".env").stat().st_mode & 0o077 == 0


def gunicorn_exit(env: dict[str, str], bind: str) -> subprocess.CompletedProcess[str]:
    full = {"PATH": os.environ.get("PATH", ""), "ENV_FILE": "/nonexistent", **env}
    return subprocess.run(
        [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "--bind", bind],
        cwd=ROOT, env=full, capture_output=True, text=True, timeout=30,
    )  # fmt: skip


@pytest.mark.parametrize("key", [None, "change-me", "YOUR_PROXY_API_KEY"])
def test_a_public_bind_without_a_real_key_is_refused(key: str | None) -> None:
    env = {"PROXY_API_KEY": key} if key else {}
    result = gunicorn_exit(env, "0.0.0.0:0")
    assert result.returncode != 0
    assert "refusing to listen on 0.0.0.0:0" in result.stderr
    assert "ALLOW_OPEN_PROXY" in result.stderr
    if key:
        assert key not in result.stderr


@pytest.mark.parametrize(
    ("name", "value", "said"),
    [
        ("THREADS", "eight", "THREADS='eight' is not an integer"),
        ("WORKER_CONNECTIONS", "0", "WORKER_CONNECTIONS='0' must be at least 1"),
        ("GUNICORN_TIMEOUT", "soon", "GUNICORN_TIMEOUT='soon' is not an integer"),
    ],
)
def test_a_bad_server_setting_stops_gunicorn_with_its_name(
    name: str, value: str, said: str
) -> None:
    result = gunicorn_exit({"PROXY_API_KEY": "a-real-client-key-for-this-test", name: value},
                           "127.0.0.1:0")  # fmt: skip
    assert result.returncode != 0
    assert f"keyrelay: invalid configuration: {said}" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_loopback_bind_with_a_placeholder_warns_loudly(
    start_gateway: StartGateway, fake: FakeUpstream
) -> None:
    gateway = start_gateway(fake_env(fake, PROXY_API_KEY="change-me"))
    assert "is OPEN to anyone" in gateway.logs()


def test_ignored_variables_are_named_once_at_start_up_never_their_values(
    start_gateway: StartGateway, fake: FakeUpstream
) -> None:
    env = fake_env(
        fake,
        WEB_CONCURRENCY="2",
        COHERE_API_KEY_1="co-secret-value-123456",
        ROTATION_MODE_GEMINI="sequential",
        OPENAI_BASE_URL="http://127.0.0.1:9/v1",
    )
    gateway = start_gateway(env)
    logs = gateway.logs()
    for name in ("COHERE_API_KEY_1", "ROTATION_MODE_GEMINI", "OPENAI_BASE_URL"):
        assert logs.count(f"ignored {name}:") == 1, logs
    assert "co-secret-value" not in logs and "sequential" not in logs


def test_the_default_state_file_is_private_shared_and_kept_across_a_restart(
    fake: FakeUpstream, tmp_path: Path
) -> None:
    """STATE_URL unset: .keyrelay/state.db in the working directory, 0600 in a 0700 folder."""
    limited: list[Hit] = []

    def key_a_limited(hit: Hit) -> Reply | None:
        if hit.key != KEY_A:
            return None
        limited.append(hit)
        return Reply(status=429, headers={"Retry-After": "600"})

    env = fake_env(fake, KEY_A, KEY_B, STATE_URL="")
    env["WEB_CONCURRENCY"] = "2"
    chat = {"model": "fake/fake-model", "messages": [{"role": "user", "content": "Hi"}]}
    for run in range(2):  # the second run is a restart on the same file
        gateway = Gunicorn(env, worker_class=None, cwd=tmp_path)
        try:
            # A worker that has just booted may answer from its own state for a moment:
            # the first run limits KEY_A once both serve on the file; the restart, from
            # its first request (the block must have been kept).
            fake.default = None if run == 0 else key_a_limited
            every_worker_back_on_the_file(gateway)
            fake.default = key_a_limited
            for _ in range(6):
                with requests.Session() as session:  # new connections: either worker
                    answer = session.post(
                        gateway.url + "/v1/chat/completions", json=chat, headers=AUTH
                    )
                assert answer.status_code == 200
        finally:
            gateway.stop()
    state = tmp_path / ".keyrelay" / "state.db"
    assert state.stat().st_mode & 0o777 == 0o600
    assert state.parent.stat().st_mode & 0o777 == 0o700
    assert len(limited) == 1  # once, by one worker; never again, not after the restart
