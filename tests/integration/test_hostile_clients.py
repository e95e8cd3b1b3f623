"""Hostile clients against a real gunicorn: slow heads, slow bodies, streams nobody reads.

Bounds are checked as "answered within the limit plus a margin" and "/health
answers within 2 s while N slow clients are connected", never as speed.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import suppress

import pytest
import requests

from bench.gunicorn import Gunicorn
from tests.fakes.upstream import FakeUpstream, Reply, chunk, endless_words, wait_until

from .helpers import AUTH, CLIENT_KEY, KEY_A, StartGateway, fake_env

pytestmark = pytest.mark.integration

SLOW_CLIENTS = 100
HEAD = (
    "POST /v1/chat/completions HTTP/1.1\r\nHost: keyrelay\r\n"
    f"Authorization: Bearer {CLIENT_KEY}\r\nContent-Type: application/json\r\n"
)
CHAT = {"model": "fake/fake-model", "messages": [{"role": "user", "content": "Hi"}]}


def connect(gateway: Gunicorn, *, rcvbuf: int | None = None) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if rcvbuf is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    sock.connect(("127.0.0.1", gateway.port))
    return sock


class Trickler:
    """Sends ``data`` to every socket one byte at a time, every ``interval`` seconds."""

    def __init__(self, socks: list[socket.socket], data: bytes, interval: float = 0.5) -> None:
        for sock in socks:  # every client has begun before the test looks
            sock.sendall(data[:1])
        self.socks, self.data, self.interval = socks, data, interval
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        position = 1
        while not self.stop.wait(self.interval) and position < len(self.data):
            for sock in self.socks:
                with suppress(OSError):  # the server closed it: that is the point
                    sock.send(self.data[position : position + 1])
            position += 1


@pytest.fixture
def slow(request: pytest.FixtureRequest) -> Iterator[list[socket.socket]]:
    socks: list[socket.socket] = []
    yield socks
    for sock in socks:
        sock.close()


def health_answers_quickly(gateway: Gunicorn) -> None:
    for _ in range(3):
        response = requests.get(gateway.url + "/health", timeout=2)
        assert response.status_code == 200


def closed_by_server(sock: socket.socket, within: float) -> bytes:
    """Everything the server sent before closing ``sock``; fails if it stays open."""
    sock.settimeout(within)
    received = b""
    try:
        while data := sock.recv(65536):
            received += data
    except ConnectionResetError:
        pass
    except TimeoutError:
        raise AssertionError(f"the server kept the connection open for {within} s") from None
    return received


def test_default_worker_is_gevent_and_slow_heads_cannot_starve_it(
    start_gateway: StartGateway, fake: FakeUpstream, slow: list[socket.socket]
) -> None:
    gateway = start_gateway(fake_env(fake, KEEPALIVE="2"), worker_class=None)
    assert "Using worker: workers.GeventWorker" in gateway.logs()
    slow.extend(connect(gateway) for _ in range(SLOW_CLIENTS))
    trickler = Trickler(slow, HEAD.encode() + b"Content-Length: 2\r\n\r\n{}", interval=0.5)
    try:
        health_answers_quickly(gateway)
        # A head must be complete within KEEPALIVE seconds: each slow head is dropped.
        for sock in slow[:5]:
            closed_by_server(sock, within=2 + 3)
        assert gateway.request("POST", "/v1/chat/completions", json=CHAT, headers=AUTH).ok
    finally:
        trickler.stop.set()


@pytest.mark.parametrize("worker_class", [None, "gthread"], ids=["default", "gthread"])
def test_slow_bodies_are_answered_408_in_time(
    start_gateway: StartGateway,
    fake: FakeUpstream,
    slow: list[socket.socket],
    worker_class: str | None,
) -> None:
    gateway = start_gateway(fake_env(fake, CLIENT_BODY_TIMEOUT="2"), worker_class=worker_class)
    count = SLOW_CLIENTS if worker_class is None else 4
    slow.extend(connect(gateway) for _ in range(count))
    body = json.dumps(CHAT).encode()
    for sock in slow:
        sock.sendall(HEAD.encode() + f"Content-Length: {len(body)}\r\n\r\n".encode())
    trickler = Trickler(slow, body, interval=0.5)
    try:
        if worker_class is None:
            health_answers_quickly(gateway)
        for sock in slow:
            answer = closed_by_server(sock, within=2 + 5)
            head, _, payload = answer.partition(b"\r\n\r\n")
            assert head.startswith(b"HTTP/1.1 408"), answer[:200]
            assert json.loads(payload)["error"]["code"] == "request_timeout"
    finally:
        trickler.stop.set()
    assert fake.hits_for(path="/chat/completions") == []


@pytest.mark.parametrize("worker_class", [None, "gthread"], ids=["default", "gthread"])
def test_a_stream_nobody_reads_is_cut_and_its_key_freed(
    start_gateway: StartGateway, fake: FakeUpstream, worker_class: str | None
) -> None:
    env = fake_env(fake, KEY_A, CLIENT_SEND_TIMEOUT="2", MAX_CONCURRENT_REQUESTS_PER_KEY_FAKE="1")
    gateway = start_gateway(env, worker_class=worker_class)
    reply = Reply(headers={"Content-Type": "text/event-stream"}, pieces=lambda: endless_words("m"))
    fake.script(KEY_A, reply)
    body = json.dumps({**CHAT, "stream": True}).encode()
    sleeper = connect(gateway, rcvbuf=4096)
    try:
        sleeper.sendall(HEAD.encode() + f"Content-Length: {len(body)}\r\n\r\n".encode() + body)
        wait_until(lambda: reply.sent > 0, message="the stream started")
        health_answers_quickly(gateway)
        # The only key is leased to the sleeper until the send time-out cuts it.
        wait_until(reply.disconnected.is_set, timeout=2 + 10, message="upstream closed")
        follow = gateway.request("POST", "/v1/chat/completions", json=CHAT, headers=AUTH)
        assert follow.status_code == 200
    finally:
        sleeper.close()
    assert "Traceback" not in gateway.logs()


def keep_alive(first: bytes) -> Iterator[bytes]:
    """``first``, then an SSE comment or a JSON space every 0.2 s, for a minute."""
    yield first
    filler = b": ping\n\n" if first.startswith(b"data:") else b" "
    for _ in range(300):
        time.sleep(0.2)
        yield filler


@pytest.mark.parametrize("worker_class", [None, "gthread"], ids=["default", "gthread"])
@pytest.mark.parametrize("stream", [False, True], ids=["whole", "stream"])
def test_a_client_that_leaves_ends_the_upstream_exchange_and_frees_the_key(
    start_gateway: StartGateway, fake: FakeUpstream, worker_class: str | None, stream: bool
) -> None:
    env = fake_env(fake, KEY_A, MAX_CONCURRENT_REQUESTS_PER_KEY_FAKE="1")
    gateway = start_gateway(env, worker_class=worker_class)
    if stream:  # committed (the client has its first words), then only keep-alive comments
        first = b"data: " + json.dumps(chunk("fake-model", {"content": "Hi"})).encode() + b"\n\n"
        reply = Reply(
            headers={"Content-Type": "text/event-stream"}, pieces=lambda: keep_alive(first)
        )
    else:  # an answer that trickles in, well inside the request deadline
        reply = Reply(pieces=lambda: keep_alive(b'{"id": "chatcmpl-slow"'))
    fake.script(KEY_A, reply)
    body = json.dumps({**CHAT, "stream": stream}).encode()
    with connect(gateway) as client:
        client.sendall(HEAD.encode() + f"Content-Length: {len(body)}\r\n\r\n".encode() + body)
        wait_until(lambda: reply.sent > 0, message="the upstream began answering")
        if stream:  # the head and the first words may come in separate reads
            client.settimeout(5)
            received = b""
            while b"Hi" not in received:
                data = client.recv(65536)
                assert data, f"the stream closed before its first words: {received!r}"
                received += data
    wait_until(reply.disconnected.is_set, timeout=5, message="the upstream exchange ended")
    follow = gateway.request("POST", "/v1/chat/completions", json=CHAT, headers=AUTH)
    assert follow.status_code == 200
    assert "Traceback" not in gateway.logs()
