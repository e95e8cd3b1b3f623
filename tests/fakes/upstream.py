"""A fake OpenAI-compatible upstream on a loopback socket, for tests and demos.

It speaks the real wire format: JSON bodies with real statuses and headers, and
streams as byte-exact Server-Sent Events over chunked transfer encoding. Replies
are scripted per API key (``script``) or for everyone (``default``); every
request is recorded in ``hits`` so tests can count what reached the upstream.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from collections import defaultdict, deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from bench.upstream import wait_until as wait_until
from tests.fakes.native import native_default

#: How long a gated reply waits for the test before giving up.
GATE_TIMEOUT = 15.0


@dataclass
class Reply:
    """One scripted answer."""

    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    #: JSON body for a whole answer (None: a normal completion).
    body: Any = None
    #: Raw body bytes, sent as they are (overrides ``body``).
    raw: bytes | None = None
    #: Stream events: dicts are JSON-encoded into ``data:`` lines, bytes are sent as is.
    events: list[Any] | None = None
    #: Send ``data: [DONE]`` after the events.
    done: bool = True
    #: Wait for ``advance()`` before each event after the first (lockstep with the test).
    gated: bool = False
    #: After this many events, cut the connection without ending the body.
    drop_after: int | None = None
    #: After this many events, stop sending (until the client gives up).
    stall_after: int | None = None
    #: Seconds to wait before sending the status line.
    delay: float = 0.0
    #: A body sent piece by piece with chunked encoding, as the iterable yields it
    #: (trickles, endless or huge bodies); overrides ``raw``, ``body`` and ``events``.
    pieces: Callable[[], Iterable[bytes]] | None = None

    def __post_init__(self) -> None:
        self._gate = threading.Semaphore(0)
        self.disconnected = threading.Event()
        self.sent = 0

    def advance(self, steps: int = 1) -> None:
        """Let a gated reply send ``steps`` more events."""
        for _ in range(steps):
            self._gate.release()


@dataclass(frozen=True)
class Hit:
    """One request the upstream received."""

    method: str
    path: str
    key: str | None
    body: dict[str, Any] | None
    #: The request's headers, names lower-cased.
    headers: dict[str, str] = field(default_factory=dict, compare=False)
    #: The request's body as it came.
    raw: bytes = field(default=b"", compare=False)


def completion(model: str, content: str = "Hello from the fake upstream.") -> dict[str, Any]:
    """A chat.completion body."""
    return {
        "id": "chatcmpl-fake",
        "object": "chat.completion",
        "created": 1_700_000_000,
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": content, "refusal": None},
                "logprobs": None,
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 5, "completion_tokens": 7, "total_tokens": 12},
    }


def error_envelope(status: int, message: str | None = None) -> dict[str, Any]:
    """The OpenAI error body an upstream sends with ``status``."""
    kinds = {
        400: ("invalid_request_error", None),
        401: ("invalid_request_error", "invalid_api_key"),
        402: ("insufficient_quota", "insufficient_quota"),
        403: ("request_forbidden", None),
        404: ("invalid_request_error", "model_not_found"),
        429: ("requests", "rate_limit_exceeded"),
    }
    error_type, code = kinds.get(status, ("server_error", None))
    return {
        "error": {
            "message": message or f"fake upstream error {status}",
            "type": error_type,
            "param": None,
            "code": code,
        }
    }


def chunk(
    model: str, delta: dict[str, Any], finish: str | None = None, **extra: Any
) -> dict[str, Any]:
    """A chat.completion.chunk."""
    return {
        "id": "chatcmpl-fake",
        "object": "chat.completion.chunk",
        "created": 1_700_000_000,
        "model": model,
        "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}],
        **extra,
    }


def endless_words(model: str, seconds: float = 60.0) -> Iterator[bytes]:
    """A stream's first chunk, then 16 KB words as fast as they are taken, for ``seconds``.

    For ``Reply(pieces=...)``: endless as far as a test goes. Loopback buffers can grow to
    tens of megabytes, so a finite answer may be swallowed whole by them and its sender
    never learn that the client left.
    """
    first, word = (
        b"data: " + json.dumps(chunk(model, delta)).encode() + b"\n\n"
        for delta in ({"role": "assistant", "content": ""}, {"content": "x" * 16000})
    )
    yield first
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        yield word


def stream_events(model: str, words: list[str], *, usage: bool = False) -> list[Any]:
    """The events of a normal streamed answer made of ``words``."""
    events: list[Any] = [chunk(model, {"role": "assistant", "content": ""})]
    events += [chunk(model, {"content": w}) for w in words]
    events.append(chunk(model, {}, "stop"))
    if usage:
        events.append(
            {
                "id": "chatcmpl-fake",
                "object": "chat.completion.chunk",
                "created": 1_700_000_000,
                "model": model,
                "choices": [],
                "usage": {
                    "prompt_tokens": 5,
                    "completion_tokens": len(words),
                    "total_tokens": 5 + len(words),
                },
            }
        )
    return events


class FakeUpstream:
    """A threaded fake OpenAI-compatible server on 127.0.0.1 and a port chosen at run time."""

    def __init__(self, models: list[str] | None = None) -> None:
        self.models = models if models is not None else ["fake-model", "other-model"]
        self.hits: list[Hit] = []
        #: TCP connections accepted so far (a pooled client reuses them).
        self.connections = 0
        #: Answers requests no script covers; None (or returning None): the normal answer.
        self.default: Callable[[Hit], Reply | None] | None = None
        self._scripts: dict[str | None, deque[Reply]] = defaultdict(deque)
        self._lock = threading.Lock()
        self._server = _Server(("127.0.0.1", 0), _handler(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    @property
    def port(self) -> int:
        """The port the server listens on."""
        return int(self._server.server_address[1])

    @property
    def base_url(self) -> str:
        """The base URL to configure as ``<P>_API_BASE``."""
        return f"http://127.0.0.1:{self.port}/v1"

    def script(self, key: str | None, *replies: Reply) -> None:
        """Queue replies for requests made with ``key`` (None: requests without a key)."""
        with self._lock:
            self._scripts[key].extend(replies)

    def hits_for(self, key: str | None = None, path: str | None = None) -> list[Hit]:
        """The recorded requests, optionally only those with ``key`` and/or to ``path``."""
        with self._lock:
            return [
                h
                for h in self.hits
                if (key is None or h.key == key) and (path is None or h.path.endswith(path))
            ]

    def _next_reply(self, hit: Hit) -> Reply | None:
        with self._lock:
            self.hits.append(hit)
            queue = self._scripts.get(hit.key)
            if queue:
                return queue.popleft()
        return self.default(hit) if self.default else None

    def close(self) -> None:
        """Stop serving."""
        self._server.shutdown()
        self._server.server_close()


class _Server(ThreadingHTTPServer):
    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that hangs up mid-request is normal here (the proxy closing a stream)."""
        if not isinstance(sys.exc_info()[1], OSError):
            super().handle_error(request, client_address)


def _handler(fake: FakeUpstream) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True  # headers and body go out at once, as real servers do

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def setup(self) -> None:
            super().setup()
            with fake._lock:
                fake.connections += 1

        def do_GET(self) -> None:
            self._serve(None)

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            self._serve(json.loads(raw) if raw else None, raw)

        def _serve(self, body: dict[str, Any] | None, raw: bytes = b"") -> None:
            auth = self.headers.get("Authorization", "")
            # Anthropic's own dialect carries the key in x-api-key.
            key = auth[7:] if auth.startswith("Bearer ") else self.headers.get("x-api-key")
            headers = {k.lower(): v for k, v in self.headers.items()}
            hit = Hit(self.command, self.path, key, body, headers, raw)
            reply = fake._next_reply(hit) or self._default_reply(body)
            if reply.delay:
                time.sleep(reply.delay)
            try:
                if reply.pieces is not None:
                    self._pieces(reply)
                elif reply.events is not None:
                    self._stream(reply)
                else:
                    self._whole(reply)
            except (BrokenPipeError, ConnectionResetError):
                reply.disconnected.set()
                self.close_connection = True

        def _default_reply(self, body: dict[str, Any] | None) -> Reply:
            model = str((body or {}).get("model", "fake-model"))
            if self.path.split("?")[0].endswith("/models"):
                data = [
                    {"id": m, "object": "model", "created": 0, "owned_by": "fake"}
                    for m in fake.models
                ]
                return Reply(body={"object": "list", "data": data})
            if self.path.endswith("/embeddings"):
                inputs = (body or {}).get("input")
                count = len(inputs) if isinstance(inputs, list) else 1
                data = [
                    {"object": "embedding", "index": i, "embedding": [0.1, 0.2, 0.3]}
                    for i in range(count)
                ]
                return Reply(
                    body={
                        "object": "list",
                        "data": data,
                        "model": model,
                        "usage": {"prompt_tokens": 3, "total_tokens": 3},
                    }
                )
            if self.path.endswith(("/messages", "/responses", "/count_tokens")):
                whole, events = native_default(self.path, body or {})
                return Reply(body=whole) if events is None else Reply(events=events, done=False)
            if (body or {}).get("stream"):
                usage = bool(((body or {}).get("stream_options") or {}).get("include_usage"))
                return Reply(
                    events=stream_events(model, ["Hello", " from", " the", " fake."], usage=usage)
                )
            return Reply(body=completion(model))

        def _whole(self, reply: Reply) -> None:
            if reply.raw is not None:
                data = reply.raw
            elif reply.body is not None:
                data = json.dumps(reply.body).encode()
            elif reply.status >= 400:
                data = json.dumps(error_envelope(reply.status)).encode()
            else:
                data = json.dumps(completion("fake-model")).encode()
            self.send_response(reply.status)
            headers = {"Content-Type": "application/json", **reply.headers}
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
            self.wfile.flush()

        def _stream(self, reply: Reply) -> None:
            self.send_response(reply.status)
            headers = {
                "Content-Type": "text/event-stream",
                "Cache-Control": "no-cache",
                **reply.headers,
            }
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            self.wfile.flush()
            events = list(reply.events or [])
            for index, event in enumerate(events):
                if reply.drop_after is not None and index >= reply.drop_after:
                    self.close_connection = True
                    return  # the connection closes with the body unfinished
                if reply.stall_after is not None and index >= reply.stall_after:
                    reply._gate.acquire(timeout=GATE_TIMEOUT)
                    self.close_connection = True
                    return
                if reply.gated and index > 0 and not reply._gate.acquire(timeout=GATE_TIMEOUT):
                    self.close_connection = True
                    return
                self._chunk(
                    event
                    if isinstance(event, bytes)
                    else b"data: " + json.dumps(event).encode() + b"\n\n"
                )
                reply.sent += 1
            if reply.done:
                self._chunk(b"data: [DONE]\n\n")
            self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()

        def _pieces(self, reply: Reply) -> None:
            assert reply.pieces is not None
            self.send_response(reply.status)
            headers = {"Content-Type": "application/json", **reply.headers}
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            self.wfile.flush()
            for piece in reply.pieces():
                self._chunk(piece)
                reply.sent += 1
            self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()

        def _chunk(self, data: bytes) -> None:
            self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
            self.wfile.flush()

    return Handler
