"""Requests waiting for a busy key (MAX_CONCURRENT_REQUESTS_PER_KEY_<P>) to free up.

When every usable key of every candidate is busy, not blocked, a request waits
for a slot instead of failing at once, within its deadline: first come, first
served, woken by the release of a key it could use, and a client that leaves
gives up its place. A release in this process wakes a waiter at once; with shared
key state (another worker's or host's release is not seen here) a waiter also looks
again every ``poll`` seconds.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Collection

from providers.upstream.guard import ClientWatch


class _Waiter:
    __slots__ = ("event", "providers")

    def __init__(self, providers: frozenset[str]) -> None:
        self.providers = providers
        self.event = threading.Event()


class SlotQueue:
    """Waiters in arrival order; a released key wakes the first one that can use it."""

    def __init__(self, poll: float | None = None) -> None:
        self._poll = poll
        self._waiters: deque[_Waiter] = deque()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._waiters)

    def wait(
        self,
        providers: Collection[str],
        seconds: float,
        client_gone: Callable[[], bool] | None = None,
        *,
        again: bool = False,
    ) -> bool:
        """Wait up to ``seconds`` for a key of ``providers``; False on time-out or a gone client.

        ``again``: a waiter that was woken but lost the slot keeps its place at the front.
        With ``poll``, True after at most ``poll`` seconds: the caller looks again.
        """
        polling = self._poll is not None and seconds > self._poll
        seconds = min(seconds, self._poll or seconds)
        waiter = _Waiter(frozenset(providers))
        with self._lock:
            if again:
                self._waiters.appendleft(waiter)
            else:
                self._waiters.append(waiter)
        watch = ClientWatch(client_gone, waiter.event.set) if client_gone else None
        try:
            woken = waiter.event.wait(seconds)
        finally:
            if watch is not None:
                watch.stop()
            with self._lock:
                if waiter in self._waiters:
                    self._waiters.remove(waiter)
        return (woken or polling) and not (watch is not None and watch.fired)

    def waiting(self, provider: str) -> int:
        """How many requests are waiting for a key of ``provider``."""
        with self._lock:
            return sum(1 for waiter in self._waiters if provider in waiter.providers)

    def released(self, provider: str) -> None:
        """A key of ``provider`` was given back: wake the first waiter that can use it."""
        if not self._waiters:
            return
        with self._lock:
            for waiter in self._waiters:
                if provider in waiter.providers:
                    self._waiters.remove(waiter)
                    waiter.event.set()
                    return
