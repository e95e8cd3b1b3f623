"""Client keys and their usage in the state file, for every worker of a host.

An entry is one row (the record's JSON, the window's JSON): admission (finding the key,
checking it and counting it) and settlement are each one ``UPDATE`` that computes the
row's new window inside the statement (a SQL function running ``window``'s Python), so
each is atomic on its own and the workers of a host never both take the last request of
a minute or the last dollar of a budget. While the file is away, this process's copy of
what it last read stands in.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable
from typing import TypeVar

from providers.clients import window
from providers.clients.records import (
    ClientEntry,
    RecordCache,
    decode_window,
    encode_record,
    encode_window,
)
from providers.clients.window import Ask, Refusal, Verdict
from providers.state.clientusage import BatchedClientUsage
from providers.state.memory.clients import InMemoryClients
from providers.state.records import SECONDS_PER_DAY, ClientUsageRow, client_usage_row, utc_day
from providers.state.sqlite.file import SqliteFile
from providers.state.usagebatch import Pending

_BY_PREFIX = "SELECT name, entry, window FROM clients WHERE prefix = ?"
_BY_NAME = "SELECT name, entry, window FROM clients WHERE name = ?"
#: The SQL function through which an ``UPDATE`` computes a client's new window.
_STEP = "keyrelay_client_step"
_ADMIT = f"UPDATE clients SET window = {_STEP}(?, entry, window) WHERE prefix = ?"
_SETTLE = f"UPDATE clients SET window = {_STEP}(?, entry, window) WHERE name = ?"
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
    """Client entries in the state file: the record and the window of each in one row."""

    clock: Callable[[], float] | None = staticmethod(time.time)

    def __init__(self, file: SqliteFile) -> None:
        self.file = file
        self.standby = file.standby
        self._local = InMemoryClients()
        self._records = RecordCache()
        #: The change each running statement makes, by the number it passes to ``_STEP``.
        self._steps: dict[int, Callable[[str, str], str]] = {}
        self._calls = itertools.count()
        file.define(_STEP, 3, self._run_step)

    def lookup(self, prefix: str) -> ClientEntry | None:
        """The entry whose key starts with ``prefix`` (the last one read, while away)."""

        def shared() -> ClientEntry | None:
            with self.file.read() as db:
                row = db.execute(_BY_PREFIX, (prefix,)).fetchone()
            return self._kept(self._entry(row)) if row else None

        return self.standby.run(shared, lambda: self._local.lookup_away(prefix), proves=False)

    def entries(self) -> list[ClientEntry]:
        """Every entry, by name."""

        def shared() -> list[ClientEntry]:
            with self.file.read() as db:
                rows = db.execute("SELECT name, entry, window FROM clients ORDER BY name")
                return [self._kept(self._entry(row)) for row in rows.fetchall()]

        return self.standby.run(shared, self._local.entries, proves=False)

    def create(self, entry: ClientEntry) -> bool:
        """Add ``entry``; False when its name is taken (``StateUnavailable`` if away)."""
        record = entry.record
        with self.file.write() as db:
            taken = db.execute("SELECT 1 FROM clients WHERE name = ?", (record.name,)).fetchone()
            if not taken:
                db.execute(
                    "INSERT INTO clients (name, prefix, entry, window) VALUES (?, ?, ?, ?)",
                    (record.name, record.prefix, encode_record(record),
                     encode_window(entry.window)),
                )  # fmt: skip
        return not taken

    def edit(self, name: str, fn: Callable[[ClientEntry], ClientEntry]) -> ClientEntry | None:
        """Replace the record ``name`` by ``fn``'s result's (``StateUnavailable`` if away)."""
        with self.file.write() as db:
            row = db.execute(_BY_NAME, (name,)).fetchone()
            if row is None:
                return None
            changed = fn(self._entry(row))
            db.execute(
                "UPDATE clients SET prefix = ?, entry = ? WHERE name = ?",
                (changed.record.prefix, encode_record(changed.record), name),
            )
        self._local.keep(changed)
        return changed

    def admit(self, prefix: str, digest: str, ask: Ask, now: float) -> Verdict:
        """Find, check and count the key in one ``UPDATE`` (its own transaction), whose
        new window ``window.admit_entry`` computes inside it."""

        def step(entry: ClientEntry) -> tuple[ClientEntry | None, Verdict]:
            return window.admit_entry(entry, digest, ask, now)

        def shared() -> Verdict:
            seen = self._stepped(_ADMIT, prefix, step)
            return seen[1] if seen is not None else Verdict(Refusal.UNKNOWN)

        return self.standby.run(shared, lambda: self._local.admit_away(prefix, digest, ask, now))

    def settle(self, name: str, hold: str, tokens: int, cost: float, now: float) -> None:
        """Release ``hold`` and count its request's use in one ``UPDATE``."""

        def step(entry: ClientEntry) -> tuple[ClientEntry | None, None]:
            return window.settle(entry, hold, tokens, cost, now), None

        self.standby.run(
            lambda: self._stepped(_SETTLE, name, step),
            lambda: self._local.settle(name, hold, tokens, cost, now),
        )

    def _stepped(
        self, sql: str, where: str, step: Callable[[ClientEntry], tuple[ClientEntry | None, T]]
    ) -> tuple[ClientEntry, T] | None:
        """Run ``sql`` (an ``UPDATE`` of one row's window through ``_STEP``) with ``step``
        as the change; what the row held (or became) and ``step``'s answer, None for no
        row. An error of ``step`` is raised here, not turned into the file's."""
        done: list[tuple[ClientEntry, T]] = []
        failed: list[Exception] = []

        def change(entry_json: str, window_json: str) -> str:
            try:
                entry = ClientEntry(self._records.decode(entry_json), decode_window(window_json))
                changed, answer = step(entry)
            except Exception as exc:  # raised again below, outside SQLite
                failed.append(exc)
                return window_json
            done.append((changed or entry, answer))
            return window_json if changed is None else encode_window(changed.window).decode()

        call = next(self._calls)
        self._steps[call] = change
        try:
            self.file.execute(sql, (call, where))
        finally:
            del self._steps[call]
        if failed:
            raise failed[0]
        if not done:
            return None
        self._local.keep(done[0][0])
        return done[0]

    def _run_step(self, call: int, entry_json: str, window_json: str) -> str:
        step = self._steps.get(call)
        return step(entry_json, window_json) if step is not None else window_json

    def _entry(self, row: tuple[str, str | bytes, str | bytes]) -> ClientEntry:
        return ClientEntry(self._records.decode(row[1]), decode_window(row[2]))

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
