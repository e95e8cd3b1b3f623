"""Client keys and their usage in the state file, for every worker of a host.

An entry (record and window) is one row: admission and settlement are each one
``BEGIN IMMEDIATE`` transaction that reads it, decides and writes it back, so the
workers of a host never both take the last request of a minute or the last dollar of a
budget. While the file is away, this process's copy of what it last read stands in.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

from providers.clients.records import ClientEntry, decode_entry, encode_entry
from providers.state.clientusage import BatchedClientUsage
from providers.state.memory.clients import InMemoryClients
from providers.state.records import SECONDS_PER_DAY, ClientUsageRow, client_usage_row, utc_day
from providers.state.sqlite.file import SqliteFile
from providers.state.usagebatch import Pending

T = TypeVar("T")
_ADD = (
    "INSERT INTO client_usage (day, client, provider, key, requests, failed, prompt_tokens,"
    " completion_tokens, cached_tokens, cost_nanos) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
    " ON CONFLICT (day, client, provider, key) DO UPDATE SET"
    " requests = requests + excluded.requests, failed = failed + excluded.failed,"
    " prompt_tokens = prompt_tokens + excluded.prompt_tokens,"
    " completion_tokens = completion_tokens + excluded.completion_tokens,"
    " cached_tokens = cached_tokens + excluded.cached_tokens,"
    " cost_nanos = cost_nanos + excluded.cost_nanos"
)


class SqliteClients:
    """Client entries in the state file."""

    clock: Callable[[], float] | None = staticmethod(time.time)

    def __init__(self, file: SqliteFile) -> None:
        self.file = file
        self.standby = file.standby
        self._local = InMemoryClients()

    def lookup(self, prefix: str) -> ClientEntry | None:
        """The entry whose key starts with ``prefix`` (the last one read, while away)."""

        def shared() -> ClientEntry | None:
            with self.file.read() as db:
                row = db.execute("SELECT entry FROM clients WHERE prefix = ?", (prefix,)).fetchone()
            return self._kept(decode_entry(row[0])) if row else None

        return self.standby.run(shared, lambda: self._local.lookup(prefix), proves=False)

    def entries(self) -> list[ClientEntry]:
        """Every entry, by name."""

        def shared() -> list[ClientEntry]:
            with self.file.read() as db:
                rows = db.execute("SELECT entry FROM clients ORDER BY name").fetchall()
            return [self._kept(decode_entry(row[0])) for row in rows]

        return self.standby.run(shared, self._local.entries, proves=False)

    def create(self, entry: ClientEntry) -> bool:
        """Add ``entry``; False when its name is taken (``StateUnavailable`` if away)."""
        with self.file.write() as db:
            taken = db.execute(
                "SELECT 1 FROM clients WHERE name = ?", (entry.record.name,)
            ).fetchone()
            if not taken:
                db.execute(
                    "INSERT INTO clients (name, prefix, entry) VALUES (?, ?, ?)",
                    (entry.record.name, entry.record.prefix, encode_entry(entry)),
                )
        return not taken

    def edit(self, name: str, fn: Callable[[ClientEntry], ClientEntry]) -> ClientEntry | None:
        """Replace the entry ``name`` by ``fn``'s result (``StateUnavailable`` if away)."""
        return self._change(name, lambda entry: (changed := fn(entry), changed))

    def change(self, name: str, fn: Callable[[ClientEntry], tuple[ClientEntry, T]]) -> T | None:
        """Replace the entry by ``fn``'s first result in one transaction; its second."""
        return self.standby.run(
            lambda: self._change(name, fn), lambda: self._local.change(name, fn)
        )

    def _change(self, name: str, fn: Callable[[ClientEntry], tuple[ClientEntry, T]]) -> T | None:
        with self.file.write() as db:
            row = db.execute("SELECT entry FROM clients WHERE name = ?", (name,)).fetchone()
            if row is None:
                return None
            changed, result = fn(decode_entry(row[0]))
            db.execute(
                "UPDATE clients SET prefix = ?, entry = ? WHERE name = ?",
                (changed.record.prefix, encode_entry(changed), name),
            )
        self._local.keep(changed)
        return result

    def _kept(self, entry: ClientEntry) -> ClientEntry:
        self._local.keep(entry)
        return entry


class SqliteClientUsage(BatchedClientUsage):
    """Usage per client key in the state file, kept ``retention_days``."""

    def __init__(self, file: SqliteFile, *, retention_days: int = 90) -> None:
        self.file = file
        super().__init__(retention_days, file.standby)

    def _store_batch(self, pending: Pending, now: float) -> None:
        with self.file.write() as db:
            db.executemany(_ADD, [(*k, *v) for k, v in pending.items()])
            oldest = utc_day(now - self._retention * SECONDS_PER_DAY)
            db.execute("DELETE FROM client_usage WHERE day < ?", (oldest,))

    def _read(self, oldest: str, now: float) -> list[ClientUsageRow]:
        with self.file.read() as db:
            found = db.execute(
                "SELECT client, provider, key, day, requests, failed, prompt_tokens,"
                " completion_tokens, cached_tokens, cost_nanos FROM client_usage WHERE day >= ?",
                (oldest,),
            ).fetchall()
        return [client_usage_row(c, p, k, d, rest) for c, p, k, d, *rest in found]
