"""What the shared key stores have in common: the keys this process holds.

A key of a pool with a cap (``MAX_CONCURRENT_REQUESTS_PER_KEY_<P>``) is held through a
lease in the shared store, so that the cap holds across workers and hosts; its handle
(a row id, a Redis member) is kept here to give it back. A key of a pool without a cap
is counted here only: nothing to give back to the store, so a request costs one store
write (choosing the key), not two. Such keys rotate least recently used across the
fleet, least busy within the worker.
"""

from __future__ import annotations

import threading
from collections import Counter
from typing import Generic, TypeVar

H = TypeVar("H")


class HeldLeases(Generic[H]):
    """Handles of the shared leases held here, and counts of the keys held here alone."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._shared: dict[tuple[str, str], list[H]] = {}
        self._local: Counter[tuple[str, str]] = Counter()

    def hold(self, pool: str, key: str, handle: H | None) -> None:
        """``key`` is in use: through the shared lease ``handle``, or here alone (None)."""
        with self._lock:
            if handle is None:
                self._local[(pool, key)] += 1
            else:
                self._shared.setdefault((pool, key), []).append(handle)

    def give_back(self, pool: str, key: str) -> H | None:
        """Forget one hold of ``key``; the shared lease to delete, if it had one."""
        with self._lock:
            held = self._local[(pool, key)]
            if held > 1:
                self._local[(pool, key)] = held - 1
                return None
            if held == 1:  # forgotten at zero: the counter stays as small as what is in use
                del self._local[(pool, key)]
                return None
            handles = self._shared.get((pool, key))
            if not handles:
                return None
            handle = handles.pop()
            if not handles:
                del self._shared[(pool, key)]
            return handle

    def local_busy_in(self, pool: str) -> dict[str, int]:
        """The keys of a pool without a cap this process holds now, and how many times each."""
        with self._lock:
            return {k: n for (p, k), n in self._local.items() if p == pool}

    def shared(self) -> list[tuple[str, H]]:
        """Every shared lease held here, with its pool (to renew them)."""
        with self._lock:
            return [(pool, h) for (pool, _), hs in self._shared.items() for h in hs]
