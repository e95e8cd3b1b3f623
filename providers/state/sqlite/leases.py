"""Leases in the state file: given back reliably, and reaped when their process died.

A lease given back is deleted at once, or, if the file does not answer, again a second
later until it is: a lease must not outlive its request while its process lives on.
Leases of processes that are gone are deleted every ``REAP_SECONDS``, and any older than
``LEASE_SECONDS`` as a backstop. A lease's owner is its pid *and* that process's start
time: a container restarted on the same state volume reuses the same pids, and a dead
worker's lease must not pass for a live one's. gunicorn's master drops its host's stale
leases when it starts (``drop_stale_leases``).
"""

from __future__ import annotations

import os
import sqlite3
import threading

from providers.alarm import ALARM
from providers.state.sqlite.file import SqliteFile
from providers.state.statefile import owner_of, reap

#: How often a process looks for the leases of dead processes on its host.
REAP_SECONDS = 5.0


class SqliteLeases:
    """The lease side of ``SqliteKeyStore``: who owns them, giving back, reaping."""

    def __init__(self, file: SqliteFile) -> None:
        self.file = file
        self._reaped = 0.0
        #: Who this process's leases belong to (pid and start time).
        self.owner = owner_of(os.getpid())
        self._leases_lock = threading.Lock()
        #: Leases given back that the file has not taken yet (retried).
        self._unreleased: list[int] = []

    def release(self, lease: int) -> None:
        """Delete ``lease`` now, or a second later while the file does not take it."""
        with self._leases_lock:
            self._unreleased.append(lease)
        self._give_back()

    def _give_back(self) -> None:
        """Delete the leases given back; any the file did not take are tried again in a
        second (a lease must not outlive its request while its process lives on)."""
        with self._leases_lock:
            leases, self._unreleased = self._unreleased, []
        if not leases:
            return

        def delete() -> None:
            with self.file.write() as db:
                db.executemany("DELETE FROM leases WHERE id = ?", [(id_,) for id_ in leases])

        if not self.file.standby.attempt(delete):
            with self._leases_lock:
                self._unreleased = leases + self._unreleased
            ALARM.after(1.0, self._give_back)

    def reap(self, db: sqlite3.Connection, now: float) -> None:
        """Delete the leases of dead processes, at most every ``REAP_SECONDS``."""
        if now - self._reaped < REAP_SECONDS:
            return
        self._reaped = now
        reap(db, now)

    def take(
        self, db: sqlite3.Connection, pool: str, wanted: set[str], cap: int, now: float
    ) -> tuple[str, int, int] | None:
        """In a write transaction: lease the least busy, least recently used usable key of
        ``wanted`` under ``cap``: (key, lease, its strikes), or None."""
        self.reap(db, now)
        rows = db.execute(
            "SELECT k.key, (SELECT COUNT(*) FROM leases l WHERE l.pool = k.pool"
            " AND l.key = k.key), k.last_used, k.position, k.strikes FROM keys k"
            " WHERE k.pool = ? AND k.blocked_until <= ?",
            (pool, now),
        ).fetchall()
        usable = [row for row in rows if row[0] in wanted]
        if not usable:
            return None
        key, busy, _, _, strikes = min(usable, key=lambda row: row[1:4])
        if busy >= cap:
            return None  # the least busy key is full: so are all the others
        db.execute("UPDATE keys SET last_used = ? WHERE pool = ? AND key = ?", (now, pool, key))
        lease = db.execute(
            "INSERT INTO leases (pool, key, pid, taken, owner) VALUES (?, ?, ?, ?, ?)",
            (pool, key, os.getpid(), now, self.owner),
        ).lastrowid
        return str(key), int(lease or 0), int(strikes)
