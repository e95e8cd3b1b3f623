"""The state file as gunicorn's master sees it before any worker starts: light on purpose.

The master must not import what the workers build (threads, locks, sessions): gevent
patches those only in a worker, after the fork. So this module needs the standard
library alone. It tells a foreign file (a real configuration error, which stops
start-up) from one that is missing or unusable for now (a fault the workers outlive),
and drops the leases of processes that are gone, including those whose pid another
process has since taken (a restarted container reuses its pids).
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

from providers.config.env import ConfigError

#: Set by gunicorn's master once it has checked the state file: its workers never refuse
#: to boot over the file (one deleted, full or read-only later is a fault to outlive).
CHECKED = "KEYRELAY_STATE_CHECKED"
#: A lease older than this no longer counts (a backstop: dead processes are reaped sooner).
LEASE_SECONDS = 3600.0
#: What a file that is not keyrelay's state (or is damaged) answers: a configuration error.
FOREIGN = frozenset({sqlite3.SQLITE_NOTADB, sqlite3.SQLITE_CORRUPT})


def sqlite_path(url: str) -> str | None:
    """The file a ``sqlite:///`` URL names (None for other stores)."""
    if not url.startswith("sqlite:///"):
        return None
    path = url.removeprefix("sqlite:///")  # "/abs" for sqlite:////abs
    if not path or path == "/":
        raise ConfigError(f"STATE_URL={url!r} names no file")
    return path


def check_state_file(url: str) -> None:
    """``ConfigError`` if the state file exists and is not a state file."""
    path = sqlite_path(url)
    foreign = is_foreign(path) if path else None
    if foreign is not None:
        raise ConfigError(f"STATE_URL: {path!r} is not a usable SQLite file: {foreign}")


def prepare_state_file(url: str, now: float) -> None:
    """At a master's start: a foreign file stops start-up (``ConfigError``); the leases no
    live process of this host holds are dropped; its workers then boot without checking."""
    check_state_file(url)
    path = sqlite_path(url)
    if path is not None and Path(path).exists():
        drop_stale_leases(path, now)
    os.environ[CHECKED] = "1"


def is_foreign(path: str | Path) -> sqlite3.DatabaseError | None:
    """The error if ``path`` exists and is not an SQLite database; None if it is one, or is
    missing, or cannot be read now."""
    if not Path(path).exists():
        return None
    try:
        db = sqlite3.connect(Path(path).absolute().as_uri() + "?mode=ro", uri=True, timeout=1.0)
        try:
            db.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()
        finally:
            db.close()
    except sqlite3.DatabaseError as exc:
        if getattr(exc, "sqlite_errorcode", None) in FOREIGN:
            return exc
    return None


def drop_stale_leases(path: str | Path, now: float) -> int:
    """Drop the leases no live process on this host holds; how many (0 if the file cannot
    be written now: its workers reap them once it can)."""
    try:
        db = sqlite3.connect(path, timeout=1.0, isolation_level=None)
        try:
            if not db.execute("SELECT 1 FROM sqlite_master WHERE name = 'leases'").fetchone():
                return 0
            db.execute("BEGIN IMMEDIATE")
            gone = reap(db, now)
            db.execute("COMMIT")
            return gone
        finally:
            db.close()
    except sqlite3.Error:
        return 0


def reap(db: sqlite3.Connection, now: float) -> int:
    """Delete the leases of processes that are gone (or whose pid another process now has),
    and any past the backstop; how many went."""
    gone = db.execute("DELETE FROM leases WHERE taken < ?", (now - LEASE_SECONDS,)).rowcount
    columns = {row[1] for row in db.execute("PRAGMA table_info(leases)")}
    owned = "owner" if "owner" in columns else "''"
    for pid, owner in db.execute(f"SELECT DISTINCT pid, {owned} FROM leases").fetchall():
        if not _alive(pid) or (owner and owner != owner_of(pid)):
            gone += db.execute(
                f"DELETE FROM leases WHERE pid = ? AND {owned} = ?", (pid, owner)
            ).rowcount
    return gone


def owner_of(pid: int) -> str:
    """``pid:start`` (the process's start time, in clock ticks since boot), or the pid alone
    where /proc does not say."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat:
            fields = stat.read().rsplit(b")", 1)[1].split()
        return f"{pid}:{int(fields[19])}"
    except (OSError, IndexError, ValueError):
        return str(pid)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
