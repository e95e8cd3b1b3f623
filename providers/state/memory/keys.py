"""Key state in this process: each key's block, in-flight count and last use, by fingerprint.

``STATE_URL=memory://``, and the local state that stands in while a shared store does
not answer (``providers.state.fallback``).
"""

from __future__ import annotations

import heapq
import threading
from collections.abc import Callable, Collection, Sequence
from dataclasses import replace

from providers.state.fallback import IN_PROCESS, Standby
from providers.state.records import COOLING, DISABLED, EXHAUSTED, USABLE, BlockSource, KeyState

#: A usable-heap entry: (in flight, last used, configured position, version, key id).
_Entry = tuple[int, float, int, int, str]


class _Pool:
    """One pool's keys: a heap of usable keys by (in flight, last used), one of blocked keys.

    Heap entries carry a version; a key's state change bumps it and pushes a new
    entry, and outdated entries are dropped when they reach the top. Selection,
    release and blocking are O(log n) in the number of keys.
    """

    def __init__(self, key_ids: Sequence[str]) -> None:
        self.states = dict.fromkeys(key_ids, _FRESH)
        self.version = dict.fromkeys(key_ids, 0)
        #: Configured position: among equals, keys are used in the order they were given.
        self.position = {k: i for i, k in enumerate(key_ids)}
        self.ready: list[_Entry] = [(0, 0.0, i, 0, k) for i, k in enumerate(key_ids)]
        heapq.heapify(self.ready)
        self.blocked: list[tuple[float, str]] = []
        #: Keys parked in ``blocked``, with why.
        self.parked: dict[str, str] = {}

    def push(self, key_id: str) -> None:
        state = self.states[key_id]
        self.version[key_id] += 1
        entry = (
            state.in_flight,
            state.last_used,
            self.position[key_id],
            self.version[key_id],
            key_id,
        )
        heapq.heappush(self.ready, entry)
        if len(self.ready) > 4 * len(self.states) + 64:
            self._compact()

    def _compact(self) -> None:
        self.ready = [
            (s.in_flight, s.last_used, self.position[k], self.version[k], k)
            for k, s in self.states.items()
            if k not in self.parked
        ]
        heapq.heapify(self.ready)

    def expire(self, now: float) -> None:
        """Move keys whose block has ended back to the usable heap."""
        while self.blocked and self.blocked[0][0] <= now:
            _, key_id = heapq.heappop(self.blocked)
            if key_id in self.parked and self.states[key_id].blocked_until <= now:
                del self.parked[key_id]
                self.push(key_id)

    def live(self, entry: _Entry) -> bool:
        key_id = entry[4]
        return entry[3] == self.version[key_id] and key_id not in self.parked


class InMemoryKeyStore:
    """Key state in this process, guarded by one lock."""

    clock: Callable[[], float] | None = None
    standby: Standby = IN_PROCESS
    on_latency: Callable[[float], None] | None = None

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pools: dict[str, _Pool] = {}

    def _pool(self, pool: str, key_ids: Sequence[str]) -> _Pool:
        state = self._pools.get(pool)
        if state is None:
            state = self._pools[pool] = _Pool(key_ids)
        return state

    def knows(self, pool: str) -> bool:
        """True once ``pool`` has been introduced with its keys."""
        return pool in self._pools

    def acquire(
        self,
        pool: str,
        key_ids: Sequence[str],
        *,
        exclude: Collection[str],
        max_in_flight: int | None,
        now: float,
    ) -> str | None:
        """Reserve the least busy, least recently used usable key, or return None."""
        with self._lock:
            keys = self._pool(pool, key_ids)
            keys.expire(now)
            passed_over = []
            chosen = None
            while keys.ready:
                entry = heapq.heappop(keys.ready)
                if not keys.live(entry):
                    continue
                passed_over.append(entry)
                if max_in_flight is not None and entry[0] >= max_in_flight:
                    break  # the heap's least busy key is full: so are all the others
                if entry[4] not in exclude:
                    chosen = entry[4]
                    passed_over.pop()
                    break
            for entry in passed_over:
                heapq.heappush(keys.ready, entry)
            if chosen is None:
                return None
            state = keys.states[chosen]
            keys.states[chosen] = replace(state, in_flight=state.in_flight + 1, last_used=now)
            keys.push(chosen)
            return chosen

    def release(self, pool: str, key_id: str) -> None:
        """Give back a key reserved by ``acquire``."""
        with self._lock:
            keys = self._pools[pool]
            state = keys.states[key_id]
            keys.states[key_id] = replace(state, in_flight=max(0, state.in_flight - 1))
            if key_id not in keys.parked:
                keys.push(key_id)

    def block(
        self,
        pool: str,
        key_id: str,
        *,
        until: float,
        reason: str,
        strike: bool,
        now: float,
        source: str = BlockSource.DEFAULT,
    ) -> None:
        """Block a key until ``until``; an existing later block is never shortened."""
        with self._lock:
            keys = self._pools[pool]
            state = keys.states[key_id]
            if state.blocked_until > now and state.blocked_until >= until:
                until, reason, source = state.blocked_until, state.reason, state.source
            strikes = state.strikes + 1 if strike else state.strikes
            keys.states[key_id] = replace(
                state, blocked_until=until, reason=reason, strikes=strikes, source=source
            )
            keys.parked[key_id] = reason
            heapq.heappush(keys.blocked, (until, key_id))

    def succeeded(self, pool: str, key_id: str) -> None:
        """Clear the rate-limit strikes of a key that just worked."""
        with self._lock:
            keys = self._pools[pool]
            state = keys.states[key_id]
            if state.strikes:
                keys.states[key_id] = replace(state, strikes=0)

    def snapshot(self, pool: str, key_ids: Sequence[str]) -> dict[str, KeyState]:
        """Return the state of each key."""
        with self._lock:
            keys = self._pool(pool, key_ids)
            return {k: keys.states[k] for k in key_ids}

    def counts(self, pool: str, key_ids: Sequence[str], now: float) -> dict[str, int]:
        """Count keys by status, without looking at every key."""
        with self._lock:
            keys = self._pool(pool, key_ids)
            keys.expire(now)
            counts: dict[str, int] = {
                USABLE: len(keys.states) - len(keys.parked),
                COOLING: 0,
                DISABLED: 0,
                EXHAUSTED: 0,
            }
            for reason in keys.parked.values():
                counts[reason] += 1
            return counts

    def next_available(self, pool: str, key_ids: Sequence[str], now: float) -> float | None:
        """When the first blocked key becomes usable, or None if none is blocked."""
        with self._lock:
            keys = self._pool(pool, key_ids)
            keys.expire(now)
            while keys.blocked:
                until, key_id = keys.blocked[0]
                if key_id in keys.parked and keys.states[key_id].blocked_until == until:
                    return until
                heapq.heappop(keys.blocked)
            return None

    def unblock(self, pool: str, key_id: str) -> None:
        """Lift a key's block and strikes (an operator replaced or topped up the key)."""
        with self._lock:
            keys = self._pools.get(pool)
            if keys is None or key_id not in keys.states:
                return
            state = keys.states[key_id]
            keys.states[key_id] = replace(state, blocked_until=0.0, reason=USABLE, strikes=0)
            if keys.parked.pop(key_id, None) is not None:
                keys.push(key_id)


_FRESH = KeyState()
