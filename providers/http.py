"""Pooled upstream sessions, and the one place ``requests`` outcomes become ``ProviderError``.

As ``requests.adapters`` translates urllib3's exceptions, ``send`` translates
``requests`` exceptions and error statuses; nothing above this module handles a
``requests`` exception or inspects a status code.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import suppress
from functools import lru_cache
from http.cookiejar import DefaultCookiePolicy
from typing import Any

import requests
from requests.adapters import HTTPAdapter
from requests.structures import CaseInsensitiveDict
from urllib3 import exceptions as urllib3_errors
from urllib3.util.retry import Retry

from .errors import (
    CallerError,
    KeyRejected,
    ModelNotServed,
    ProviderError,
    QuotaExhausted,
    RateLimited,
    TransportError,
    UpstreamServerError,
    UpstreamTimeout,
)
from .ratelimit import retry_after

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
        self._pid = os.getpid()
        self._lock = threading.Lock()

    def get(self, base_url: str) -> requests.Session:
        """Return the session for ``base_url``, building it on first use."""
        session = self._sessions.get(base_url)
        if session is not None and self._pid == os.getpid():
            return session
        with self._lock:
            if self._pid != os.getpid():
                self._sessions, self._pid = {}, os.getpid()
            session = self._sessions.get(base_url)
            if session is None:
                session = self._sessions[base_url] = self._build(base_url)
            return session

    def _build(self, base_url: str) -> requests.Session:
        session = requests.Session()
        session.trust_env = False  # a stray HTTP(S)_PROXY must not reroute provider traffic
        session.cookies.set_policy(DefaultCookiePolicy(allowed_domains=[]))
        session.headers["User-Agent"] = USER_AGENT
        adapter = HTTPAdapter(
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
) -> requests.Response:
    """Send one request; return a 2xx response or raise the matching ``ProviderError``."""
    body = None if payload is None else json.dumps(payload, separators=(",", ":")).encode()
    try:
        request = prepare(session, method, url, body=body, key=key, stream=stream)
        response = session.send(request, timeout=timeout, stream=stream)
    except requests.RequestException as exc:
        raise translate_exception(exc) from None
    if response.status_code < 400:
        return response
    try:
        text = response.text
    except requests.RequestException as exc:
        raise translate_exception(exc) from None
    finally:
        response.close()
    raise error_for_status(response.status_code, response.headers, text, redact)


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


def translate_exception(exc: requests.RequestException) -> ProviderError:
    """Map a ``requests`` exception onto the ``ProviderError`` tree."""
    if isinstance(exc, requests.ConnectTimeout):
        return UpstreamTimeout("the upstream did not accept the connection in time")
    if isinstance(exc, requests.ReadTimeout):
        return UpstreamTimeout("the upstream did not answer in time")
    if isinstance(exc, requests.ConnectionError) and "timed out" in str(exc).lower():
        return UpstreamTimeout("the upstream stopped sending within the read timeout")
    if isinstance(exc, requests.ConnectionError):
        return TransportError("could not connect to the upstream")
    if isinstance(exc, requests.exceptions.ChunkedEncodingError):
        return TransportError("the upstream connection broke mid-response")
    return TransportError(f"upstream request failed ({type(exc).__name__})")


def error_details(data: Any) -> dict[str, Any]:
    """Pull an OpenAI-style error object out of any provider's error body."""
    if isinstance(data, list) and data:
        data = data[0]
    if not isinstance(data, dict):
        return {}
    error = data.get("error", data)
    if isinstance(error, str):
        return {"message": error}
    if not isinstance(error, dict):
        return {}
    details = dict(error)
    if not isinstance(details.get("message"), str):
        message = details.get("message") or details.get("detail") or details.get("msg")
        details["message"] = json.dumps(message) if message is not None else ""
    return details


def _parse_error_body(text: str) -> dict[str, Any]:
    try:
        return error_details(json.loads(text))
    except ValueError:
        return {"message": text.strip()[:500]} if text.strip() else {}


def error_for_status(
    status: int, headers: Mapping[str, str], text: str, redact: Callable[[str], str]
) -> ProviderError:
    """Build the ``ProviderError`` for an upstream error status and body."""
    details = _parse_error_body(redact(text))
    message = details.get("message") or f"upstream answered HTTP {status}"
    marker = " ".join(str(details.get(k, "")) for k in ("type", "code", "status")).lower()
    kwargs: dict[str, Any] = {"upstream_status": status, "body": details or None}
    if status == 402 or "insufficient_quota" in marker or "insufficient_credits" in marker:
        return QuotaExhausted(message, **kwargs)
    if status == 429:
        return RateLimited(message, retry_after=retry_after(headers, details), **kwargs)
    if status in (401, 403) or "api_key_invalid" in text.lower():
        return KeyRejected(message, **kwargs)
    if status == 404:
        return ModelNotServed(message, **kwargs)
    if status == 408 or status >= 500:
        return UpstreamServerError(message, **kwargs)
    param = details.get("param")
    return CallerError(message, param=param if isinstance(param, str) else None, **kwargs)


def iter_body(response: requests.Response) -> Iterator[bytes]:
    """Yield the body as bytes arrive, without waiting to fill a buffer."""
    read = response.raw.read1
    try:
        while chunk := read(STREAM_READ_SIZE):
            yield chunk
    except (urllib3_errors.ReadTimeoutError, TimeoutError):
        raise UpstreamTimeout("the upstream stopped sending within the read timeout") from None
    except (urllib3_errors.HTTPError, requests.RequestException, OSError):
        raise TransportError("the upstream connection broke mid-stream") from None


def set_read_timeout(response: requests.Response, seconds: float) -> bool:
    """Change the read timeout of the socket under ``response``; False if it has none."""
    connection = getattr(response.raw, "connection", None)
    sock = getattr(connection, "sock", None)
    if sock is None:
        return False
    sock.settimeout(seconds)
    return True


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
