"""What happens to an upstream connection when a stream ends: reused, or closed, never held."""

from __future__ import annotations

import gc
import socket
import threading
from collections.abc import Iterator
from typing import Any

import pytest
import responses

from providers.errors import UpstreamServerError
from providers.upstream.client import Upstream
from providers.upstream.http import SessionPool
from tests.fakes.upstream import wait_until

HEAD = b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n"
EVENT = b'data: {"choices":[{"index":0,"delta":{"content":"hi"},"finish_reason":"stop"}]}\n\n'


def _chunk(data: bytes) -> bytes:
    return f"{len(data):x}\r\n".encode() + data + b"\r\n"


class OneShotServer:
    """Answers each connection's first request with one event and [DONE], then maybe ends."""

    def __init__(self, *, end_body: bool) -> None:
        self.end_body = end_body
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.connections = 0
        self.saw_eof = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.listener.getsockname()[1]}/v1"

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        with conn:
            while True:
                request = b""
                while b"\r\n\r\n" not in request:
                    data = conn.recv(65536)
                    if not data:
                        self.saw_eof.set()
                        return
                    request += data
                head, _, body = request.partition(b"\r\n\r\n")
                length = next(
                    int(line.split(b":")[1])
                    for line in head.split(b"\r\n")
                    if line.lower().startswith(b"content-length:")
                )
                while len(body) < length:
                    body += conn.recv(65536)
                conn.sendall(HEAD + _chunk(EVENT) + _chunk(b"data: [DONE]\n\n"))
                if self.end_body:
                    conn.sendall(b"0\r\n\r\n")
                # else: the body never ends; only the client closing ends this connection

    def close(self) -> None:
        self.listener.close()


@pytest.fixture(params=[True, False], ids=["ends-body", "holds-body-open"])
def server(request: pytest.FixtureRequest) -> Iterator[OneShotServer]:
    upstream = OneShotServer(end_body=request.param)
    yield upstream
    upstream.close()


#: The stream's read timeout: closing must never wait for it.
READ_TIMEOUT = 120.0


def test_stream_connection_is_reused_or_closed(server: OneShotServer) -> None:
    upstream = Upstream("fake", server.base_url, SessionPool(), lambda text: text)
    for _ in range(3):
        stream = upstream.stream_chat(
            {"model": "m", "stream": True}, "sk-test", (2.0, READ_TIMEOUT)
        )
        assert [c["choices"][0]["delta"]["content"] for c in stream] == ["hi"]
        closing = threading.Thread(target=stream.close)
        closing.start()
        closing.join(timeout=20)  # far below READ_TIMEOUT: a close that waits for it is stuck
        assert not closing.is_alive(), "closing the stream waited on the upstream"
    if server.end_body:
        assert server.connections == 1
        assert not server.saw_eof.is_set()
    else:
        # Not waited for past a short bound: each stream's connection is closed instead.
        assert server.connections == 3
        wait_until(server.saw_eof.is_set, message="the held-open connection closed")


def test_a_redirect_is_not_followed_and_counts_as_the_providers_failure(
    mocked: responses.RequestsMock,
) -> None:
    elsewhere = "https://elsewhere.example/collect"
    mocked.post("https://api.example/v1/chat/completions", status=307,
                headers={"Location": elsewhere})  # fmt: skip
    taken = mocked.post(elsewhere, json={"choices": []})
    upstream = Upstream("example", "https://api.example/v1", SessionPool(), lambda text: text)
    with pytest.raises(UpstreamServerError, match="redirect, not followed") as raised:
        upstream.chat({"model": "m", "messages": []}, "sk-never-elsewhere", (2.0, 5.0))
    assert raised.value.upstream_status == 307
    assert taken.call_count == 0  # the key went nowhere else


def _reachable_bytes(root: object, limit: int = 20000) -> list[bytes]:
    """Every bytes object reachable from ``root`` (breadth first, at most ``limit`` objects)."""
    seen, found, level = {id(root)}, [], [root]
    while level and len(seen) < limit:
        below = []
        for thing in gc.get_referents(*level):
            if id(thing) in seen or isinstance(thing, type):
                continue
            seen.add(id(thing))
            if isinstance(thing, bytes):
                found.append(thing)
            else:
                below.append(thing)
        level = below
    return found


def test_a_held_stream_does_not_keep_the_request_body(mocked: responses.RequestsMock) -> None:
    events = EVENT + b"data: [DONE]\n\n"
    sent: list[bytes] = []

    def answer(request: Any) -> tuple[int, dict[str, str], bytes]:
        sent.append(request.body)
        return 200, {"Content-Type": "text/event-stream"}, events

    mocked.add_callback(responses.POST, "https://api.example/v1/chat/completions", answer)
    upstream = Upstream("example", "https://api.example/v1", SessionPool(), lambda text: text)
    prompt = "an agent's long conversation " * 4000  # about 120 KB
    stream = upstream.stream_chat({"model": "m", "stream": True,
                                   "messages": [{"role": "user", "content": prompt}]},
                                  "sk-held", (2.0, 5.0))  # fmt: skip
    assert len(sent[0]) > 100_000  # it went upstream whole
    held = _reachable_bytes(stream)
    assert held, "the walk found nothing: it cannot tell"
    assert all(len(b) < 100_000 for b in held), "the stream keeps the body it sent"
    stream.close()
