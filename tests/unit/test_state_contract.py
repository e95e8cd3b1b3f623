"""Every kind of state keeps the same rules in every backend: memory, the state file, Redis.

Each test gets ``workers``: a function that opens the stores of one more worker on the
same backend (memory: the same stores, one process; SQLite: a new connection to the same
file; Redis: a new link to the same server), so a rule is checked both in one worker and
across workers. The key store has its own model test (``test_keystore_model.py``).
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest

from bench.redisserver import RedisServer
from bench.upstream import wait_until
from providers.clients.records import ClientEntry, ClientRecord, Limits, Period
from providers.clients.window import Ask, Refusal, Verdict
from providers.config.load import load_routing_config
from providers.outcomes import Outcome
from providers.state.clientusage import InMemoryClientUsage
from providers.state.contract import (
    MAX_MISSING,
    CircuitStore,
    ClientStore,
    ClientUsageStore,
    MarkStore,
    PinStore,
    RecentStore,
    Tally,
    UsageStore,
)
from providers.state.fallback import IN_PROCESS, Standby
from providers.state.memory.circuits import InMemoryCircuits
from providers.state.memory.clients import InMemoryClients
from providers.state.memory.marks import InMemoryMarks
from providers.state.memory.pins import InMemoryPins
from providers.state.memory.recent import MAX_ENTRY, InMemoryRecent
from providers.state.memory.tally import InMemoryTally
from providers.state.memory.usage import InMemoryUsage
from providers.state.open import open_state
from providers.state.records import AT_REST, CircuitRecord, Pin
from providers.state.redis.clients import RedisClients, RedisClientUsage
from providers.state.redis.link import PREFIX, RedisLink
from providers.state.redis.pins import RedisPins
from providers.state.redis.state import RedisCircuits, RedisMarks, RedisUsage, redis_recent
from providers.state.redis.tally import redis_tally
from providers.state.sqlite.circuits import SqliteCircuits
from providers.state.sqlite.clients import SqliteClients, SqliteClientUsage
from providers.state.sqlite.events import sqlite_recent, sqlite_tally
from providers.state.sqlite.file import SqliteFile
from providers.state.sqlite.marks import SqliteMarks
from providers.state.sqlite.pins import TRIM_EVERY, SqlitePins
from providers.state.sqlite.usage import SqliteUsage
from providers.state.statefile import CHECKED


@dataclass
class Worker:
    """The stores of one worker."""

    circuits: CircuitStore
    marks: MarkStore
    recent: RecentStore
    tally: Tally
    usage: UsageStore
    standby: Standby
    #: Whether the backend holds a record for circuit ``name`` (read past the store).
    holds_circuit: Callable[[str], bool]
    pins: PinStore
    #: How many pins the backend holds (read past the store).
    pins_held: Callable[[], int]
    clients: ClientStore
    client_usage: ClientUsageStore


Workers = Callable[[], Worker]
#: The pins' bound in these tests.
PIN_LIMIT = 8


@pytest.fixture(params=["memory", "sqlite", "redis"])
def workers(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Workers]:
    """Opens one more worker's stores on the backend under test."""
    if request.param == "memory":
        one = Worker(
            InMemoryCircuits(),
            InMemoryMarks(),
            InMemoryRecent(),
            InMemoryTally(),
            InMemoryUsage(),
            IN_PROCESS,
            lambda name: name in one.circuits._records,  # type: ignore[attr-defined]
            (pins := InMemoryPins(PIN_LIMIT)),
            lambda: len(pins),
            InMemoryClients(),
            InMemoryClientUsage(),
        )
        yield lambda: one
    elif request.param == "sqlite":

        def sqlite_worker() -> Worker:
            file = SqliteFile(tmp_path / "state.db", timeout=1.0)
            return Worker(
                SqliteCircuits(file),
                SqliteMarks(file),
                sqlite_recent(file, 1.0),
                sqlite_tally(file, 1.0),
                SqliteUsage(file),
                file.standby,
                lambda name: _sqlite_holds(tmp_path / "state.db", name),
                SqlitePins(file, limit=PIN_LIMIT),
                lambda: _sqlite_count(tmp_path / "state.db", "pins"),
                SqliteClients(file),
                SqliteClientUsage(file),
            )

        yield sqlite_worker
    else:
        server = RedisServer()

        def redis_worker() -> Worker:
            link = RedisLink(server.url, timeout=1.0)
            return Worker(
                RedisCircuits(link),
                RedisMarks(link),
                redis_recent(link),
                redis_tally(link),
                RedisUsage(link),
                link.standby,
                lambda name: bool(link.client.exists(PREFIX + "circuit:" + name)),
                RedisPins(link, limit=PIN_LIMIT),
                lambda: len(link.client.keys(PREFIX + "pin:*")),
                RedisClients(link),
                RedisClientUsage(link),
            )

        try:
            yield redis_worker
        finally:
            server.stop()


def _sqlite_count(path: Path, table: str) -> int:
    with sqlite3.connect(path) as db:
        return int(db.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0])


def _sqlite_holds(path: Path, name: str) -> bool:
    with sqlite3.connect(path) as db:
        return db.execute("SELECT 1 FROM circuits WHERE name = ?", (name,)).fetchone() is not None


def opened_circuit(record: CircuitRecord) -> tuple[CircuitRecord, str]:
    return CircuitRecord(failures=1, opens=1, open_until=50.0, models=("m",)), "opened"


def test_a_circuit_changes_atomically_and_is_seen_by_every_worker(workers: Workers) -> None:
    first, second = workers(), workers()
    assert first.circuits.read("groq") == AT_REST
    assert first.circuits.change("groq", opened_circuit) == "opened"
    record = second.circuits.read("groq")
    assert (record.opens, record.open_until, record.models) == (1, 50.0, ("m",))


def test_a_circuit_back_at_rest_is_not_kept(workers: Workers) -> None:
    first, second = workers(), workers()
    first.circuits.change("groq", opened_circuit)
    assert first.holds_circuit("groq")
    assert first.circuits.change("groq", lambda record: (AT_REST, record.opens)) == 1
    assert not first.holds_circuit("groq")
    assert second.circuits.read("groq").at_rest
    first.circuits.change("mistral", opened_circuit)
    first.circuits.forget("mistral")
    assert workers().circuits.read("mistral").at_rest


def test_marks_say_until_when_and_are_shared(workers: Workers) -> None:
    first, second = workers(), workers()
    first.marks.mark("groq", "made-up", 100.0, now=10.0)
    assert second.marks.until("groq", "made-up") == 100.0
    assert second.marks.until("groq", "other") is None
    assert second.marks.any_live("groq", now=50.0)
    assert not second.marks.any_live("groq", now=150.0)
    assert not second.marks.any_live("mistral", now=50.0)
    assert second.marks.count("groq") == 1


def test_marks_are_bounded_per_provider_keeping_the_latest(workers: Workers) -> None:
    marks = workers().marks
    for i in range(MAX_MISSING + 8):
        marks.mark("groq", f"model-{i}", 1000.0 + i, now=1.0)
    kept = workers().marks
    assert 0 < kept.count("groq") <= MAX_MISSING
    assert kept.until("groq", f"model-{MAX_MISSING + 7}") == 1000.0 + MAX_MISSING + 7
    assert kept.count("mistral") == 0


def test_the_last_requests_come_newest_first_and_bounded(workers: Workers) -> None:
    first = workers()
    for i in range(3):
        first.recent.add({"route": "/v1/chat/completions", "n": i})
    first.recent.add({"n": 3, "trail": [{"key": "x" * 200}] * 200})
    latest = first.recent.latest(10)
    assert [entry["n"] for entry in latest] == [3, 2, 1, 0]
    assert len(str(latest[0])) <= MAX_ENTRY * 2 and 0 < len(latest[0]["trail"]) < 200
    assert [entry["n"] for entry in workers().recent.latest(2)] == [3, 2]


def test_a_tally_counts_events_in_its_window_per_name(workers: Workers) -> None:
    first = workers()
    assert [first.tally.add("10.0.0.1", 60.0) for _ in range(3)] == [1, 2, 3]
    assert workers().tally.count("10.0.0.1", 60.0) == 3
    assert first.tally.count("10.0.0.2", 60.0) == 0
    wait_until(
        lambda: workers().tally.count("10.0.0.1", 0.2) == 0,
        timeout=5,
        message="events older than the window no longer count",
    )


def test_usage_adds_up_per_provider_key_and_day(workers: Workers) -> None:
    now = time.time()
    first = workers()
    first.usage.count("groq", "fp-a", Outcome.SUCCESS, now)
    first.usage.count("groq", "fp-a", Outcome.RATE_LIMITED, now)
    first.usage.add_tokens("groq", "fp-a", (10, 5, 15, 8), now)
    first.usage.count("mistral", "fp-b", Outcome.SUCCESS, now)
    first.usage.rows(provider=None, days=1, now=now)  # written: this worker's rows first
    rows = workers().usage.rows(provider="groq", days=1, now=now)
    assert len(rows) == 1
    row = rows[0]
    assert (row.key, row.requests, row.succeeded, row.failed) == ("fp-a", 2, 1, 1)
    assert (row.prompt_tokens, row.completion_tokens, row.total_tokens) == (10, 5, 15)
    assert row.cached_tokens == 8
    assert {r.provider for r in workers().usage.rows(provider=None, days=1, now=now)} == {
        "groq",
        "mistral",
    }


def test_while_the_store_is_away_this_process_answers(tmp_path: Path) -> None:
    file = SqliteFile(tmp_path / "state.db", timeout=0.01)
    circuits, marks = SqliteCircuits(file), SqliteMarks(file)
    blocker = SqliteFile(tmp_path / "state.db", timeout=1.0)
    with blocker.write():  # another worker holds the write lock past STATE_TIMEOUT
        assert circuits.change("groq", opened_circuit) == "opened"
        assert file.standby.up is False
        assert circuits.read("groq").opens in (0, 1)  # a read may still answer (WAL)
        marks.mark("groq", "made-up", 100.0, now=1.0)
        assert marks.until("groq", "made-up") == 100.0
    circuits.change("mistral", opened_circuit)  # a write that works: the store is back
    assert file.standby.up is True


def test_a_worker_opens_the_state_file_once_for_every_kind(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(CHECKED, "1")  # gunicorn's master would have checked the file
    config = load_routing_config({"STATE_URL": f"sqlite:///{tmp_path / 'state.db'}"})
    opened: list[SqliteFile] = []
    real = SqliteFile.__init__

    def counted(self: SqliteFile, *args: Any, **kwargs: Any) -> None:
        opened.append(self)
        real(self, *args, **kwargs)

    monkeypatch.setattr(SqliteFile, "__init__", counted)
    state = open_state(config)
    assert len(opened) == 1
    assert state.standby is opened[0].standby
    state.circuits.change("groq", opened_circuit)
    state.marks.mark("groq", "made-up", time.time() + 60, time.time())
    assert state.circuits.read("groq").opens == 1


def test_a_mark_the_file_missed_is_written_once_it_writes_again(tmp_path: Path) -> None:
    marks = SqliteMarks(SqliteFile(tmp_path / "state.db", timeout=0.01))
    blocker = SqliteFile(tmp_path / "state.db", timeout=1.0)
    with blocker.write():
        marks.mark("groq", "missed", 1000.0, now=1.0)
    assert SqliteMarks(tmp_path / "state.db").until("groq", "missed") is None
    marks.mark("groq", "later", 1000.0, now=2.0)  # the file takes writes again
    assert SqliteMarks(tmp_path / "state.db").until("groq", "missed") == 1000.0


def test_a_pin_is_read_by_every_worker_and_a_later_one_replaces_it(workers: Workers) -> None:
    first, second = workers(), workers()
    assert first.pins.get("s1", now=100.0) is None
    first.pins.put("s1", Pin("groq", "key-a", until=700.0), now=100.0)
    assert second.pins.get("s1", now=101.0) == Pin("groq", "key-a", 700.0)
    second.pins.put("s1", Pin("groq", "key-b", until=800.0), now=200.0)
    assert first.pins.get("s1", now=201.0) == Pin("groq", "key-b", 800.0)
    assert second.pins.get("s2", now=201.0) is None


def test_an_expired_pin_is_not_given(workers: Workers) -> None:
    first, second = workers(), workers()
    first.pins.put("s1", Pin("groq", "key-a", until=110.0), now=100.0)
    assert second.pins.get("s1", now=109.0) is not None
    assert second.pins.get("s1", now=110.0) is None


def test_pins_are_bounded_and_the_soonest_to_expire_go_first(workers: Workers) -> None:
    first = workers()
    count = 4 * TRIM_EVERY + 5
    for n in range(count):
        first.pins.put(f"s{n}", Pin("groq", "k", until=1000.0 + n), now=100.0)
    assert first.pins_held() <= PIN_LIMIT + TRIM_EVERY
    assert workers().pins.get(f"s{count - 1}", now=101.0) is not None
    assert workers().pins.get("s0", now=101.0) is None


def _entry(name: str, prefix: str, **limits: object) -> ClientEntry:
    return ClientEntry(ClientRecord(name, prefix, "d" * 64, Limits(**limits)))  # type: ignore[arg-type]


def test_a_client_key_is_found_by_prefix_on_every_worker_and_names_are_unique(
    workers: Workers,
) -> None:
    first, second = workers(), workers()
    assert first.clients.create(_entry("alice", "aaaa1111"))
    assert not second.clients.create(_entry("alice", "bbbb2222"))
    found = second.clients.lookup("aaaa1111")
    assert found is not None and found.record.name == "alice"
    assert second.clients.lookup("bbbb2222") is None
    assert [e.record.name for e in first.clients.entries()] == ["alice"]


def test_a_new_prefix_replaces_the_old_one_everywhere(workers: Workers) -> None:
    first, second = workers(), workers()
    first.clients.create(_entry("bob", "oldoldol"))
    second.clients.edit("bob", lambda e: e.with_record(replace(e.record, prefix="newnewne")))
    assert first.clients.lookup("oldoldol") is None
    found = first.clients.lookup("newnewne")
    assert found is not None and found.record.name == "bob"
    assert first.clients.edit("nobody", lambda e: e) is None


def test_admission_takes_exactly_the_limit_from_every_worker_at_once(workers: Workers) -> None:
    stores = [workers().clients for _ in range(2)]
    stores[0].create(_entry("carol", "cccc3333", rpm=7))
    now = 1000.5

    def one(n: int) -> bool:
        verdict = stores[n % 2].admit("cccc3333", "d" * 64, Ask(f"h{n}", 0.0, 60.0), now)
        return verdict.entry is not None and verdict.refusal is None

    with ThreadPoolExecutor(8) as pool:
        admitted = sum(pool.map(one, range(20)))
    assert admitted == 7
    stores[1].settle("nobody", "h0", 10, 1.0, now)  # no such key: nothing happens


NOW = 86400.0 * 20425 + 3600 * 10 + 30.25  # a Thursday, 10:00:30.25 UTC


def _admit(store: ClientStore, hold: str, at: float, reserve: float = 0.0,
           digest: str = "d" * 64, prefix: str = "eeee5555") -> Verdict:  # fmt: skip
    return store.admit(prefix, digest, Ask(hold, reserve, 30.0), at)


def test_admission_finds_checks_and_counts_the_key_in_one_call(workers: Workers) -> None:
    first, second = workers().clients, workers().clients
    first.create(_entry("erin", "eeee5555", rpm=2))
    assert _admit(second, "a", NOW, digest="e" * 64).refusal == Refusal.UNKNOWN
    assert _admit(second, "a", NOW, prefix="nonenone").refusal == Refusal.UNKNOWN
    first_verdict = _admit(second, "a", NOW)
    assert first_verdict.refusal is None
    assert first_verdict.entry is not None and first_verdict.entry.record.name == "erin"
    assert _admit(first, "b", NOW + 10).refusal is None
    third = _admit(second, "c", NOW + 20)
    assert third.refusal == Refusal.RPM
    assert third.retry_after == pytest.approx(40 - 0.25, abs=0.01)  # the first falls out
    assert _admit(first, "d", NOW + 60.5).refusal is None
    found = first.lookup("eeee5555")
    assert found is not None and found.window.held == {}  # requests alone: nothing to settle
    assert sum(found.window.requests) == 2  # the first two fell out of the minute


def test_settlement_frees_the_hold_and_counts_tokens_and_spend(workers: Workers) -> None:
    first, second = workers().clients, workers().clients
    first.create(_entry("finn", "eeee5555", max_concurrent=1, tpm=100, daily_tokens=150,
                        budget=1.0, period=Period.DAY))  # fmt: skip
    assert _admit(first, "a", NOW, reserve=0.4).refusal is None
    busy = _admit(second, "b", NOW, reserve=0.4)
    assert (busy.refusal, busy.retry_after) == (Refusal.CONCURRENCY, 1.0)
    second.settle("finn", "a", 120, 0.3, NOW + 1)
    over = _admit(second, "b", NOW + 2)
    assert over.refusal == Refusal.TPM and over.retry_after == pytest.approx(58.75, abs=0.01)
    assert _admit(first, "c", NOW + 62, reserve=0.6).refusal is None
    first.settle("finn", "c", 40, 0.6, NOW + 63)
    assert _admit(second, "d", NOW + 130).refusal == Refusal.DAILY_TOKENS
    found = second.lookup("eeee5555")
    assert found is not None
    assert found.window.spent == pytest.approx(0.9) and found.window.day_tokens == 160
    assert found.window.held == {}


def test_a_budget_holds_reservations_and_waits_for_the_next_period(workers: Workers) -> None:
    store = workers().clients
    store.create(_entry("gail", "eeee5555", budget=1.0, period=Period.DAY))
    assert _admit(store, "a", NOW, reserve=0.6).refusal is None
    held = _admit(store, "b", NOW, reserve=0.6)
    assert (held.refusal, held.retry_after) == (Refusal.BUDGET, 1.0)  # the hold may settle
    store.settle("gail", "a", 0, 0.95, NOW + 1)
    spent = _admit(store, "c", NOW + 2, reserve=0.1)
    assert spent.refusal == Refusal.BUDGET
    assert spent.retry_after == pytest.approx(86400 - 3600 * 10 - 30.25 - 2, abs=0.01)
    assert _admit(store, "d", NOW + 86400, reserve=0.9).refusal is None


def test_a_revoked_or_expired_key_is_refused_and_an_unlimited_one_only_confirmed(
    workers: Workers,
) -> None:
    first, second = workers().clients, workers().clients
    first.create(_entry("hal", "eeee5555"))
    first.create(ClientEntry(ClientRecord("ida", "iiii9999", "d" * 64, expires=NOW)))
    open_key = _admit(second, "a", NOW)
    assert open_key.refusal is None and open_key.entry is not None
    first.edit("hal", lambda e: e.with_record(replace(e.record, revoked=NOW)))
    assert _admit(second, "b", NOW).refusal == Refusal.REVOKED
    assert _admit(second, "c", NOW, prefix="iiii9999").refusal == Refusal.EXPIRED
    assert _admit(second, "c", NOW - 1, prefix="iiii9999").refusal is None


def test_client_usage_adds_up_per_client_provider_key_and_day(workers: Workers) -> None:
    first, second = workers(), workers()
    now = 86400.0 * 20000
    first.client_usage.record("alice", "groq", "key-a", (10, 5, 15, 4), 0.25, True, now)
    second.client_usage.record("alice", "groq", "key-a", (1, 1, 2, 0), 0.5, True, now)
    second.client_usage.record("alice", "-", "-", None, 0.0, False, now)
    first.client_usage.client_rows(days=1, now=now)  # each worker's batch written
    rows = {(r.client, r.provider): r for r in second.client_usage.client_rows(days=1, now=now)}
    served = rows[("alice", "groq")]
    assert (served.requests, served.prompt_tokens, served.completion_tokens) == (2, 11, 6)
    assert (served.cached_tokens, served.cost) == (4, 0.75)
    assert (rows[("alice", "-")].requests, rows[("alice", "-")].failed) == (1, 1)
