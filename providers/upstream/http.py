"""Pooled upstream sessions, and the one place ``requests`` outcomes become ``ProviderError``.

As ``requests.adapters`` translates urllib3's exceptions, ``send`` translates
``requests`` exceptions and error statuses; nothing above this module handles a
``requests`` exception or inspects a status code.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import suppress
from functools import lru_cache
from http.cookiejar import DefaultCookiePolicy
from typing import Any

import requests
from requests.structures import CaseInsensitiveDict
from urllib3 import exceptions as urllib3_errors
from urllib3.util.retry import Retry

from providers.errors import (
    ProviderError,
    TransportError,
    UpstreamResponseTooLarge,
    UpstreamServerError,
    UpstreamTimeout,
)
from providers.process import current_pid

from . import jsonlimits
from .guard import GuardedAdapter
from .translate import error_for_status, translate_exception

#: Connect failures are retried once (nothing reached the upstream); reads never are,
#: so a POST is never sent twice by the transport.
TRANSPORT_RETRIES = Retry(total=1, connect=1, read=0, status=0, other=0, redirect=0)
#: Bytes asked of the socket per read while relaying a stream.
STREAM_READ_SIZE = 65536
#: After ``[DONE]``, how long and how much to read for the end of the body, so that the
#: connection can be reused: providers send it with ``[DONE]``; one that does not is
#: not waited for.
FINISH_TIMEOUT = 0.25
FINISH_LIMIT = 65536
#: How much of an upstream's error body is read (the message reflected is shorter still).
ERROR_BODY_LIMIT = 65536
#: MAX_UPSTREAM_RESPONSE_BYTES: the largest whole answer, counted after decoding.
DEFAULT_MAX_RESPONSE_BYTES = 32 * 1024 * 1024
USER_AGENT = "keyrelay/0.1"

Timeout = tuple[float, float]


class SessionPool:
    """One ``requests.Session`` per upstream base URL, built lazily in each process.

    Sessions are never shared across a fork: a process that did not build a
    session (a gunicorn worker forked from a preloading master) builds its own.
    """

    def __init__(self, *, pool_maxsize: int = 10) -> None:
        self._pool_maxsize = pool_maxsize
        self._sessions: dict[str, requests.Session] = {}
        self._pid = current_pid()
        self._lock = threading.Lock()

    def get(self, base_url: str) -> requests.Session:
        """Return the session for ``base_url``, building it on first use."""
        session = self._sessions.get(base_url)
        if session is not None and self._pid == current_pid():
            return session
        with self._lock:
            if self._pid != current_pid():
                self._sessions, self._pid = {}, current_pid()
            session = self._sessions.get(base_url)
            if session is None:
                session = self._sessions[base_url] = self._build(base_url)
            return session

    def _build(self, base_url: str) -> requests.Session:
        session = requests.Session()
        session.trust_env = False  # a stray HTTP(S)_PROXY must not reroute provider traffic
        session.cookies.set_policy(DefaultCookiePolicy(allowed_domains=[]))
        session.headers["User-Agent"] = USER_AGENT
        adapter = GuardedAdapter(
            pool_connections=1,
            pool_maxsize=self._pool_maxsize,
            max_retries=TRANSPORT_RETRIES,
        )
        session.mount(base_url.rstrip("/") + "/", adapter)
        return session

    def close(self) -> None:
        """Close every session and its pooled connections."""
        with self._lock:
            for session in self._sessions.values():
                session.close()
            self._sessions.clear()


def send(
    session: requests.Session,
    method: str,
    url: str,
    *,
    key: str,
    timeout: Timeout,
    redact: Callable[[str], str],
    payload: Mapping[str, Any] | None = None,
    stream: bool = False,
    body: bytes | None = None,
    headers: Mapping[str, str] | None = None,
) -> requests.Response:
    """Send one request; return a 2xx response or raise the matching ``ProviderError``.

    ``payload`` is encoded as JSON, or ``body`` is the JSON already encoded; ``headers``
    are added (a native dialect's own). The body of the response is left unread:
    ``read_body`` reads a whole answer within its size cap, ``iter_body`` a stream.
    """
    if payload is not None:
        body = jsonlimits.dumps(payload)
    try:
        request = prepare(session, method, url, body=body, key=key, stream=stream)
        if headers:
            request.headers.update(headers)
        # The adapter itself, not Session.send: no hooks, no cookie jar to fill (the policy
        # refuses every cookie) and no redirects followed (below); 25 µs a request.
        response = session.get_adapter(request.url or url).send(
            request, timeout=timeout, stream=True
        )
    except requests.RequestException as exc:
        raise translate_exception(exc) from None
    # Sent: a held stream would keep its request, and so an agent's 1 MB body, alive for as
    # long as it runs (nothing reads it again).
    response.request = None  # type: ignore[assignment]
    if response.status_code < 300:
        return response
    if response.status_code < 400:
        # A provider's API does not redirect; following one would send the key elsewhere.
        response.close()
        raise UpstreamServerError(
            f"upstream answered HTTP {response.status_code} (a redirect, not followed)",
            upstream_status=response.status_code,
        )
    try:
        raw = read_body(response, ERROR_BODY_LIMIT, truncate=True)
    finally:
        response.close()
    text = raw.decode(response.encoding or "utf-8", "replace")
    raise error_for_status(response.status_code, response.headers, text, redact)


def read_body(response: requests.Response, limit: int, *, truncate: bool = False) -> bytes:
    """The decoded body, up to ``limit`` bytes: past it, cut (``truncate``) or refused.

    Decoding (gzip, deflate) happens a read at a time, so a small compressed body
    never expands past the limit in memory.
    """
    parts: list[bytes] = []
    size = 0
    for chunk in iter_body(response):
        size += len(chunk)
        if size > limit:
            if truncate:
                parts.append(chunk[: len(chunk) - (size - limit)])
                break
            response.close()
            raise UpstreamResponseTooLarge(
                f"the upstream's answer is larger than MAX_UPSTREAM_RESPONSE_BYTES ({limit} bytes)",
                upstream_status=response.status_code,
            )
        parts.append(chunk)
    return b"".join(parts)


def prepare(
    session: requests.Session, method: str, url: str, *, body: bytes | None, key: str, stream: bool
) -> requests.PreparedRequest:
    """Build the request ``session.request`` would, without its per-call merging work.

    The session carries no auth, cookies, params or environment settings (see
    ``SessionPool._build``), so ``Session.prepare_request`` would only merge
    headers, at about a third of the cost of the whole call.
    """
    headers: CaseInsensitiveDict[str] = CaseInsensitiveDict()
    for name, value in session.headers.items():
        headers[name] = value if isinstance(value, str) else value.decode("latin-1")
    if body is not None:
        headers["Content-Type"] = "application/json"
        headers["Content-Length"] = str(len(body))
    elif method not in ("GET", "HEAD"):
        headers["Content-Length"] = "0"
    if key:
        headers["Authorization"] = f"Bearer {key}"
    if stream:
        # A compressed event stream would be held back by the decompressor.
        headers["Accept"] = "text/event-stream"
        headers["Accept-Encoding"] = "identity"
    request = requests.PreparedRequest()
    request.method = method
    request.url = _prepared_url(url)
    request.headers = headers
    request.body = body
    return request


@lru_cache(maxsize=1024)
def _prepared_url(url: str) -> str:
    """``url`` as requests would send it (IDNA host, quoted path); URLs come from configuration."""
    request = requests.PreparedRequest()
    request.prepare_url(url, None)
    return request.url or url


def iter_body(response: requests.Response) -> Iterator[bytes]:
    """Yield the decoded body as bytes arrive, without waiting to fill a buffer."""
    raw = response.raw
    try:
        while chunk := raw.read1(STREAM_READ_SIZE, decode_content=True):
            yield chunk
    except (urllib3_errors.ReadTimeoutError, TimeoutError):
        raise UpstreamTimeout("the upstream stopped sending within the read timeout") from None
    except urllib3_errors.DecodeError:
        raise TransportError("the upstream's compressed body could not be decoded") from None
    except (urllib3_errors.HTTPError, requests.RequestException, OSError):
        raise TransportError("the upstream connection broke mid-stream") from None


def _socket(response: requests.Response) -> Any:
    connection = getattr(response.raw, "connection", None)
    return getattr(connection, "sock", None)


def set_read_timeout(response: requests.Response, seconds: float) -> bool:
    """Change the read timeout of the socket under ``response``; False if it has none."""
    sock = _socket(response)
    if sock is None:
        return False
    sock.settimeout(seconds)
    return True


def abort(response: requests.Response) -> None:
    """Shut the socket under ``response`` (from any thread): its reader gets an error."""
    sock = _socket(response)
    if sock is not None:
        with suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)


def finish_body(response: requests.Response) -> None:
    """Read what is left of a body (normally just the chunked terminator), within bounds.

    urllib3 returns a connection to its pool once the body has been read to the end;
    a stream left unfinished would close it instead, and the next request to that
    provider would pay for a new connection (and TLS handshake).
    """
    if not set_read_timeout(response, FINISH_TIMEOUT):
        return
    left = FINISH_LIMIT
    with suppress(ProviderError):
        for chunk in iter_body(response):
            left -= len(chunk)
            if left <= 0:
                return
