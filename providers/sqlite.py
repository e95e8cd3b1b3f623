"""One SQLite file shared by the processes of a host: the connection and its transactions.

WAL, ``synchronous=NORMAL`` (losing the last milliseconds of state on power loss is
harmless); every write is one short ``BEGIN IMMEDIATE`` transaction, never held across
I/O, and the busy handler waits at most ``timeout`` seconds. The file and its folder
are created private (0600, 0700). A connection is opened per process (after a fork).
"""

from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from .recent import MAX_RECENT, BatchedRecent
from .tally import MAX_SHARED_EVENTS, SharedTally

_SCHEMA = """
CREATE TABLE IF NOT EXISTS keys (
    pool TEXT NOT NULL, key TEXT NOT NULL, position INTEGER NOT NULL,
    last_used REAL NOT NULL DEFAULT 0, blocked_until REAL NOT NULL DEFAULT 0,
    reason TEXT NOT NULL DEFAULT 'usable', strikes INTEGER NOT NULL DEFAULT 0,
    source TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (pool, key)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS keys_by_turn ON keys (pool, last_used, position, blocked_until, strikes);
CREATE INDEX IF NOT EXISTS keys_by_block ON keys (pool, blocked_until, reason);
CREATE TABLE IF NOT EXISTS leases (
    id INTEGER PRIMARY KEY, pool TEXT NOT NULL, key TEXT NOT NULL,
    pid INTEGER NOT NULL, taken REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS leases_by_key ON leases (pool, key);
CREATE TABLE IF NOT EXISTS marks (
    provider TEXT NOT NULL, model TEXT NOT NULL, until REAL NOT NULL,
    PRIMARY KEY (provider, model)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS circuits (name TEXT PRIMARY KEY, state TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS recent (id INTEGER PRIMARY KEY, entry TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS tally (id INTEGER PRIMARY KEY, name TEXT NOT NULL, at REAL NOT NULL);
CREATE INDEX IF NOT EXISTS tally_by_name ON tally (name, at);
CREATE TABLE IF NOT EXISTS usage (
    day TEXT NOT NULL, provider TEXT NOT NULL, key TEXT NOT NULL,
    requests INTEGER NOT NULL DEFAULT 0, succeeded INTEGER NOT NULL DEFAULT 0,
    failed INTEGER NOT NULL DEFAULT 0, prompt_tokens INTEGER NOT NULL DEFAULT 0,
    completion_tokens INTEGER NOT NULL DEFAULT 0, total_tokens INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (day, provider, key)
) WITHOUT ROWID;
"""


def sqlite_recent(path: str | Path, timeout: float) -> BatchedRecent:
    """The last requests of every worker on the host, in the state file."""
    file = SqliteFile(path, timeout=timeout)

    def write(entries: list[str]) -> None:
        with file._write() as db:
            db.executemany("INSERT INTO recent (entry) VALUES (?)", [(e,) for e in entries])
            db.execute(
                "DELETE FROM recent WHERE id <= (SELECT MAX(id) FROM recent) - ?", (MAX_RECENT,)
            )

    def read(count: int) -> list[str]:
        with file._read() as db:
            rows = db.execute("SELECT entry FROM recent ORDER BY id DESC LIMIT ?", (count,))
            return [row[0] for row in rows.fetchall()]

    return BatchedRecent(write, read)


def sqlite_tally(path: str | Path, timeout: float) -> SharedTally:
    """Events per name for every worker on the host, in the state file."""
    file = SqliteFile(path, timeout=timeout)

    def add(name: str, window: float, now: float) -> int:
        with file._write() as db:
            db.execute("DELETE FROM tally WHERE at <= ?", (now - window,))
            db.execute("INSERT INTO tally (name, at) VALUES (?, ?)", (name, now))
            db.execute(
                "DELETE FROM tally WHERE id <= (SELECT MAX(id) FROM tally) - ?",
                (MAX_SHARED_EVENTS,),
            )
            return _tallied(db, name, now - window)

    def count(name: str, window: float, now: float) -> int:
        with file._read() as db:
            return _tallied(db, name, now - window)

    return SharedTally(add, count)


def _tallied(db: sqlite3.Connection, name: str, since: float) -> int:
    row = db.execute("SELECT COUNT(*) FROM tally WHERE name = ? AND at > ?", (name, since))
    return int(row.fetchone()[0])


class SqliteFile:
    """A connection to the state file, for this process, behind one lock."""

    def __init__(self, path: str | Path, *, timeout: float = 0.1) -> None:
        self.path = Path(path)
        self._timeout = timeout
        self._lock = threading.Lock()
        self._pid = 0
        self._db: sqlite3.Connection | None = None
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
        columns = {row[1] for row in db.execute("PRAGMA table_info(keys)")}
        if "source" not in columns:  # a file written before blocks said where they came from
            db.execute("ALTER TABLE keys ADD COLUMN source TEXT NOT NULL DEFAULT ''")
        self._db, self._pid = db, os.getpid()
        self._connected()
        return db

    def _connected(self) -> None:
        """A new connection (a new process): forget what was cached per connection."""

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

    @contextmanager
    def _read(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            yield self._connect()
