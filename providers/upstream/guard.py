"""``REQUEST_DEADLINE`` over a whole upstream exchange, however slowly the upstream sends.

A socket read timeout restarts with every byte, so an upstream that trickles its
headers or body could hold a request (and its key) far past the deadline. Each
attempt runs inside ``guarded``: the connections it uses register themselves
(through the adapter built by ``GuardedAdapter``), and when the deadline passes
the alarm shuts their sockets, which ends any read in progress at once.
"""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from contextvars import ContextVar
from typing import Any

from requests import PreparedRequest, Response
from requests.adapters import HTTPAdapter
from requests.structures import CaseInsensitiveDict
from requests.utils import get_encoding_from_headers
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

from providers.alarm import ALARM, Alarm

#: How often a request waiting on an upstream looks whether its client is still there.
WATCH_INTERVAL = 0.5
#: Most origins an adapter remembers the pool of (keyrelay mounts one adapter an origin).
MAX_ORIGINS = 64


class Guard:
    """The connections one attempt has used, and whether (and why) they were cut."""

    def __init__(self) -> None:
        self.connections: list[HTTPConnection] = []
        self.fired = False
        #: Cut because the client went away (not the deadline).
        self.client_left = False

    def cut(self) -> None:
        """Shut every connection of the attempt: blocked reads end with an error."""
        self.fired = True
        for connection in self.connections:
            sock = getattr(connection, "sock", None)
            if sock is not None:
                with suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)


_CURRENT: ContextVar[Guard | None] = ContextVar("keyrelay_upstream_guard", default=None)


class ClientWatch:
    """Asks ``gone`` every ``WATCH_INTERVAL`` seconds, on the alarm thread, whether the client
    has left; the first time it has, runs ``action`` (and asks no more)."""

    def __init__(
        self, gone: Callable[[], bool], action: Callable[[], None], alarm: Alarm = ALARM
    ) -> None:
        self._gone = gone
        self._action = action
        self._alarm = alarm
        self._stopped = False
        self.fired = False
        self._handle = alarm.after(WATCH_INTERVAL, self._check)

    def _check(self) -> None:
        if self._stopped:
            return
        if self._gone():
            self.fired = True
            self._action()
            return
        self._handle = self._alarm.after(WATCH_INTERVAL, self._check)

    def stop(self) -> None:
        """Stop watching."""
        self._stopped = True
        self._handle.cancel()


@contextmanager
def guarded(
    seconds: float, client_gone: Callable[[], bool] | None = None, alarm: Alarm = ALARM
) -> Iterator[Guard]:
    """Cut the connections used inside this block once ``seconds`` have passed, or as soon
    as ``client_gone`` says the client left.

    On leaving, ``guard.fired`` says whether the cut happened and ``guard.client_left``
    why (the caller turns the failure it caused into ``DeadlineExceeded`` or ``ClientGone``).
    """
    guard = Guard()
    token = _CURRENT.set(guard)
    handle = alarm.after(seconds, guard.cut)
    watch = ClientWatch(client_gone, _leave(guard), alarm) if client_gone else None
    try:
        yield guard
    finally:
        _CURRENT.reset(token)
        if watch is not None:
            watch.stop()
        guard.fired = handle.cancel() or guard.client_left


def _leave(guard: Guard) -> Callable[[], None]:
    def cut() -> None:
        guard.client_left = True
        guard.cut()

    return cut


class _Registering:
    """Mixed into urllib3's connections: the attempt in progress learns which one it uses."""

    def request(self, *args: Any, **kwargs: Any) -> Any:
        guard = _CURRENT.get()
        if guard is not None:
            guard.connections.append(self)  # type: ignore[arg-type]
        return super().request(*args, **kwargs)  # type: ignore[misc]


class _HTTPConnection(_Registering, HTTPConnection):
    pass


class _HTTPSConnection(_Registering, HTTPSConnection):
    pass


class _HTTPPool(HTTPConnectionPool):
    ConnectionCls = _HTTPConnection


class _HTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _HTTPSConnection


def _origin(url: str) -> str:
    """``scheme://host:port`` of ``url``."""
    end = url.find("/", url.find("//") + 2)
    return url if end < 0 else url[:end]


class GuardedAdapter(HTTPAdapter):
    """requests' adapter, with connections that report to the attempt in progress, the
    connection pool of each origin found once, and answers built without a cookie jar to
    fill (keyrelay's sessions keep no cookies and use no proxies)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        #: The pool of each (origin, verify, cert): requests parses the URL twice and
        #: normalises a pool key on every request to find it (about 30 µs).
        self._pools: dict[tuple[str, str, str], Any] = {}

    def get_connection_with_tls_context(
        self, request: PreparedRequest, verify: Any, proxies: Any = None, cert: Any = None
    ) -> Any:
        """requests' pool for the request's origin, remembered while it stays open."""
        url = request.url or ""
        if proxies or not url.startswith(("http://", "https://")):
            return super().get_connection_with_tls_context(request, verify, proxies, cert)
        key = (_origin(url), str(verify), str(cert))
        pool = self._pools.get(key)
        if pool is None or pool.pool is None:  # a pool closed (evicted, or the adapter's)
            pool = super().get_connection_with_tls_context(request, verify, proxies, cert)
            if len(self._pools) >= MAX_ORIGINS:
                self._pools.clear()
            self._pools[key] = pool
        return pool

    def build_response(self, req: PreparedRequest, resp: Any) -> Response:
        """``HTTPAdapter.build_response`` without reading cookies into the jar."""
        response = Response()
        response.status_code = getattr(resp, "status", None)  # type: ignore[assignment]
        response.headers = CaseInsensitiveDict(getattr(resp, "headers", {}))
        response.encoding = get_encoding_from_headers(response.headers)
        response.raw = resp
        response.reason = resp.reason
        response.url = req.url.decode("utf-8") if isinstance(req.url, bytes) else req.url or ""
        response.request = req
        response.connection = self
        return response

    def close(self) -> None:
        """Close the pools (and forget them)."""
        self._pools.clear()
        super().close()

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        """Build the pool manager with the registering connection classes."""
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {"http": _HTTPPool, "https": _HTTPSPool}
