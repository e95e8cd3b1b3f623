"""Hostile or broken upstreams against a real gunicorn: escaped keys, trickles, floods, bombs."""

from __future__ import annotations

import gzip
import json
import time
from collections.abc import Iterator

import pytest

from tests.fakes.upstream import FakeUpstream, Reply, chunk, wait_until

from .helpers import AUTH, KEY_A, StartGateway, fake_env

pytestmark = pytest.mark.integration

CHAT = {"model": "fake/fake-model", "messages": [{"role": "user", "content": "Hi"}]}
STREAMING = pytest.mark.parametrize("stream", [False, True], ids=["whole", "stream"])


def escaped(secret: str) -> str:
    """``secret`` as a JSON string body in which every other character is a \\u escape."""
    return "".join(f"\\u{ord(c):04x}" if i % 2 else c for i, c in enumerate(secret))


def leaked(text: str) -> bool:
    return KEY_A in text or escaped(KEY_A) in text or KEY_A.replace("-", "\\/") in text


@pytest.mark.parametrize("status", [400, 500, 200])
def test_a_key_hidden_in_json_escapes_is_still_redacted(
    start_gateway: StartGateway, fake: FakeUpstream, status: int
) -> None:
    gateway = start_gateway(fake_env(fake, KEY_A, LOG_LEVEL="debug"))
    message = (
        f'{{"error": {{"message": "key {escaped(KEY_A)} is wrong", "param": "{escaped(KEY_A)}"}}}}'
    )
    assert KEY_A in json.loads(message)["error"]["message"]  # the upstream did leak it
    fake.script(KEY_A, Reply(status=status, raw=message.encode()))
    response = gateway.request("POST", "/v1/chat/completions", json=CHAT, headers=AUTH)
    assert response.status_code == (400 if status == 400 else 502)  # 200: an error in-band
    assert not leaked(response.text) and not leaked(json.dumps(response.json()))
    assert "key-" in response.json()["error"]["message"]  # the fingerprint took its place
    wait_until(lambda: '"attempts"' in gateway.logs(), message="the debug attempts line")
    assert not leaked(gateway.logs())


ENCODINGS = {
    "percent": lambda key: "".join(f"%{ord(c):02X}" for c in key),
    "entities": lambda key: "".join(f"&#{ord(c)};" for c in key),
    "percent of entities": lambda key: "".join(f"%26%23{ord(c)}%3B" for c in key),
}


@pytest.mark.parametrize("status", [400, 500, 200])
@pytest.mark.parametrize("encoding", list(ENCODINGS))
def test_a_key_encoded_inside_a_json_string_is_redacted(
    start_gateway: StartGateway, fake: FakeUpstream, status: int, encoding: str
) -> None:
    gateway = start_gateway(fake_env(fake, KEY_A, LOG_LEVEL="debug"))
    hidden = ENCODINGS[encoding](KEY_A)
    body = {"error": {"message": f"key {hidden} is wrong", "param": hidden, "code": "bad"}}
    fake.script(KEY_A, Reply(status=status, body=body))
    response = gateway.request("POST", "/v1/chat/completions", json=CHAT, headers=AUTH)
    assert response.status_code == (400 if status == 400 else 502)
    for place in (response.text, json.dumps(response.json())):
        assert hidden not in place and KEY_A not in place
    assert "key-" in response.json()["error"]["message"]  # the fingerprint took its place
    wait_until(lambda: '"attempts"' in gateway.logs(), message="the debug attempts line")
    assert hidden not in gateway.logs() and KEY_A not in gateway.logs()


def trickle(first: bytes, every: float = 0.2) -> Iterator[bytes]:
    """``first``, then a space every ``every`` seconds for a minute (JSON allows them)."""
    yield first
    for _ in range(300):
        time.sleep(every)
        yield b" "


@STREAMING
def test_the_deadline_bounds_an_upstream_that_trickles(
    start_gateway: StartGateway, fake: FakeUpstream, stream: bool
) -> None:
    gateway = start_gateway(fake_env(fake, KEY_A, REQUEST_DEADLINE="2", TIMEOUT_READ="5"))
    first = b": keep-alive\n" if stream else b'{"id": "chatcmpl-slow"'
    content = "text/event-stream" if stream else "application/json"
    reply = Reply(headers={"Content-Type": content}, pieces=lambda: trickle(first))
    fake.script(KEY_A, reply)
    started = time.monotonic()
    response = gateway.request(
        "POST", "/v1/chat/completions", json={**CHAT, "stream": stream}, headers=AUTH
    )
    assert response.status_code == 504
    assert response.json()["error"]["code"] == "deadline_exceeded"
    assert time.monotonic() - started < 2 + 3
    wait_until(reply.disconnected.is_set, timeout=5, message="the upstream exchange ended")
    # The key was given back: the next request gets it.
    assert gateway.request("POST", "/v1/chat/completions", json=CHAT, headers=AUTH).ok


def second_provider(fake: FakeUpstream, backup: FakeUpstream, **extra: str) -> dict[str, str]:
    return fake_env(
        fake,
        KEY_A,
        BACKUP_API_BASE=backup.base_url,
        BACKUP_API_KEY="sk-backup-key-cccccccccccc",
        BACKUP_MODELS="fake-model",
        **extra,
    )


@pytest.fixture
def backup() -> Iterator[FakeUpstream]:
    upstream = FakeUpstream()
    yield upstream
    upstream.close()


def test_an_answer_over_the_size_cap_is_a_provider_failure(
    start_gateway: StartGateway, fake: FakeUpstream, backup: FakeUpstream
) -> None:
    env = second_provider(fake, backup, MAX_UPSTREAM_RESPONSE_BYTES="1048576")
    gateway = start_gateway(env)
    huge = {"id": "x", "choices": [{"message": {"content": "y" * 2_000_000}}]}
    fake.script(KEY_A, Reply(raw=json.dumps(huge).encode()), Reply(raw=json.dumps(huge).encode()))
    served = gateway.request("POST", "/v1/chat/completions", json=CHAT, headers=AUTH)
    assert served.status_code == 200 and served.headers["X-Provider"] == "backup"
    assert "fake:200:too_large" in served.headers["X-Attempt-Trail"]
    alone = gateway.request(
        "POST", "/v1/chat/completions", json=CHAT, headers={**AUTH, "X-Fallback": "off"}
    )
    assert alone.status_code == 502
    assert alone.json()["error"]["code"] == "upstream_response_too_large"


def test_a_gzip_bomb_is_refused_without_decoding_it_whole(
    start_gateway: StartGateway, fake: FakeUpstream
) -> None:
    gateway = start_gateway(fake_env(fake, KEY_A, MAX_UPSTREAM_RESPONSE_BYTES="1048576"))
    bomb = gzip.compress(b'{"id": "' + b"0" * 64 * 1024 * 1024 + b'"}', compresslevel=9)
    assert len(bomb) < 200_000
    fake.script(KEY_A, Reply(raw=bomb, headers={"Content-Encoding": "gzip"}))
    response = gateway.request("POST", "/v1/chat/completions", json=CHAT, headers=AUTH)
    assert response.status_code == 502
    assert response.json()["error"]["code"] == "upstream_response_too_large"


def test_a_huge_upstream_error_message_is_cut(
    start_gateway: StartGateway, fake: FakeUpstream
) -> None:
    gateway = start_gateway(fake_env(fake, KEY_A))
    flood = {"error": {"message": "z" * 10_000_000, "type": "t" * 1_000_000}}
    fake.script(KEY_A, Reply(status=500, raw=json.dumps(flood).encode()))
    response = gateway.request("POST", "/v1/chat/completions", json=CHAT, headers=AUTH)
    assert response.status_code == 502
    assert len(response.content) < 8_000


def test_a_stream_line_that_never_ends_is_cut(
    start_gateway: StartGateway, fake: FakeUpstream
) -> None:
    gateway = start_gateway(fake_env(fake, KEY_A, MAX_UPSTREAM_EVENT_BYTES="1048576"))

    def endless() -> Iterator[bytes]:
        yield b"data: "
        for _ in range(2000):
            yield b"a" * 65536

    reply = Reply(headers={"Content-Type": "text/event-stream"}, pieces=endless)
    fake.script(KEY_A, reply)
    response = gateway.request(
        "POST", "/v1/chat/completions", json={**CHAT, "stream": True}, headers=AUTH
    )
    assert response.status_code == 502
    assert response.json()["error"]["code"] == "upstream_response_too_large"
    wait_until(reply.disconnected.is_set, timeout=5, message="the upstream stream was closed")
    assert reply.sent < 100


def test_a_committed_stream_with_an_oversized_event_ends_in_an_error_event(
    start_gateway: StartGateway, fake: FakeUpstream
) -> None:
    gateway = start_gateway(fake_env(fake, KEY_A, MAX_UPSTREAM_EVENT_BYTES="65536"))
    events = [
        chunk("fake-model", {"content": "Hello"}),
        chunk("fake-model", {"content": "x" * 200_000}),
    ]
    fake.script(KEY_A, Reply(events=events))
    response = gateway.request(
        "POST", "/v1/chat/completions", json={**CHAT, "stream": True}, headers=AUTH
    )
    assert response.status_code == 200
    assert b"Hello" in response.content
    assert b"[DONE]" not in response.content
    assert b"larger than MAX_UPSTREAM_EVENT_BYTES" in response.content
