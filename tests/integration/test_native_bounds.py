"""The chat path's bounds hold on the native path: the deadline over a trickle, the size
of a whole answer, of one event and of a whole stream."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import pytest

from tests.fakes.native import message, message_events, response_events, sse
from tests.fakes.upstream import FakeUpstream, Reply, wait_until

from .helpers import AUTH, CLIENT_KEY, StartGateway
from .test_hostile_upstreams import trickle

pytestmark = pytest.mark.integration

CLAUDE, GPT = "claude-sonnet-4-5", "gpt-5.1"
NATIVE_KEY = "sk-ant-bounds-key-aaaaaaaaaaaaaaaa"
ASK = {"model": CLAUDE, "max_tokens": 64, "messages": [{"role": "user", "content": "Hi"}]}
HEADERS = {**AUTH, "anthropic-version": "2023-06-01"}


@pytest.fixture
def native() -> Iterator[FakeUpstream]:
    upstream = FakeUpstream([CLAUDE, GPT])
    yield upstream
    upstream.close()


@pytest.fixture
def backup() -> Iterator[FakeUpstream]:
    upstream = FakeUpstream([CLAUDE, GPT])
    yield upstream
    upstream.close()


def env(native: FakeUpstream, backup: FakeUpstream | None = None, **extra: str) -> dict[str, str]:
    settings = {
        "PROXY_API_KEY": CLIENT_KEY,
        "ANTHROPIC_API_KEY": NATIVE_KEY,
        "ANTHROPIC_API_BASE": native.base_url,
        "ANTHROPIC_MODELS": CLAUDE,
        "OPENAI_API_KEY": "sk-openai-bounds-key-bbbbbbbbbbbb",
        "OPENAI_API_BASE": native.base_url,
        "OPENAI_MODELS": GPT,
        **extra,
    }
    if backup is not None:
        settings |= {"BACKUP_API_KEY": "sk-backup-bounds-cccccccc",
                     "BACKUP_API_BASE": backup.base_url, "BACKUP_MODELS": CLAUDE}  # fmt: skip
    return settings


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "stream"])
def test_the_deadline_bounds_a_native_upstream_that_trickles(
    start_gateway: StartGateway, native: FakeUpstream, stream: bool
) -> None:
    gateway = start_gateway(env(native, REQUEST_DEADLINE="2", TIMEOUT_READ="5"))
    first = message_events(CLAUDE, [])[0] if stream else b'{"type": "message"'
    content = "text/event-stream" if stream else "application/json"
    reply = Reply(headers={"Content-Type": content}, pieces=lambda: trickle(first))
    native.script(NATIVE_KEY, reply)
    started = time.monotonic()
    response = gateway.request("POST", "/v1/messages", json={**ASK, "stream": stream},
                               headers=HEADERS)  # fmt: skip
    assert response.status_code == 504, response.text
    assert response.json()["type"] == "error"  # Anthropic's shape
    assert time.monotonic() - started < 2 + 3
    wait_until(reply.disconnected.is_set, timeout=5, message="the upstream exchange ended")
    assert gateway.request("POST", "/v1/messages", json=ASK, headers=HEADERS).ok  # key back


def test_a_whole_native_answer_over_the_size_cap_fails_over(
    start_gateway: StartGateway, native: FakeUpstream, backup: FakeUpstream
) -> None:
    gateway = start_gateway(env(native, backup, MAX_UPSTREAM_RESPONSE_BYTES="1048576"))
    huge = json.dumps(message(CLAUDE, "y" * 2_000_000)).encode()
    native.script(NATIVE_KEY, Reply(raw=huge), Reply(raw=huge))
    served = gateway.request("POST", "/v1/messages", json=ASK, headers=HEADERS)
    assert served.status_code == 200 and served.headers["X-Provider"] == "backup"
    assert "anthropic:200:too_large" in served.headers["X-Attempt-Trail"]
    alone = gateway.request("POST", "/v1/messages", json={**ASK, "model": f"anthropic/{CLAUDE}"},
                            headers={**HEADERS, "X-Fallback": "off"})  # fmt: skip
    assert alone.status_code == 502 and alone.json()["type"] == "error"


def test_a_committed_native_stream_with_an_oversized_event_ends_in_an_error_event(
    start_gateway: StartGateway, native: FakeUpstream
) -> None:
    gateway = start_gateway(env(native, MAX_UPSTREAM_EVENT_BYTES="65536"))
    events = message_events(CLAUDE, ["Hello"])
    delta = {"type": "content_block_delta", "index": 1,
             "delta": {"type": "text_delta", "text": "x" * 200_000}}  # fmt: skip
    native.script(NATIVE_KEY, Reply(events=[*events[:-3], sse("content_block_delta", delta),
                                            *events[-3:]], done=False))  # fmt: skip
    response = gateway.request("POST", "/v1/messages", json={**ASK, "stream": True},
                               headers=HEADERS)  # fmt: skip
    assert response.status_code == 200
    assert b"Hello" in response.content and b"message_stop" not in response.content
    assert b"event: error" in response.content
    assert b"larger than MAX_UPSTREAM_EVENT_BYTES" in response.content


def test_a_native_stream_longer_than_the_answer_cap_ends_failed(
    start_gateway: StartGateway, native: FakeUpstream
) -> None:
    gateway = start_gateway(env(native, MAX_UPSTREAM_RESPONSE_BYTES="1048576"))
    events = response_events(GPT, ["w" * 50_000] * 40)  # about 2 MB of deltas
    native.script("sk-openai-bounds-key-bbbbbbbbbbbb", Reply(events=events, done=False))
    ask = {"model": GPT, "input": "Hi", "stream": True}
    response = gateway.request("POST", "/v1/responses", json=ask, headers=AUTH)
    assert response.status_code == 200
    assert b"response.completed" not in response.content
    assert response.content.rstrip().split(b"\n\n")[-1].startswith(b"event: response.failed")
    assert b"MAX_UPSTREAM_RESPONSE_BYTES" in response.content
