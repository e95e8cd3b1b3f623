"""One SQLite file shared by the processes of a host: the connection and its transactions.

WAL, ``synchronous=NORMAL`` (losing the last milliseconds of state on power loss is
harmless); every write is one short ``BEGIN IMMEDIATE`` transaction, never held across
I/O, and the busy handler waits at most ``timeout`` seconds. The file and its folder
are created private (0600, 0700). One connection per process (opened again after a fork)
serves every kind of state, and ``sqlite3.Error`` becomes ``StateUnavailable`` here only.
"""

from __future__ import annotations

import fcntl
import logging
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

from providers.process import current_pid
from providers.state.contract import StateUnavailable
from providers.state.fallback import Standby
from providers.state.sqlite.schema import create_tables

log = logging.getLogger(__name__)
#: How long a failed connection waits before it is tried again, in seconds.
RECHECK_SECONDS = 1.0


class SqliteFile:
    """A connection to the state file, for this process, behind one lock.

    The state file may be deleted, replaced, filled or made read-only while keyrelay runs:
    a connection that fails is dropped and opened again (at most once a second), a file
    replaced or removed behind the path is noticed at the next call and the new one used,
    and a connection that could only read is refused, so that writes are never lost
    silently. Until it answers, callers fall back to this process's own state.
    Each call looks at the path (one stat) so no process writes to a file nobody reads.
    """

    def __init__(self, path: str | Path, *, timeout: float = 0.1) -> None:
        self.path = Path(path)
        self._where = str(self.path)
        self.timeout = timeout
        #: Whether the file answers, for every store of this process on it.
        self.standby = Standby(str(self.path))
        self._on_connect: list[Callable[[], None]] = []
        self._reading = _Reading(self)
        #: SQL functions each connection gets: name -> (number of arguments, function).
        self._functions: dict[str, tuple[int, Callable[..., str | None]]] = {}
        self._lock = threading.Lock()
        self._pid = 0
        self._db: sqlite3.Connection | None = None
        #: The file the connection has open (device, inode).
        self._identity: tuple[int, int] | None = None
        #: When the last attempt to connect failed (they are retried once a second).
        self._failed_at = -RECHECK_SECONDS
        try:
            self._connect()
        except sqlite3.Error as exc:  # a worker boots degraded, never fails to boot
            _warn_once(f"the state file {self.path} cannot be used yet ({exc})")

    @classmethod
    def of(cls, where: SqliteFile | str | Path, timeout: float) -> SqliteFile:
        """``where`` if it is open already, else a connection of its own to that path."""
        return where if isinstance(where, SqliteFile) else cls(where, timeout=timeout)

    @property
    def connected_here(self) -> bool:
        """True when this process has its own connection open (not one from before a fork)."""
        return self._db is not None and self._pid == current_pid()

    def on_connect(self, forget: Callable[[], None]) -> None:
        """Call ``forget`` on each new connection (a new process): what was cached per
        connection is stale."""
        self._on_connect.append(forget)

    def define(self, name: str, arguments: int, fn: Callable[..., str | None]) -> None:
        """Make ``fn`` a SQL function of every connection (this one, and any opened later)."""
        self._functions[name] = (arguments, fn)
        if self._db is not None:
            self._db.create_function(name, arguments, fn)

    def _connect(self) -> sqlite3.Connection:
        if self._db is not None and self._pid == current_pid():
            if _identity(self._where) == self._identity:  # one stat, about a microsecond
                return self._db
            _warn_once(f"the state file {self.path} was replaced or removed: opening it again")
            self._drop()
        if time.monotonic() - self._failed_at < RECHECK_SECONDS:
            raise sqlite3.OperationalError(f"the state file {self.path} is unavailable")
        try:
            return self._open()
        except (sqlite3.Error, OSError) as exc:
            self._failed_at = time.monotonic()
            self._drop()
            if isinstance(exc, sqlite3.Error):
                raise
            raise sqlite3.OperationalError(str(exc)) from None

    def _drop(self) -> None:
        if self._db is not None:
            with suppress(sqlite3.Error):
                self._db.close()
        self._db, self._identity = None, None

    def _open(self) -> sqlite3.Connection:
        self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        with _creating(self.path) as fresh:
            db = sqlite3.connect(
                self.path, timeout=self.timeout, isolation_level=None, check_same_thread=False
            )
            self._db = db
            if fresh:
                os.chmod(self.path, 0o600)
            for name, (arguments, fn) in self._functions.items():
                db.create_function(name, arguments, fn)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            create_tables(db)
        db.execute("BEGIN IMMEDIATE")  # refuse a connection that could only read
        db.execute("ROLLBACK")
        self._pid, self._identity = current_pid(), _identity(self.path)
        for forget in self._on_connect:
            forget()
        return db

    @contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        """One ``BEGIN IMMEDIATE`` transaction; ``StateUnavailable`` if the file cannot take it."""
        with self._lock, _unavailable(self.path):
            db = self._connect()
            try:
                db.execute("BEGIN IMMEDIATE")
            except sqlite3.OperationalError as exc:
                self._broken(exc)
                raise
            try:
                yield db
            except BaseException:
                with suppress(sqlite3.Error):
                    db.execute("ROLLBACK")
                raise
            try:
                db.execute("COMMIT")
            except sqlite3.Error as exc:
                with suppress(sqlite3.Error):
                    db.execute("ROLLBACK")
                self._broken(exc)
                raise

    def execute(self, sql: str, parameters: tuple[object, ...]) -> None:
        """One statement that is its own transaction (an ``UPDATE`` is atomic alone: no
        ``BEGIN`` and ``COMMIT`` around it to pay for); ``StateUnavailable`` if it fails."""
        with self._lock, _unavailable(self.path):
            db = self._connect()
            try:
                db.execute(sql, parameters)
            except sqlite3.OperationalError as exc:
                self._broken(exc)
                raise

    def read(self) -> _Reading:
        """The connection, to read (``with file.read() as db``); ``StateUnavailable`` if the
        file cannot answer."""
        return self._reading

    def _broken(self, exc: sqlite3.Error) -> None:
        """A connection that cannot write for a reason other than a busy file is dropped:
        the next call (a second later) opens the file again."""
        if "locked" not in str(exc) and "busy" not in str(exc):
            self._drop()
            self._failed_at = time.monotonic()


class _Reading:
    """``SqliteFile.read``'s block: the lock held, the connection given, ``sqlite3.Error``
    turned into ``StateUnavailable`` (a class, not a generator: reads are the most frequent
    state calls, several a request)."""

    __slots__ = ("_file",)

    def __init__(self, file: SqliteFile) -> None:
        self._file = file

    def __enter__(self) -> sqlite3.Connection:
        file = self._file
        file._lock.acquire()
        try:
            return file._connect()
        except sqlite3.Error as exc:
            file._lock.release()
            raise unanswered(file.path, exc) from exc
        except BaseException:
            file._lock.release()
            raise

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: object) -> None:  # fmt: skip
        self._file._lock.release()
        if isinstance(exc, sqlite3.Error):
            raise StateUnavailable(
                f"the state file {self._file.path} did not answer ({exc})"
            ) from exc


@contextmanager
def _unavailable(path: Path) -> Iterator[None]:
    """The one place ``sqlite3.Error`` becomes ``StateUnavailable`` (the cause kept)."""
    try:
        yield
    except sqlite3.Error as exc:
        raise unanswered(path, exc) from exc


def unanswered(path: Path, exc: sqlite3.Error) -> StateUnavailable:
    """What the state file's failure is to the stores: ``StateUnavailable`` naming it."""
    return StateUnavailable(f"the state file {path} did not answer ({exc})")


_warned: set[tuple[int, str]] = set()


def _warn_once(message: str) -> None:
    """One warning per process for what each of its stores on the file would say again."""
    if (os.getpid(), message) not in _warned:
        _warned.add((os.getpid(), message))
        log.warning("%s", message)


def _identity(path: Path | str) -> tuple[int, int] | None:
    try:
        found = os.stat(path)  # not Path.stat: pathlib's layer costs more than the stat
    except OSError:
        return None
    return (found.st_dev, found.st_ino)


@contextmanager
def _creating(path: Path) -> Iterator[bool]:
    """Whether the file is new; while one process creates it, the others wait. A file
    deleted behind keyrelay leaves its journal behind: a new file must not replay it."""
    if path.exists():
        yield False
        return
    lock = os.open(f"{path}.lock", os.O_CREAT | os.O_RDWR, 0o600)
    try:
        fcntl.flock(lock, fcntl.LOCK_EX)
        fresh = not path.exists()
        if fresh:
            for stale in (f"{path}-wal", f"{path}-shm"):
                with suppress(FileNotFoundError):
                    os.unlink(stale)
        yield fresh
    finally:
        os.close(lock)
