"""Streaming through a real gunicorn: incremental relay, the commit point, disconnects."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator

import pytest
import requests

from bench.gunicorn import Gunicorn
from tests.fakes.upstream import FakeUpstream, Reply, chunk, stream_events, wait_until

from .helpers import AUTH, CLIENT_KEY, KEY_A, StartGateway, fake_env

pytestmark = pytest.mark.integration

STREAM = {
    "model": "fake/fake-model",
    "messages": [{"role": "user", "content": "Hi"}],
    "stream": True,
}


def events(response: requests.Response) -> Iterator[str]:
    """The data of each SSE event, as the client receives it."""
    for line in response.iter_lines(chunk_size=1):
        if line.startswith(b"data: "):
            yield line[6:].decode()


@pytest.mark.parametrize("worker_class", ["gthread", "gevent"])
def test_events_arrive_one_by_one_as_the_upstream_sends_them(
    start_gateway: StartGateway, fake: FakeUpstream, worker_class: str
) -> None:
    gateway = start_gateway(fake_env(fake), worker_class=worker_class)
    words = ["one", " two", " three", " four"]
    reply = Reply(events=stream_events("fake-model", words), gated=True)
    fake.default = lambda hit: reply
    # Headers go out at the commit point (the first chunk with output), so the
    # first word is let through before the response can begin.
    reply.advance()
    with gateway.request(
        "POST", "/v1/chat/completions", json=STREAM, headers=AUTH, stream=True
    ) as response:
        assert response.status_code == 200
        assert response.headers["Content-Type"].startswith("text/event-stream")
        assert response.headers["Cache-Control"] == "no-cache"
        assert response.headers["X-Accel-Buffering"] == "no"
        assert response.headers["X-Provider"] == "fake"
        received = events(response)
        assert json.loads(next(received))["choices"][0]["delta"]["role"] == "assistant"
        # From here the upstream sends the next chunk only after the client has the
        # previous one: a proxy that buffered would never get past this loop.
        for word in words:
            data = json.loads(next(received))
            assert data["choices"][0]["delta"]["content"] == word
            assert data["model"] == "fake/fake-model"
            reply.advance()
        assert json.loads(next(received))["choices"][0]["finish_reason"] == "stop"
        assert next(received) == "[DONE]"
        assert list(received) == []


def test_stream_is_byte_exact_sse(gateway: Gunicorn, fake: FakeUpstream) -> None:
    response = gateway.request("POST", "/v1/chat/completions", json=STREAM, headers=AUTH)
    body = response.content
    assert body.endswith(b"data: [DONE]\n\n")
    frames = body.split(b"\n\n")[:-1]
    assert all(f.startswith(b"data: ") and b"\n" not in f for f in frames)
    text = "".join(
        (json.loads(f[6:])["choices"][0]["delta"].get("content") or "") for f in frames[:-1]
    )
    assert text == "Hello from the fake."


def test_include_usage_is_honoured(gateway: Gunicorn, fake: FakeUpstream) -> None:
    body = {**STREAM, "stream_options": {"include_usage": True}}
    datas = list(
        events(
            gateway.request("POST", "/v1/chat/completions", json=body, headers=AUTH, stream=True)
        )
    )
    usage = json.loads(datas[-2])
    assert usage["choices"] == [] and usage["usage"]["total_tokens"] == 9
    assert fake.hits[0].body["stream_options"] == {"include_usage": True}


def test_usage_on_the_last_content_chunk_becomes_a_usage_chunk(
    gateway: Gunicorn, fake: FakeUpstream
) -> None:
    usage = {"prompt_tokens": 1, "completion_tokens": 2, "total_tokens": 3}
    fake.default = lambda hit: Reply(
        events=[chunk("m", {"content": "hi"}), chunk("m", {"content": ""}, "stop", usage=usage)]
    )
    body = {**STREAM, "stream_options": {"include_usage": True}}
    datas = list(
        events(
            gateway.request("POST", "/v1/chat/completions", json=body, headers=AUTH, stream=True)
        )
    )
    assert json.loads(datas[-2]) == {**json.loads(datas[-2]), "choices": [], "usage": usage}
    assert datas[-1] == "[DONE]"


def test_usage_chunks_nobody_asked_for_are_dropped(gateway: Gunicorn, fake: FakeUpstream) -> None:
    fake.default = lambda hit: Reply(events=stream_events("m", ["a"], usage=True))
    datas = list(
        events(
            gateway.request("POST", "/v1/chat/completions", json=STREAM, headers=AUTH, stream=True)
        )
    )
    assert all(json.loads(d)["choices"] for d in datas[:-1])


def test_keepalive_comments_and_split_lines_are_handled(
    gateway: Gunicorn, fake: FakeUpstream
) -> None:
    first = json.dumps(chunk("m", {"content": "Hel"})).encode()
    raw = [
        b": OPENROUTER PROCESSING\n\n",
        b"data: " + first[:10],
        first[10:] + b"\r\n\r\n",
        b"data: " + json.dumps(chunk("m", {"content": "lo"}, "stop")).encode() + b"\n\n",
    ]
    fake.default = lambda hit: Reply(events=raw)
    datas = list(
        events(
            gateway.request("POST", "/v1/chat/completions", json=STREAM, headers=AUTH, stream=True)
        )
    )
    assert [json.loads(d)["choices"][0]["delta"]["content"] for d in datas[:-1]] == ["Hel", "lo"]


def test_stream_without_done_but_finished_is_accepted(
    gateway: Gunicorn, fake: FakeUpstream
) -> None:
    fake.default = lambda hit: Reply(events=stream_events("m", ["a"]), done=False)
    datas = list(
        events(
            gateway.request("POST", "/v1/chat/completions", json=STREAM, headers=AUTH, stream=True)
        )
    )
    assert datas[-1] == "[DONE]"


@pytest.mark.parametrize(
    ("reply", "status"),
    [
        (Reply(status=500), 502),
        (Reply(status=429, headers={"Retry-After": "7"}), 429),
        (
            Reply(events=[{"error": {"message": "provider failed"}, "provider": "x"}], done=False),
            502,
        ),
        (Reply(events=[chunk("m", {"role": "assistant", "content": ""})], done=True), 502),
        (Reply(events=stream_events("m", ["a"]), drop_after=1), 502),
    ],
    ids=["http-500", "http-429", "in-band-error", "no-output", "drop-before-output"],
)
def test_failure_before_the_first_output_gets_a_real_status(
    start_gateway: StartGateway, fake: FakeUpstream, reply: Reply, status: int
) -> None:
    gateway = start_gateway(fake_env(fake, KEY_A))
    fake.default = lambda hit: reply
    response = gateway.request("POST", "/v1/chat/completions", json=STREAM, headers=AUTH)
    assert response.status_code == status
    assert response.headers["Content-Type"] == "application/json"
    assert "error" in response.json()


@pytest.mark.parametrize(
    "reply",
    [
        Reply(
            events=[
                *stream_events("m", ["a", "b"])[:2],
                {"error": {"message": "boom", "type": "server_error"}},
            ],
            done=False,
        ),
        Reply(events=stream_events("m", ["a", "b", "c"]), drop_after=3),
        Reply(events=stream_events("m", ["a", "b", "c"])[:3], done=False),
    ],
    ids=["in-band-error", "connection-drop", "ends-unfinished"],
)
def test_failure_after_output_ends_with_an_error_event_and_no_done(
    gateway: Gunicorn, fake: FakeUpstream, reply: Reply
) -> None:
    fake.default = lambda hit: reply
    response = gateway.request("POST", "/v1/chat/completions", json=STREAM, headers=AUTH)
    assert response.status_code == 200
    datas = list(events(response))
    assert "[DONE]" not in datas
    last = json.loads(datas[-1])
    assert last["error"]["code"] == "upstream_stream_interrupted"
    contents = [json.loads(d)["choices"][0]["delta"].get("content") for d in datas[:-1]]
    assert "a" in contents and contents.count("a") == 1  # nothing replayed


def test_stall_after_output_ends_with_an_error_event(
    start_gateway: StartGateway, fake: FakeUpstream
) -> None:
    gateway = start_gateway(fake_env(fake, TIMEOUT_READ="0.5"))
    reply = Reply(events=stream_events("m", ["a", "b"]), stall_after=2)
    fake.default = lambda hit: reply
    response = gateway.request("POST", "/v1/chat/completions", json=STREAM, headers=AUTH)
    datas = list(events(response))
    reply.advance()
    assert json.loads(datas[-1])["error"]["code"] == "upstream_stream_interrupted"
    assert "[DONE]" not in datas


def test_client_disconnect_closes_the_upstream_and_releases_the_key(
    start_gateway: StartGateway, fake: FakeUpstream
) -> None:
    gateway = start_gateway(fake_env(fake, KEY_A, MAX_CONCURRENT_REQUESTS_PER_KEY_FAKE="1"))
    reply = Reply(events=stream_events("m", [f" w{i}" for i in range(500)]), gated=True)
    fake.script(KEY_A, reply)
    body = json.dumps(STREAM).encode()
    with socket.create_connection(("127.0.0.1", gateway.port)) as client:
        client.sendall(
            b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            + f"Authorization: Bearer {CLIENT_KEY}\r\nContent-Length: {len(body)}\r\n\r\n".encode()
            + body
        )
        reply.advance()  # let the first word through: the response starts at the commit point
        assert b"200 OK" in client.recv(65536)
    # The client has gone away mid-stream.
    # Let the upstream keep talking: the proxy notices the dead client on its next
    # writes, closes the upstream connection, and the fake sees its writes fail.
    wait_until(
        lambda: (reply.advance(), reply.disconnected.is_set())[1],
        timeout=20,
        message="upstream disconnect",
    )
    assert reply.sent < 500
    # The only key (one request at a time) was released: a new request is served.
    wait_until(
        lambda: (
            gateway.request("GET", "/ready", headers=AUTH).json()["providers"]["fake"]["usable"]
            == 1
        ),
        message="key released",
    )
    response = gateway.request(
        "POST", "/v1/chat/completions", json={**STREAM, "stream": False}, headers=AUTH
    )
    assert response.status_code == 200


@pytest.mark.parametrize("worker_class", ["gthread", "gevent"])
def test_finished_streams_reuse_the_pooled_upstream_connection(
    start_gateway: StartGateway, fake: FakeUpstream, worker_class: str
) -> None:
    """After [DONE] the body's end is read, so the next request does not open a connection."""
    gateway = start_gateway(fake_env(fake, KEY_A, WEB_CONCURRENCY="1"), worker_class=worker_class)
    for _ in range(3):
        response = gateway.request("POST", "/v1/chat/completions", json=STREAM, headers=AUTH)
        assert response.content.endswith(b"data: [DONE]\n\n")
    response = gateway.request(
        "POST", "/v1/chat/completions", json={**STREAM, "stream": False}, headers=AUTH
    )
    assert response.status_code == 200
    assert len(fake.hits_for(KEY_A, "/chat/completions")) == 4
    assert fake.connections == 1
