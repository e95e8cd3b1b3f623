"""The console's events in the state file: the last requests and the events per name."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from providers.state.memory.recent import MAX_RECENT
from providers.state.recent import BatchedRecent
from providers.state.sqlite.file import SqliteFile
from providers.state.tally import MAX_SHARED_EVENTS, MAX_WINDOW, SharedTally


def sqlite_recent(where: SqliteFile | str | Path, timeout: float) -> BatchedRecent:
    """The last requests of every worker on the host, in the state file."""
    file = SqliteFile.of(where, timeout)

    def write(entries: list[str]) -> None:
        with file.write() as db:
            db.executemany("INSERT INTO recent (entry) VALUES (?)", [(e,) for e in entries])
            db.execute(
                "DELETE FROM recent WHERE id <= (SELECT MAX(id) FROM recent) - ?", (MAX_RECENT,)
            )

    def read(count: int) -> list[str]:
        with file.read() as db:
            rows = db.execute("SELECT entry FROM recent ORDER BY id DESC LIMIT ?", (count,))
            return [row[0] for row in rows.fetchall()]

    return BatchedRecent(write, read, file.standby)


def sqlite_tally(where: SqliteFile | str | Path, timeout: float) -> SharedTally:
    """Events per name for every worker on the host, in the state file."""
    file = SqliteFile.of(where, timeout)

    def add(name: str, window: float, now: float) -> int:
        with file.write() as db:
            db.execute("DELETE FROM tally WHERE name = ? AND at <= ?", (name, now - window))
            db.execute("DELETE FROM tally WHERE at <= ?", (now - MAX_WINDOW,))
            db.execute("INSERT INTO tally (name, at) VALUES (?, ?)", (name, now))
            db.execute(
                "DELETE FROM tally WHERE id <= (SELECT MAX(id) FROM tally) - ?",
                (MAX_SHARED_EVENTS,),
            )
            return _tallied(db, name, now - window)

    def count(name: str, window: float, now: float) -> int:
        with file.read() as db:
            return _tallied(db, name, now - window)

    return SharedTally(add, count, file.standby)


def _tallied(db: sqlite3.Connection, name: str, since: float) -> int:
    row = db.execute("SELECT COUNT(*) FROM tally WHERE name = ? AND at > ?", (name, since))
    return int(row.fetchone()[0])
