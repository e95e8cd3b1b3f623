"""Key state through the shared store's ``Standby``: this process's own while it is away.

``FallbackKeyStore`` asks the shared store first; when it raises ``StateUnavailable`` (a
lock held past ``STATE_TIMEOUT``, a disk error, Redis away) it answers from an
in-process store with the same rules, and goes back to the shared store on the next
call. Keys taken from the local store are given back there.

A block the shared store did not take (a full disk, a read-only file, Redis away while
reads still work or after it returns) is kept here and laid over the shared answers:
the key is not chosen while it is blocked, and the block is written back, at most once a
second, until the store takes it. Until then the store is not said to be back.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from functools import partial
from typing import TypeVar

from providers.state.contract import KeyStore
from providers.state.memory.keys import InMemoryKeyStore
from providers.state.records import BlockSource, KeyState, KeyStatus

T = TypeVar("T")


@dataclass(frozen=True)
class _Block:
    """One ``block`` call, kept to be written again."""

    until: float
    reason: str
    strike: bool
    now: float
    source: str

    def apply(self, store: KeyStore, pool: str, key_id: str) -> None:
        """Block ``key_id`` in ``store``."""
        store.block(
            pool,
            key_id,
            until=self.until,
            reason=self.reason,
            strike=self.strike,
            now=self.now,
            source=self.source,
        )


class FallbackKeyStore:
    """``shared``, or this process's own key state while ``shared`` cannot answer."""

    def __init__(self, shared: KeyStore) -> None:
        self.shared = shared
        self.standby = shared.standby
        self.local = InMemoryKeyStore()
        #: Shared stores keep wall-clock times; the local one follows the same clock.
        self.clock: Callable[[], float] | None = shared.clock
        #: Told how long each call to the shared store took, in seconds (metrics).
        self.on_latency: Callable[[float], None] | None = None
        #: Each pool's keys, as the first acquire named them.
        self._key_ids: dict[str, tuple[str, ...]] = {}
        self._local_leases: Counter[tuple[str, str]] = Counter()
        self._lock = threading.Lock()
        #: Blocks the shared store has not taken yet, by (pool, key), and when to retry.
        self._unwritten: dict[tuple[str, str], _Block] = {}
        self._retry_at = 0.0

    @property
    def up(self) -> bool:
        """True while the shared store answers (published as keyrelay_state_store_up)."""
        return self.standby.up

    def _run(
        self, call: Callable[[KeyStore], T], local: Callable[[], T], *, write: bool = True
    ) -> T:
        """``call`` on the shared store (timed), or ``local()`` while it cannot answer; a
        write proves the store is back unless blocks it has not taken are still held here."""

        def timed() -> T:
            started = time.perf_counter()
            result = call(self.shared)
            if self.on_latency is not None:
                self.on_latency(time.perf_counter() - started)
            return result

        return self.standby.run(timed, local, proves=write and not self._unwritten)

    def acquire(
        self,
        pool: str,
        key_ids: Sequence[str],
        *,
        exclude: Collection[str],
        max_in_flight: int | None,
        now: float,
    ) -> str | None:
        """Reserve a key in the shared store, or locally while it cannot answer."""
        self._key_ids.setdefault(pool, tuple(key_ids))
        if self._unwritten:
            exclude = {*exclude, *self._blocked_here(pool, now)}

        def here() -> str | None:
            key = self.local.acquire(
                pool, key_ids, exclude=exclude, max_in_flight=max_in_flight, now=now
            )
            if key is not None:
                with self._lock:
                    self._local_leases[(pool, key)] += 1
            return key

        # Without a cap, choosing a key may be a read (the state file's WAL answers reads
        # while writes wait): only taking a lease proves the store writes again.
        return self._run(
            lambda s: s.acquire(
                pool, key_ids, exclude=exclude, max_in_flight=max_in_flight, now=now
            ),
            here,
            write=max_in_flight is not None,
        )

    def release(self, pool: str, key_id: str) -> None:
        """Give a key back where it was taken."""
        with self._lock:
            local = self._local_leases[(pool, key_id)] > 0
            if local:
                self._local_leases[(pool, key_id)] -= 1
        if local:
            self.local.release(pool, key_id)
            return
        # If the store does not take it, the lease expires (Redis) or dies with us (SQLite).
        self._run(lambda s: s.release(pool, key_id), lambda: None, write=False)

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
        """Block a key in both stores: the local one keeps the rule while the shared is away."""
        block = _Block(until, reason, strike, now, source)
        if pool in self._key_ids:
            self.local.snapshot(pool, self._key_ids[pool])  # introduces the pool locally
            block.apply(self.local, pool, key_id)

        def keep() -> None:
            with self._lock:
                self._unwritten[(pool, key_id)] = block
                self._retry_at = time.monotonic() + 1.0

        self._run(lambda s: block.apply(s, pool, key_id), keep)

    def _blocked_here(self, pool: str, now: float) -> set[str]:
        """Keys of ``pool`` blocked by a block the shared store has not taken; those it
        takes now (one try a second) are forgotten here."""
        if time.monotonic() >= self._retry_at:
            self._write_back(now)
        with self._lock:
            return {k for (p, k), b in self._unwritten.items() if p == pool and b.until > now}

    def _write_back(self, now: float) -> None:
        with self._lock:
            pending = list(self._unwritten.items())
            self._retry_at = time.monotonic() + 1.0
        for (pool, key_id), block in pending:
            if block.until > now and not self.standby.attempt(
                partial(block.apply, self.shared, pool, key_id)
            ):
                return
            with self._lock:
                if self._unwritten.get((pool, key_id)) is block:
                    del self._unwritten[(pool, key_id)]

    def succeeded(self, pool: str, key_id: str) -> None:
        """Clear the strikes of a key that just worked."""
        # Mostly a read: it proves nothing about writes.
        self._run(
            lambda s: s.succeeded(pool, key_id),
            lambda: self.local.succeeded(pool, key_id),
            write=False,
        )

    def unblock(self, pool: str, key_id: str) -> None:
        """Lift a key's block."""
        self.local.unblock(pool, key_id)
        self._run(lambda s: s.unblock(pool, key_id), lambda: None)

    def snapshot(self, pool: str, key_ids: Sequence[str]) -> dict[str, KeyState]:
        """Each key's state."""
        return self._run(
            lambda s: s.snapshot(pool, key_ids),
            lambda: self.local.snapshot(pool, key_ids),
            write=False,
        )

    def counts(self, pool: str, key_ids: Sequence[str], now: float) -> dict[str, int]:
        """Keys by status (a block the shared store has not taken yet counts here too)."""
        result = dict(
            self._run(
                lambda s: s.counts(pool, key_ids, now),
                lambda: self.local.counts(pool, key_ids, now),
                write=False,
            )
        )
        with self._lock:
            unwritten = [b for (p, _), b in self._unwritten.items() if p == pool]
        for block in unwritten:
            if block.until > now and result.get(KeyStatus.USABLE, 0) > 0:
                result[KeyStatus.USABLE] -= 1
                result[block.reason] = result.get(block.reason, 0) + 1
        return result

    def next_available(self, pool: str, key_ids: Sequence[str], now: float) -> float | None:
        """When the first blocked key becomes usable."""
        return self._run(
            lambda s: s.next_available(pool, key_ids, now),
            lambda: self.local.next_available(pool, key_ids, now),
            write=False,
        )
