"""Key state in the host's SQLite state file: one truth for every worker, and after restarts.

Times are wall-clock seconds (``time.time``), so blocks survive restarts and mean the
same in every process. In a pool with a cap, in-flight counts are leases: one row per
key in use, owned by a process; a lease whose process has died, or that is older than
``LEASE_SECONDS``, no longer counts, so a killed worker cannot hold a key forever.
Without a cap a key in use is counted in its worker only (``providers.state.leases``).
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable, Collection, Sequence
from pathlib import Path

from providers.alarm import ALARM
from providers.state.leases import HeldLeases
from providers.state.records import COOLING, DISABLED, EXHAUSTED, USABLE, BlockSource, KeyState

from .choice import least_busy_least_used
from .file import SqliteFile
from .leases import SqliteLeases

#: Without a cap, a worker writes when it last used its keys at most this often: choosing a
#: key is then a read, and least-recently-used order reaches the other workers this late.
USED_FLUSH_SECONDS = 1.0
#: ... or as soon as this many keys wait to be written: a worker's own recent keys sort
#: first in the file, and choosing a key reads past them.
USED_FLUSH_BATCH = 16


class SqliteKeyStore:
    """``KeyStore`` over the state file shared by the processes of a host."""

    #: Shared stores keep wall-clock times (``KeyPool`` reads its clock from here).
    clock: Callable[[], float] | None = staticmethod(time.time)
    on_latency: Callable[[float], None] | None = None

    def __init__(self, file: SqliteFile | str | Path, *, timeout: float = 0.1) -> None:
        self.file = SqliteFile.of(file, timeout)
        self.standby = self.file.standby
        self._leases = SqliteLeases(self.file)
        self._pools: set[str] = set()
        self._held: HeldLeases[int] = HeldLeases()
        #: Each key's strikes when this process last chose it (0: a success writes nothing).
        self._strikes: dict[tuple[str, str], int] = {}
        #: Last uses not written yet (pools without a cap), by (pool, key).
        self._used: dict[tuple[str, str], float] = {}
        self._used_lock = threading.Lock()
        self._key_sets: dict[str, tuple[Sequence[str], frozenset[str]]] = {}
        self.file.on_connect(self._pools.clear)

    def _introduce(self, db: sqlite3.Connection, pool: str, key_ids: Sequence[str]) -> None:
        if pool in self._pools:
            return
        db.executemany(
            "INSERT OR IGNORE INTO keys (pool, key, position) VALUES (?, ?, ?)",
            [(pool, k, i) for i, k in enumerate(key_ids)],
        )
        # Keys no longer configured: counts and choices read the pool's rows, not key_ids.
        present = {row[0] for row in db.execute("SELECT key FROM keys WHERE pool = ?", (pool,))}
        stale = present.difference(key_ids)
        db.executemany("DELETE FROM keys WHERE pool = ? AND key = ?", [(pool, k) for k in stale])
        self._pools.add(pool)

    def _ensure(self, pool: str, key_ids: Sequence[str]) -> None:
        """The pool's keys are in the file (written once per process and pool)."""
        if pool not in self._pools or not self.file.connected_here:
            with self.file.write() as db:
                self._introduce(db, pool, key_ids)

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
        if max_in_flight is None:
            return self._choose(pool, key_ids, exclude, now)
        with self.file.write() as db:
            self._introduce(db, pool, key_ids)
            taken = self._leases.take(
                db, pool, set(key_ids).difference(exclude), max_in_flight, now
            )
        if taken is None:
            return None
        key, lease, strikes = taken
        self._held.hold(pool, key, lease)
        self._strikes[(pool, key)] = strikes
        return str(key)

    def _choose(
        self, pool: str, key_ids: Sequence[str], exclude: Collection[str], now: float
    ) -> str | None:
        """A key of a pool without a cap: a read, this worker's counts and last uses."""
        self._ensure(pool, key_ids)
        wanted = self._wanted(pool, key_ids)
        with self._used_lock:
            used = {k: t for (p, k), t in self._used.items() if p == pool}
        busy = self._held.local_busy_in(pool)
        with self.file.read() as db:
            rows = db.execute(
                "SELECT key, last_used, position, strikes FROM keys INDEXED BY keys_by_turn"
                " WHERE pool = ? AND blocked_until <= ? ORDER BY last_used, position",
                (pool, now),
            )
            chosen = least_busy_least_used(rows, wanted, exclude, busy, used)
        if chosen is None:
            return None
        key, strikes = chosen
        self._held.hold(pool, key, None)
        self._strikes[(pool, key)] = strikes
        with self._used_lock:
            schedule = not self._used
            self._used[(pool, key)] = now
            flush_now = len(self._used) == USED_FLUSH_BATCH
        if schedule or flush_now:
            ALARM.after(0.0 if flush_now else USED_FLUSH_SECONDS, self._write_used)
        return key

    def _wanted(self, pool: str, key_ids: Sequence[str]) -> frozenset[str]:
        """``key_ids`` as a set, made once per pool (not once per request)."""
        cached = self._key_sets.get(pool)
        if cached is None or cached[0] is not key_ids:
            cached = self._key_sets[pool] = (key_ids, frozenset(key_ids))
        return cached[1]

    def _write_used(self) -> None:
        """Write this worker's last uses (lost if the file does not answer: order only)."""
        with self._used_lock:
            used, self._used = self._used, {}

        def write() -> None:
            with self.file.write() as db:
                db.executemany(
                    "UPDATE keys SET last_used = MAX(last_used, ?) WHERE pool = ? AND key = ?",
                    [(when, pool, key) for (pool, key), when in used.items()],
                )

        self.standby.attempt(write)

    def release(self, pool: str, key_id: str) -> None:
        """Give back one hold of ``key_id`` by this process (a write only for a lease)."""
        lease = self._held.give_back(pool, key_id)
        if lease is None:
            return
        self._leases.release(lease)

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
        self._strikes.pop((pool, key_id), None)
        with self.file.write() as db:
            db.execute(
                "UPDATE keys SET"
                " reason = CASE WHEN blocked_until > :now AND blocked_until >= :until"
                " THEN reason ELSE :reason END,"
                " source = CASE WHEN blocked_until > :now AND blocked_until >= :until"
                " THEN source ELSE :source END,"
                " blocked_until = CASE WHEN blocked_until > :now AND blocked_until >= :until"
                " THEN blocked_until ELSE :until END,"
                " strikes = strikes + :strike WHERE pool = :pool AND key = :key",
                {
                    "now": now,
                    "until": until,
                    "reason": reason,
                    "source": source,
                    "strike": int(strike),
                    "pool": pool,
                    "key": key_id,
                },
            )

    def succeeded(self, pool: str, key_id: str) -> None:
        """Clear the rate-limit strikes of a key that just worked (a write only if it has any)."""
        if self._strikes.get((pool, key_id)) == 0:
            return  # none when this process chose it: nothing to read or write
        with self.file.read() as db:
            row = db.execute(
                "SELECT strikes FROM keys WHERE pool = ? AND key = ?", (pool, key_id)
            ).fetchone()
        self._strikes[(pool, key_id)] = 0
        if not row or not row[0]:
            return
        with self.file.write() as db:
            db.execute(
                "UPDATE keys SET strikes = 0 WHERE pool = ? AND key = ? AND strikes > 0",
                (pool, key_id),
            )

    def unblock(self, pool: str, key_id: str) -> None:
        """Lift a key's block and strikes, for every worker sharing the file."""
        with self.file.write() as db:
            db.execute(
                "UPDATE keys SET blocked_until = 0, reason = 'usable', strikes = 0, source = ''"
                " WHERE pool = ? AND key = ?",
                (pool, key_id),
            )

    def snapshot(self, pool: str, key_ids: Sequence[str]) -> dict[str, KeyState]:
        """Return the state of each key (a read: no write lock once the pool is known)."""
        self._ensure(pool, key_ids)
        with self.file.read() as db:
            rows = db.execute(
                "SELECT k.key, k.last_used, k.blocked_until, k.reason, k.strikes, k.source,"
                " (SELECT COUNT(*) FROM leases l WHERE l.pool = k.pool AND l.key = k.key)"
                " FROM keys k WHERE k.pool = ?",
                (pool,),
            ).fetchall()
        local = self._held.local_busy_in(pool)
        found = {
            key: KeyState(
                in_flight=busy + local.get(key, 0),
                last_used=used,
                blocked_until=until,
                reason=why,
                strikes=strikes,
                source=source,
            )
            for key, used, until, why, strikes, source, busy in rows
        }
        return {k: found.get(k, KeyState()) for k in key_ids}

    def counts(self, pool: str, key_ids: Sequence[str], now: float) -> dict[str, int]:
        """Count keys by status: the blocked ones are read, through an index."""
        counts: dict[str, int] = dict.fromkeys((USABLE, COOLING, DISABLED, EXHAUSTED), 0)
        self._ensure(pool, key_ids)
        with self.file.read() as db:
            rows = db.execute(
                "SELECT reason, COUNT(*) FROM keys WHERE pool = ? AND blocked_until > ?"
                " GROUP BY reason",
                (pool, now),
            ).fetchall()
        for reason, count in rows:
            counts[reason] = counts.get(reason, 0) + count
        counts[USABLE] = max(0, len(key_ids) - sum(count for _, count in rows))
        return counts

    def next_available(self, pool: str, key_ids: Sequence[str], now: float) -> float | None:
        """When the first blocked key becomes usable, or None if none is blocked."""
        self._ensure(pool, key_ids)
        with self.file.read() as db:
            row = db.execute(
                "SELECT MIN(blocked_until) FROM keys WHERE pool = ? AND blocked_until > ?",
                (pool, now),
            ).fetchone()
        return None if row[0] is None else float(row[0])
