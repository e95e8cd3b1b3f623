"""Key state in the host's SQLite state file: one truth for every worker, and after restarts.

Times are wall-clock seconds (``time.time``), so blocks survive restarts and mean the
same in every process. In-flight counts are leases: one row per key in use, owned by
a process; a lease whose process has died, or that is older than ``LEASE_SECONDS``,
no longer counts, so a killed worker cannot hold a key forever.
"""

from __future__ import annotations

import os
import sqlite3
import time
from collections.abc import Callable, Collection, Sequence
from pathlib import Path

from .keystore import COOLING, DISABLED, EXHAUSTED, USABLE, KeyState
from .sqlite import SqliteFile

#: A lease older than this no longer counts (a backstop: dead processes are reaped sooner).
LEASE_SECONDS = 3600.0
#: How often a process looks for the leases of dead processes on its host.
REAP_SECONDS = 5.0


class SqliteKeyStore(SqliteFile):
    """``KeyStore`` over the state file shared by the processes of a host."""

    #: Shared stores keep wall-clock times (``KeyPool`` reads its clock from here).
    clock: Callable[[], float] = staticmethod(time.time)

    def __init__(self, path: str | Path, *, timeout: float = 0.1) -> None:
        self._pools: set[str] = set()
        self._reaped = 0.0
        super().__init__(path, timeout=timeout)

    def _connected(self) -> None:
        self._pools = set()

    def _introduce(self, db: sqlite3.Connection, pool: str, key_ids: Sequence[str]) -> None:
        if pool in self._pools:
            return
        db.executemany(
            "INSERT OR IGNORE INTO keys (pool, key, position) VALUES (?, ?, ?)",
            [(pool, k, i) for i, k in enumerate(key_ids)],
        )
        self._pools.add(pool)

    def _reap(self, db: sqlite3.Connection, now: float) -> None:
        if now - self._reaped < REAP_SECONDS:
            return
        self._reaped = now
        db.execute("DELETE FROM leases WHERE taken < ?", (now - LEASE_SECONDS,))
        for (pid,) in db.execute("SELECT DISTINCT pid FROM leases").fetchall():
            if not _alive(pid):
                db.execute("DELETE FROM leases WHERE pid = ?", (pid,))

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
        with self._write() as db:
            self._introduce(db, pool, key_ids)
            self._reap(db, now)
            rows = db.execute(
                "SELECT k.key, (SELECT COUNT(*) FROM leases l WHERE l.pool = k.pool"
                " AND l.key = k.key) AS busy FROM keys k WHERE k.pool = ? AND k.blocked_until <= ?"
                " ORDER BY busy, k.last_used, k.position",
                (pool, now),
            ).fetchall()
            wanted = set(key_ids)
            for key, busy in rows:
                if max_in_flight is not None and busy >= max_in_flight:
                    return None  # the least busy key is full: so are all the others
                if key in wanted and key not in exclude:
                    db.execute(
                        "INSERT INTO leases (pool, key, pid, taken) VALUES (?, ?, ?, ?)",
                        (pool, key, os.getpid(), now),
                    )
                    db.execute(
                        "UPDATE keys SET last_used = ? WHERE pool = ? AND key = ?", (now, pool, key)
                    )
                    return str(key)
            return None

    def release(self, pool: str, key_id: str) -> None:
        """Give back one lease of ``key_id`` held by this process."""
        with self._write() as db:
            db.execute(
                "DELETE FROM leases WHERE id = (SELECT id FROM leases"
                " WHERE pool = ? AND key = ? AND pid = ? LIMIT 1)",
                (pool, key_id, os.getpid()),
            )

    def block(
        self, pool: str, key_id: str, *, until: float, reason: str, strike: bool, now: float
    ) -> None:
        """Block a key until ``until``; an existing later block is never shortened."""
        with self._write() as db:
            db.execute(
                "UPDATE keys SET"
                " reason = CASE WHEN blocked_until > :now AND blocked_until >= :until"
                " THEN reason ELSE :reason END,"
                " blocked_until = CASE WHEN blocked_until > :now AND blocked_until >= :until"
                " THEN blocked_until ELSE :until END,"
                " strikes = strikes + :strike WHERE pool = :pool AND key = :key",
                {
                    "now": now,
                    "until": until,
                    "reason": reason,
                    "strike": int(strike),
                    "pool": pool,
                    "key": key_id,
                },
            )

    def succeeded(self, pool: str, key_id: str) -> None:
        """Clear the rate-limit strikes of a key that just worked (a write only if it has any)."""
        with self._lock:
            row = (
                self._connect()
                .execute("SELECT strikes FROM keys WHERE pool = ? AND key = ?", (pool, key_id))
                .fetchone()
            )
        if not row or not row[0]:
            return
        with self._write() as db:
            db.execute(
                "UPDATE keys SET strikes = 0 WHERE pool = ? AND key = ? AND strikes > 0",
                (pool, key_id),
            )

    def unblock(self, pool: str, key_id: str) -> None:
        """Lift a key's block and strikes, for every worker sharing the file."""
        with self._write() as db:
            db.execute(
                "UPDATE keys SET blocked_until = 0, reason = 'usable', strikes = 0"
                " WHERE pool = ? AND key = ?",
                (pool, key_id),
            )

    def snapshot(self, pool: str, key_ids: Sequence[str]) -> dict[str, KeyState]:
        """Return the state of each key (a read: no write lock once the pool is known)."""
        if pool not in self._pools or self._pid != os.getpid():
            with self._write() as db:
                self._introduce(db, pool, key_ids)
        with self._lock:
            rows = (
                self._connect()
                .execute(
                    "SELECT k.key, k.last_used, k.blocked_until, k.reason, k.strikes,"
                    " (SELECT COUNT(*) FROM leases l WHERE l.pool = k.pool AND l.key = k.key)"
                    " FROM keys k WHERE k.pool = ?",
                    (pool,),
                )
                .fetchall()
            )
        found = {
            key: KeyState(
                in_flight=busy, last_used=used, blocked_until=until, reason=why, strikes=strikes
            )
            for key, used, until, why, strikes, busy in rows
        }
        return {k: found.get(k, KeyState()) for k in key_ids}

    def counts(self, pool: str, key_ids: Sequence[str], now: float) -> dict[str, int]:
        """Count keys by status (usable, cooling, disabled, exhausted)."""
        counts: dict[str, int] = {USABLE: 0, COOLING: 0, DISABLED: 0, EXHAUSTED: 0}
        for state in self.snapshot(pool, key_ids).values():
            counts[state.status(now)] += 1
        return counts

    def next_available(self, pool: str, key_ids: Sequence[str], now: float) -> float | None:
        """When the first blocked key becomes usable, or None if none is blocked."""
        waits = [s.blocked_until for s in self.snapshot(pool, key_ids).values()]
        later = [w for w in waits if w > now]
        return min(later) if later else None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
