"""Key state in an SQLite file: one truth for every worker on a host, and across restarts.

Times are wall-clock seconds (``time.time``), so blocks survive restarts and mean the
same in every process. In-flight counts are leases: one row per key in use, owned by
a process; a lease whose process has died, or that is older than ``LEASE_SECONDS``,
no longer counts, so a killed worker cannot hold a key forever. Every operation is
one short ``BEGIN IMMEDIATE`` transaction (WAL, ``synchronous=NORMAL``), never held
across I/O; the busy handler waits at most ``timeout`` seconds.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from collections.abc import Callable, Collection, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from .keystore import COOLING, DISABLED, EXHAUSTED, USABLE, KeyState
from .usage import SECONDS_PER_DAY, UsageRow, utc_day

#: A lease older than this no longer counts (a backstop: dead processes are reaped sooner).
LEASE_SECONDS = 3600.0
#: How often a process looks for the leases of dead processes on its host.
REAP_SECONDS = 5.0

_SCHEMA = """
CREATE TABLE IF NOT EXISTS keys (
    pool TEXT NOT NULL, key TEXT NOT NULL, position INTEGER NOT NULL,
    last_used REAL NOT NULL DEFAULT 0, blocked_until REAL NOT NULL DEFAULT 0,
    reason TEXT NOT NULL DEFAULT 'usable', strikes INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (pool, key)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS leases (
    id INTEGER PRIMARY KEY, pool TEXT NOT NULL, key TEXT NOT NULL,
    pid INTEGER NOT NULL, taken REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS leases_by_key ON leases (pool, key);
CREATE TABLE IF NOT EXISTS usage (
    day TEXT NOT NULL, provider TEXT NOT NULL, key TEXT NOT NULL,
    requests INTEGER NOT NULL DEFAULT 0, succeeded INTEGER NOT NULL DEFAULT 0,
    failed INTEGER NOT NULL DEFAULT 0, prompt_tokens INTEGER NOT NULL DEFAULT 0,
    completion_tokens INTEGER NOT NULL DEFAULT 0, total_tokens INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (day, provider, key)
) WITHOUT ROWID;
"""
_ADD_USAGE = (
    "INSERT INTO usage (day, provider, key, requests, succeeded, failed, prompt_tokens,"
    " completion_tokens, total_tokens) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
    " ON CONFLICT (day, provider, key) DO UPDATE SET requests = requests + excluded.requests,"
    " succeeded = succeeded + excluded.succeeded, failed = failed + excluded.failed,"
    " prompt_tokens = prompt_tokens + excluded.prompt_tokens,"
    " completion_tokens = completion_tokens + excluded.completion_tokens,"
    " total_tokens = total_tokens + excluded.total_tokens"
)


class SqliteKeyStore:
    """``KeyStore`` over one SQLite file shared by the processes of a host."""

    #: Shared stores keep wall-clock times (``KeyPool`` reads its clock from here).
    clock: Callable[[], float] = staticmethod(time.time)

    def __init__(self, path: str | Path, *, timeout: float = 0.1, retention_days: int = 90) -> None:
        self.path = Path(path)
        self._timeout = timeout
        self._retention = retention_days
        self._pruned = 0.0
        self._lock = threading.Lock()
        self._pid = 0
        self._db: sqlite3.Connection | None = None
        self._pools: set[str] = set()
        self._reaped = 0.0
        self._connect()  # fails at start-up, naming the path, if the file is unusable

    def _connect(self) -> sqlite3.Connection:
        if self._db is not None and self._pid == os.getpid():
            return self._db
        self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fresh = not self.path.exists()
        db = sqlite3.connect(
            self.path, timeout=self._timeout, isolation_level=None, check_same_thread=False
        )
        if fresh:
            os.chmod(self.path, 0o600)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")
        db.executescript(_SCHEMA)
        self._db, self._pid, self._pools = db, os.getpid(), set()
        return db

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            db = self._connect()
            db.execute("BEGIN IMMEDIATE")
            try:
                yield db
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")

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

    # -- usage (providers.usage.UsageStore) ----------------------------------------------

    def count(self, provider: str, key: str, outcome: str, now: float) -> None:
        """One upstream request that ended with ``outcome``."""
        won = int(outcome == "success")
        with self._write() as db:
            db.execute(_ADD_USAGE, (utc_day(now), provider, key, 1, won, 1 - won, 0, 0, 0))
            if now - self._pruned > 3600:
                self._pruned = now
                oldest = utc_day(now - self._retention * SECONDS_PER_DAY)
                db.execute("DELETE FROM usage WHERE day < ?", (oldest,))

    def add_tokens(self, provider: str, key: str, tokens: tuple[int, int, int], now: float) -> None:
        """Tokens the upstream reported for a request already counted."""
        with self._write() as db:
            db.execute(_ADD_USAGE, (utc_day(now), provider, key, 0, 0, 0, *tokens))

    def rows(self, *, provider: str | None, days: int, now: float) -> list[UsageRow]:
        """The rows of the last ``days`` UTC days (today included), newest first."""
        oldest = utc_day(now - (days - 1) * SECONDS_PER_DAY)
        with self._lock:
            found = (
                self._connect()
                .execute(
                    "SELECT provider, key, day, requests, succeeded, failed, prompt_tokens,"
                    " completion_tokens, total_tokens FROM usage WHERE day >= ?"
                    " AND (? IS NULL OR provider = ?) ORDER BY day DESC, provider, key",
                    (oldest, provider, provider),
                )
                .fetchall()
            )
        return [UsageRow(*row) for row in found]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
