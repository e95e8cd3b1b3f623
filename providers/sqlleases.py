"""Leases in the state file: given back reliably, and reaped when their process died.

A lease given back is deleted at once, or, if the file does not answer, again a second
later until it is: a lease must not outlive its request while its process lives on.
Leases of processes that are gone are deleted every ``REAP_SECONDS``, and any older than
``LEASE_SECONDS`` as a backstop.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Callable
from pathlib import Path

from .alarm import ALARM
from .sqlite import SqliteFile

#: A lease older than this no longer counts (a backstop: dead processes are reaped sooner).
LEASE_SECONDS = 3600.0
#: How often a process looks for the leases of dead processes on its host.
REAP_SECONDS = 5.0


class SqliteLeases(SqliteFile):
    """The lease side of ``SqliteKeyStore``."""

    def __init__(self, path: str | Path, *, timeout: float = 0.1) -> None:
        self._reaped = 0.0
        self._leases_lock = threading.Lock()
        #: Leases given back that the file has not taken yet (retried).
        self._unreleased: list[int] = []
        #: Told how each background write went: the error, or None once it worked.
        self.on_background: Callable[[BaseException | None], None] | None = None
        super().__init__(path, timeout=timeout)

    def _release_lease(self, lease: int) -> None:
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
        try:
            with self._write() as db:
                db.executemany("DELETE FROM leases WHERE id = ?", [(id_,) for id_ in leases])
        except sqlite3.Error as exc:
            with self._leases_lock:
                self._unreleased = leases + self._unreleased
            if self.on_background is not None:
                self.on_background(exc)
            ALARM.after(1.0, self._give_back)

    def _reap(self, db: sqlite3.Connection, now: float) -> None:
        if now - self._reaped < REAP_SECONDS:
            return
        self._reaped = now
        db.execute("DELETE FROM leases WHERE taken < ?", (now - LEASE_SECONDS,))
        for (pid,) in db.execute("SELECT DISTINCT pid FROM leases").fetchall():
            if not _alive(pid):
                db.execute("DELETE FROM leases WHERE pid = ?", (pid,))


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
