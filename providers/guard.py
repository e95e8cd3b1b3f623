"""``REQUEST_DEADLINE`` over a whole upstream exchange, however slowly the upstream sends.

A socket read timeout restarts with every byte, so an upstream that trickles its
headers or body could hold a request (and its key) far past the deadline. Each
attempt runs inside ``guarded``: the connections it uses register themselves
(through the adapter built by ``GuardedAdapter``), and when the deadline passes
the alarm shuts their sockets, which ends any read in progress at once.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from contextvars import ContextVar
from typing import Any

from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

from .alarm import ALARM, Alarm


class Guard:
    """The connections one attempt has used, and whether its deadline cut them."""

    def __init__(self) -> None:
        self.connections: list[HTTPConnection] = []
        self.fired = False

    def cut(self) -> None:
        """Shut every connection of the attempt: blocked reads end with an error."""
        self.fired = True
        for connection in self.connections:
            sock = getattr(connection, "sock", None)
            if sock is not None:
                with suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)


_CURRENT: ContextVar[Guard | None] = ContextVar("keyrelay_upstream_guard", default=None)


@contextmanager
def guarded(seconds: float, alarm: Alarm = ALARM) -> Iterator[Guard]:
    """Cut the connections used inside this block once ``seconds`` have passed.

    On leaving, ``guard.fired`` says whether the cut happened (the caller turns
    whatever failure it caused into ``DeadlineExceeded``).
    """
    guard = Guard()
    token = _CURRENT.set(guard)
    handle = alarm.after(seconds, guard.cut)
    try:
        yield guard
    finally:
        _CURRENT.reset(token)
        guard.fired = handle.cancel()


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


class GuardedAdapter(HTTPAdapter):
    """requests' adapter, with connections that report to the attempt in progress."""

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        """Build the pool manager with the registering connection classes."""
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {"http": _HTTPPool, "https": _HTTPSPool}
