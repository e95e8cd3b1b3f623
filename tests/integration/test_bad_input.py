"""The bad-input corpus over a real gunicorn: every answer is a 4xx in the envelope, never a 500.

Each case is raw bytes on a socket, so that what reaches gunicorn is exactly
what a hostile client could send (broken chunking, oversized heads, 10,000
levels of nesting, digits that are not ASCII).
"""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator

import pytest

from bench.gunicorn import Gunicorn
from tests.fakes.upstream import FakeUpstream

from .helpers import CLIENT_KEY, fake_env

pytestmark = pytest.mark.integration

BIG = 65536
AUTH_LINE = f"Authorization: Bearer {CLIENT_KEY}\r\n".encode()
CHAT = b'{"model": "fake/fake-model", "messages": [{"role": "user", "content": "Hi"}]}'


def post(body: bytes, *, extra: bytes = b"", path: bytes = b"/v1/chat/completions") -> bytes:
    return (
        b"POST " + path + b" HTTP/1.1\r\nHost: k\r\nConnection: close\r\n" + AUTH_LINE
        + b"Content-Type: application/json\r\n" + extra
        + b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body
    )  # fmt: skip


def chunked(*pieces: bytes, extra: bytes = b"") -> bytes:
    return (
        b"POST /v1/chat/completions HTTP/1.1\r\nHost: k\r\nConnection: close\r\n" + AUTH_LINE
        + b"Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n" + extra + b"\r\n"
        + b"".join(pieces)
    )  # fmt: skip


def exchange(gateway: Gunicorn, raw: bytes) -> tuple[int, bytes, dict[str, object]]:
    with socket.create_connection(("127.0.0.1", gateway.port), timeout=10) as sock:
        sock.sendall(raw)
        answer = b""
        while data := sock.recv(65536):
            answer += data
    head, _, body = answer.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    return status, head, json.loads(body)


CORPUS = [
    ("deep-json", post(b"[" * 10_000 + b"]" * 10_000), 400, "invalid_json"),
    (
        "deep-inside-the-body",
        post(CHAT[:-1] + b', "x": ' + b"[" * 500 + b"]" * 500 + b"}"),
        400,
        "invalid_json",
    ),
    ("max-tier-5000-digits", post(CHAT, extra=b"X-Max-Tier: " + b"9" * 5000 + b"\r\n"), 400, None),
    ("max-tier-superscript", post(CHAT, extra="X-Max-Tier: ²\r\n".encode()), 400, None),
    ("chunk-size-not-hex", chunked(b"zz\r\nabc\r\n0\r\n\r\n"), 400, "invalid_body"),
    ("chunk-without-terminator", chunked(b"3\r\nabcXY0\r\n\r\n"), 400, "invalid_body"),
    (
        "chunked-over-the-limit",
        chunked(*[b"8000\r\n" + b" " * 0x8000 + b"\r\n"] * 3, b"0\r\n\r\n"),
        413,
        None,
    ),
    ("length-over-the-limit", post(b" " * (BIG + 1)), 413, "request_too_large"),
    ("request-line-too-long", b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\n\r\n", 414, None),
    (
        "header-too-large",
        b"GET /health HTTP/1.1\r\nX-Big: " + b"b" * 20000 + b"\r\n\r\n",
        431,
        "request_headers_too_large",
    ),
    ("not-http", b"\x16\x03\x01\x00\xa5garbage\r\n\r\n", 400, None),
    (
        "model-name-of-a-megabyte",
        post(b'{"model": "' + b"m" * 4000 + b'", "messages": []}'),
        400,
        "invalid_value",
    ),
    ("body-is-not-utf8", post(b'{"model": "\xff\xfe"}'), 400, "invalid_json"),
    ("body-is-a-list", post(b"[]"), 400, "invalid_json"),
]


@pytest.fixture(scope="module", params=["gevent", "gthread"])
def gateway(request: pytest.FixtureRequest) -> Iterator[Gunicorn]:
    """One gunicorn per worker class for the whole corpus."""
    upstream = FakeUpstream()
    env = fake_env(upstream, MAX_REQUEST_BODY_BYTES=str(BIG))
    server = Gunicorn(env, worker_class=request.param)
    yield server
    server.stop()
    upstream.close()


@pytest.mark.parametrize(
    ("raw", "status", "code"), [c[1:] for c in CORPUS], ids=[c[0] for c in CORPUS]
)
def test_bad_input_is_a_4xx_in_the_envelope(
    gateway: Gunicorn, raw: bytes, status: int, code: str | None
) -> None:
    answer_status, head, body = exchange(gateway, raw)
    assert answer_status == status, body
    assert b"application/json" in head.lower()
    error = body["error"]
    assert isinstance(error, dict) and {"message", "type", "param", "code"} <= set(error)
    if code is not None:
        assert error["code"] == code
    assert "Traceback" not in gateway.logs()
