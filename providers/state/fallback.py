"""A shared store that cannot answer never fails a request: this process's own state does.

``FallbackKeyStore`` asks the shared store first; when it raises ``sqlite3.Error`` (a
lock held past ``STATE_TIMEOUT``, a disk error) it answers from an in-process store
with the same rules, logs one warning per change of state (not per request), and
goes back to the shared store on the next call. Keys taken from the local store are
given back there.

A block the shared store did not take (a full disk, a read-only file, Redis away while
reads still work or after it returns) is kept here and laid over the shared answers:
the key is not chosen while it is blocked, and the block is written back, at most once a
second, until the store takes it.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from collections import Counter
from collections.abc import Callable, Collection, Sequence
from typing import Any, TypeVar

from providers.state.contract import BlockSource, KeyState, KeyStatus, KeyStore, StateUnavailable
from providers.state.memory.keys import InMemoryKeyStore

log = logging.getLogger(__name__)
T = TypeVar("T")
#: What a shared store raises when it cannot answer in time.
STORE_ERRORS: tuple[type[BaseException], ...] = (sqlite3.Error, StateUnavailable)


class FallbackKeyStore:
    """``shared``, or this process's own key state while ``shared`` cannot answer."""

    def __init__(self, shared: KeyStore) -> None:
        self.shared = shared
        self.local = InMemoryKeyStore()
        #: Shared stores keep wall-clock times; the local one follows the same clock.
        self.clock: Callable[[], float] | None = getattr(shared, "clock", None)
        #: Each pool's keys, as the first acquire named them.
        self._key_ids: dict[str, tuple[str, ...]] = {}
        self._local_leases: Counter[tuple[str, str]] = Counter()
        self._lock = threading.Lock()
        self._up = True
        #: Blocks the shared store has not taken yet, by (pool, key), and when to retry.
        self._unwritten: dict[tuple[str, str], dict[str, Any]] = {}
        self._retry_at = 0.0
        #: Told how long each call to the shared store took, in seconds (metrics).
        self.on_latency: Callable[[float], None] | None = None
        #: A store with a link of its own (Redis) reports and logs its state there.
        self._link = getattr(shared, "link", None)
        if hasattr(shared, "on_background"):  # writes made later count too (SQLite)
            shared.on_background = lambda error: self._mark(error is None, error)

    @property
    def up(self) -> bool:
        """True while the shared store answers (published as keyrelay_state_store_up)."""
        return bool(self._link.up) if self._link is not None else self._up

    def _timed(self, started: float) -> None:
        if self.on_latency is not None:
            self.on_latency(time.perf_counter() - started)

    def _call(self, name: str, *args: Any, write: bool = True, **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            result = getattr(self.shared, name)(*args, **kwargs)
            self._timed(started)
        except STORE_ERRORS as exc:
            self._mark(False, exc)
            return getattr(self.local, name)(*args, **kwargs)
        if write:  # a read can answer while writes wait (WAL): only writes say it is back
            self._mark(True, None)
        return result

    def _mark(self, up: bool, error: BaseException | None) -> None:
        if up == self._up or self._link is not None:
            return
        if up and self._unwritten:
            return  # it reads, but has not taken what was decided while it could not write
        self._up = up
        if up:
            log.warning("the shared state store answers again: back to shared key state")
        else:
            log.warning(
                "the shared state store does not answer (%s): using this process's own key "
                "state until it does",
                type(error).__name__,
            )

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
        kwargs = {"exclude": exclude, "max_in_flight": max_in_flight, "now": now}
        started = time.perf_counter()
        try:
            key = self.shared.acquire(pool, key_ids, **kwargs)  # type: ignore[arg-type]
            self._timed(started)
        except STORE_ERRORS as exc:
            self._mark(False, exc)
            key = self.local.acquire(pool, key_ids, **kwargs)  # type: ignore[arg-type]
            if key is not None:
                with self._lock:
                    self._local_leases[(pool, key)] += 1
            return key
        self._mark(True, None)
        return key

    def release(self, pool: str, key_id: str) -> None:
        """Give a key back where it was taken."""
        with self._lock:
            local = self._local_leases[(pool, key_id)] > 0
            if local:
                self._local_leases[(pool, key_id)] -= 1
        if local:
            self.local.release(pool, key_id)
            return
        started = time.perf_counter()
        try:
            self.shared.release(pool, key_id)
            self._timed(started)
        except STORE_ERRORS as exc:  # the shared lease expires (Redis) or dies with us (SQLite)
            self._mark(False, exc)

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
        block = {"until": until, "reason": reason, "strike": strike, "now": now, "source": source}
        if pool in self._key_ids:
            self.local.snapshot(pool, self._key_ids[pool])  # introduces the pool locally
            self.local.block(pool, key_id, **block)  # type: ignore[arg-type]
        try:
            self.shared.block(pool, key_id, **block)  # type: ignore[arg-type]
        except STORE_ERRORS as exc:
            self._mark(False, exc)
            with self._lock:
                self._unwritten[(pool, key_id)] = block
                self._retry_at = time.monotonic() + 1.0
            return
        self._mark(True, None)

    def _blocked_here(self, pool: str, now: float) -> set[str]:
        """Keys of ``pool`` blocked by a block the shared store has not taken; those it
        takes now (one try a second) are forgotten here."""
        if time.monotonic() >= self._retry_at:
            self._write_back(now)
        with self._lock:
            return {k for (p, k), b in self._unwritten.items() if p == pool and b["until"] > now}

    def _write_back(self, now: float) -> None:
        with self._lock:
            pending = list(self._unwritten.items())
            self._retry_at = time.monotonic() + 1.0
        for (pool, key_id), block in pending:
            if block["until"] > now:
                try:
                    self.shared.block(pool, key_id, **block)
                except STORE_ERRORS:
                    return
            with self._lock:
                if self._unwritten.get((pool, key_id)) is block:
                    del self._unwritten[(pool, key_id)]

    def succeeded(self, pool: str, key_id: str) -> None:
        """Clear the strikes of a key that just worked."""
        self._call("succeeded", pool, key_id, write=False)  # mostly a read: proves nothing

    def unblock(self, pool: str, key_id: str) -> None:
        """Lift a key's block."""
        self.local.unblock(pool, key_id)
        self._call("unblock", pool, key_id)

    def snapshot(self, pool: str, key_ids: Sequence[str]) -> dict[str, KeyState]:
        """Each key's state."""
        result: dict[str, KeyState] = self._call("snapshot", pool, key_ids, write=False)
        return result

    def counts(self, pool: str, key_ids: Sequence[str], now: float) -> dict[str, int]:
        """Keys by status (a block the shared store has not taken yet counts here too)."""
        result: dict[str, int] = dict(self._call("counts", pool, key_ids, now, write=False))
        with self._lock:
            unwritten = [b for (p, _), b in self._unwritten.items() if p == pool]
        for block in unwritten:
            if block["until"] > now and result.get(KeyStatus.USABLE, 0) > 0:
                result[KeyStatus.USABLE] -= 1
                result[block["reason"]] = result.get(block["reason"], 0) + 1
        return result

    def next_available(self, pool: str, key_ids: Sequence[str], now: float) -> float | None:
        """When the first blocked key becomes usable."""
        result: float | None = self._call("next_available", pool, key_ids, now, write=False)
        return result
