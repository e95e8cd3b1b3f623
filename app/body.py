"""The client's connection, bounded: the request body in size and time, every write in time.

gunicorn hands the application the client's socket (``gunicorn.socket``). Each
request sets a timeout on it (``CLIENT_SEND_TIMEOUT``): a write that the client
does not read within it fails, which ends a stream, closes its upstream
response and gives its key back. A socket timeout cannot bound a body sent one
byte at a time, so the body also has a deadline (``CLIENT_BODY_TIMEOUT``) kept
by the process's alarm, which shuts the socket's read side when it passes.
"""

from __future__ import annotations

import array
import fcntl
import select
import socket
import termios
import time
from collections.abc import Callable
from contextlib import suppress
from typing import Any

from flask import Response, request
from gunicorn.http.errors import ParseException
from providers import ALARM

from app.errors import APIError
from app.gateway import gateway

READ_SIZE = 65536
#: A body is read in steps this large: an agent's 1 MB turn in one step, not sixteen (each
#: step through gunicorn's reader costs a copy and, under gevent, a wait of its own).
BODY_STEP = 1024 * 1024


def _client_socket() -> Any:
    return request.environ.get("gunicorn.socket")


def limit_writes() -> None:
    """Give the client's socket the send timeout for this request (before the view runs)."""
    sock = _client_socket()
    if sock is None:
        return
    previous = sock.gettimeout()
    sock.settimeout(gateway().settings.client_send_timeout)
    request.environ["keyrelay.socket_timeout"] = previous


def finish_connection(response: Response) -> Response:
    """Once the response is out: the socket's own timeout back (for keep-alive waits), and
    after a 408 or 413 a lingering close, so that a body still arriving does not make the
    kernel reset the connection before the client has read the answer."""
    sock = _client_socket()
    if sock is None or "keyrelay.socket_timeout" not in request.environ:
        return response
    previous = request.environ["keyrelay.socket_timeout"]
    unread = response.status_code in (408, 413)

    def finish() -> None:
        if unread:
            with suppress(OSError):
                _linger(sock)
        with suppress(OSError):
            sock.settimeout(previous)

    response.call_on_close(finish)
    return response


#: A lingering close discards what the client still sends for this long, at most this much.
LINGER_SECONDS = 2.0
LINGER_BYTES = 64 * 1024 * 1024


def _linger(sock: Any) -> None:
    sock.shutdown(socket.SHUT_WR)
    sock.settimeout(LINGER_SECONDS)
    deadline = time.monotonic() + LINGER_SECONDS
    drained = 0
    while drained < LINGER_BYTES and time.monotonic() < deadline:
        data = sock.recv(READ_SIZE)
        if not data:
            return
        drained += len(data)


def client_probe() -> Callable[[], bool] | None:
    """A check, safe from any thread or greenlet and never blocking, of whether the client
    has closed its connection."""
    sock = _client_socket()
    return None if sock is None else closed_probe(sock.fileno())


def closed_probe(fd: int) -> Callable[[], bool]:
    """Whether the peer of socket ``fd`` has closed it, asked without reading or waiting."""
    waiting = array.array("i", [0])

    def gone() -> bool:
        # poll (not select: a busy worker's descriptors pass 1024) asks without waiting;
        # readable with nothing to read is the client's FIN (data: a pipelined request).
        # FIONREAD asks the kernel without reading, so no socket object waits on the socket.
        try:
            poller = select.poll()
            poller.register(fd, select.POLLIN | select.POLLERR | select.POLLHUP)
            events = poller.poll(0)
            if not events:
                return False
            if events[0][1] & (select.POLLERR | select.POLLHUP | select.POLLNVAL):
                return True
            fcntl.ioctl(fd, termios.FIONREAD, waiting)
            return waiting[0] == 0
        except (OSError, ValueError):
            return True

    return gone


def _too_large(limit: int) -> APIError:
    return APIError(
        413, f"Request body too large: the limit is {limit} bytes", code="request_too_large"
    )


def read_body() -> bytes:
    """The whole request body, within MAX_REQUEST_BODY_BYTES and CLIENT_BODY_TIMEOUT.

    Chunked bodies are held to the same size limit as bodies with a Content-Length
    (413 either way); a body that does not arrive in time is a 408.
    """
    settings = gateway().settings
    limit = settings.max_body_bytes
    length = request.content_length
    if length is not None and length > limit:
        raise _too_large(limit)
    sock = _client_socket()
    alarm = ALARM.after(settings.client_body_timeout, lambda: _shut_reads(sock)) if sock else None
    parts: list[bytes] = []
    size = 0
    try:
        stream = request.environ["wsgi.input"]
        while length is None or size < length:
            chunk = stream.read(BODY_STEP if length is None else min(BODY_STEP, length - size))
            if not chunk:
                break
            size += len(chunk)
            if size > limit:
                raise _too_large(limit)
            parts.append(chunk)
    except (OSError, ParseException) as exc:
        if alarm is not None and alarm.cancel():
            raise _late(settings.client_body_timeout) from None
        reason = str(exc)[:200] or type(exc).__name__
        raise APIError(
            400, f"The request body could not be read: {reason}", code="invalid_body"
        ) from None
    if alarm is not None and alarm.cancel():
        raise _late(settings.client_body_timeout)
    if length is not None and size < length:
        raise APIError(400, "The request body ended before its Content-Length", code="invalid_body")
    return b"".join(parts)


def _late(seconds: float) -> APIError:
    return APIError(
        408,
        f"The request body did not arrive within {seconds:g} seconds (CLIENT_BODY_TIMEOUT)",
        code="request_timeout",
    )


def _shut_reads(sock: Any) -> None:
    with suppress(OSError):
        sock.shutdown(socket.SHUT_RD)
