"""Alarms: run an action at a deadline unless it is cancelled first, from one thread per process.

Used to cut what a timeout on each socket read cannot bound: a peer that sends
one byte at a time keeps every read short, so only a clock outside the reading
thread can end the exchange (a client's request body, an upstream attempt
under ``REQUEST_DEADLINE``). Under gevent the thread is a greenlet.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import threading
import time
from collections.abc import Callable

from providers.process import current_pid

log = logging.getLogger(__name__)


class AlarmHandle:
    """One scheduled action; ``cancel`` it when the guarded work ends."""

    __slots__ = ("_alarm", "action", "cancelled", "fired")

    def __init__(self, alarm: Alarm, action: Callable[[], None]) -> None:
        self._alarm = alarm
        self.action = action
        self.cancelled = False
        self.fired = False

    def cancel(self) -> bool:
        """Stop the alarm; True if it had already fired (the work was cut)."""
        return self._alarm._cancel(self)


class Alarm:
    """A heap of deadlines served by one daemon thread, started lazily in each process."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._heap: list[tuple[float, int, AlarmHandle]] = []
        self._order = itertools.count()
        self._cancelled = 0
        self._lock = threading.Lock()
        self._wake = threading.Condition(self._lock)
        self._pid = 0

    def after(self, seconds: float, action: Callable[[], None]) -> AlarmHandle:
        """Run ``action`` in ``seconds`` unless the returned handle is cancelled before."""
        handle = AlarmHandle(self, action)
        when = self._clock() + max(0.0, seconds)
        with self._lock:
            if self._pid != current_pid():
                self._start()
            earliest = self._heap[0][0] if self._heap else None
            heapq.heappush(self._heap, (when, next(self._order), handle))
            if earliest is None or when < earliest:
                self._wake.notify()
        return handle

    def __len__(self) -> int:
        return len(self._heap) - self._cancelled

    def _start(self) -> None:
        # A forked child inherits the heap but not the thread.
        self._pid = current_pid()
        self._heap, self._cancelled = [], 0
        threading.Thread(target=self._run, name="keyrelay-alarm", daemon=True).start()

    def _cancel(self, handle: AlarmHandle) -> bool:
        with self._lock:
            if handle.fired or handle.cancelled:
                return handle.fired
            handle.cancelled = True
            self._cancelled += 1
            if self._cancelled > 64 and self._cancelled * 2 > len(self._heap):
                # Cancelled entries would otherwise stay until their deadline.
                self._heap = [entry for entry in self._heap if not entry[2].cancelled]
                heapq.heapify(self._heap)
                self._cancelled = 0
            return False

    def _next_due(self) -> AlarmHandle:
        with self._lock:
            while True:
                if not self._heap:
                    self._wake.wait()
                    continue
                when, _, handle = self._heap[0]
                if handle.cancelled:
                    heapq.heappop(self._heap)
                    self._cancelled -= 1
                    continue
                delay = when - self._clock()
                if delay > 0:
                    self._wake.wait(delay)
                    continue
                heapq.heappop(self._heap)
                handle.fired = True
                return handle

    def _run(self) -> None:
        while True:
            handle = self._next_due()
            try:
                handle.action()
            except Exception:  # an action must never stop the alarm thread
                log.exception("alarm action failed")


#: The process's alarm, shared by the web edge and the router.
ALARM = Alarm()
