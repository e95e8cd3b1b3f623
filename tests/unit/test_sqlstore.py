"""The SQLite key store: shared between store objects and processes, durable, lease expiry."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

from providers.state.records import COOLING, EXHAUSTED, USABLE
from providers.state.sqlite.choice import Row, least_busy_least_used
from providers.state.sqlite.keys import SqliteKeyStore
from tests.fakes.upstream import wait_until

KEYS = ["key-a", "key-b"]


def test_a_block_is_seen_by_every_store_on_the_file_and_after_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    first, second = SqliteKeyStore(path), SqliteKeyStore(path)
    now = time.time()
    assert first.acquire("p", KEYS, exclude=(), max_in_flight=None, now=now) == "key-a"
    first.block("p", "key-a", until=now + 60, reason=EXHAUSTED, strike=False, now=now)
    # Another worker (store object) never picks the blocked key.
    assert second.acquire("p", KEYS, exclude=(), max_in_flight=None, now=now) == "key-b"
    restarted = SqliteKeyStore(path)
    assert restarted.counts("p", KEYS, now)[EXHAUSTED] == 1
    assert restarted.next_available("p", KEYS, now) == now + 60


def test_a_shorter_block_never_shortens_a_longer_one(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    first, second = SqliteKeyStore(path), SqliteKeyStore(path)
    now = time.time()
    first.counts("p", KEYS, now)
    first.block(
        "p", "key-a", until=now + 600, reason=COOLING, strike=False, now=now, source="upstream"
    )
    second.block("p", "key-a", until=now + 5, reason=COOLING, strike=True, now=now)
    state = first.snapshot("p", KEYS)["key-a"]
    assert (state.blocked_until, state.strikes, state.source) == (now + 600, 1, "upstream")
    second.block("p", "key-a", until=now + 900, reason=EXHAUSTED, strike=False, now=now)
    state = first.snapshot("p", KEYS)["key-a"]
    assert (state.blocked_until, state.reason, state.source) == (now + 900, EXHAUSTED, "default")


def test_a_state_file_from_before_block_sources_is_upgraded(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    old = sqlite3.connect(path)
    old.execute(
        "CREATE TABLE keys (pool TEXT NOT NULL, key TEXT NOT NULL, position INTEGER NOT NULL,"
        " last_used REAL NOT NULL DEFAULT 0, blocked_until REAL NOT NULL DEFAULT 0,"
        " reason TEXT NOT NULL DEFAULT 'usable', strikes INTEGER NOT NULL DEFAULT 0,"
        " PRIMARY KEY (pool, key)) WITHOUT ROWID"
    )
    old.execute("INSERT INTO keys VALUES ('p', 'key-a', 0, 0, 4e9, 'exhausted', 0)")
    old.commit()
    old.close()
    state = SqliteKeyStore(path).snapshot("p", KEYS)["key-a"]
    assert (state.reason, state.source) == (EXHAUSTED, "")


def test_in_flight_counts_across_stores_and_a_dead_process_frees_its_lease(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    script = (
        "import os, sys, time; sys.path.insert(0, sys.argv[2]);"
        "from providers.state.sqlite.keys import SqliteKeyStore;"
        "s = SqliteKeyStore(sys.argv[1]);"
        "assert s.acquire('p', ['key-a'], exclude=(), max_in_flight=1, now=time.time());"
        "os._exit(0)"  # killed: never releases
    )
    root = str(Path(__file__).resolve().parents[2])
    subprocess.run([sys.executable, "-c", script, str(path), root], check=True, timeout=30)
    store = SqliteKeyStore(path)
    # The lease's process is gone: the key is free again (the cap is 1).
    assert store.acquire("p", ["key-a"], exclude=(), max_in_flight=1, now=time.time()) == "key-a"
    # A live holder (this process) keeps it busy for every other store on the file.
    other = SqliteKeyStore(path)
    assert other.acquire("p", ["key-a"], exclude=(), max_in_flight=1, now=time.time()) is None
    store.release("p", "key-a")
    assert other.acquire("p", ["key-a"], exclude=(), max_in_flight=1, now=time.time()) == "key-a"
    assert other.counts("p", ["key-a"], time.time())[USABLE] == 1


def test_the_state_file_and_its_folder_are_private(tmp_path: Path) -> None:
    path = tmp_path / "nested" / "state.db"
    SqliteKeyStore(path)
    assert os.stat(path).st_mode & 0o077 == 0
    assert os.stat(path.parent).st_mode & 0o077 == 0


def test_least_recently_used_order_reaches_the_other_workers(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    first, second = SqliteKeyStore(path), SqliteKeyStore(path)
    now = time.time()
    assert first.acquire("p", KEYS, exclude=(), max_in_flight=None, now=now) == "key-a"
    first.release("p", "key-a")
    # Written within USED_FLUSH_SECONDS: then the other worker rotates on to key-b.
    wait_until(
        lambda: second.snapshot("p", KEYS)["key-a"].last_used == now,
        timeout=5,
        message="key-a's last use written",
    )
    assert second.acquire("p", KEYS, exclude=(), max_in_flight=None, now=now + 1) == "key-b"


def test_a_lease_the_file_could_not_take_back_is_given_back_later(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    store = SqliteKeyStore(path, timeout=0.01)
    assert store.acquire("p", KEYS, exclude=(), max_in_flight=1, now=time.time()) == "key-a"
    blocker = sqlite3.connect(path, isolation_level=None)
    blocker.execute("BEGIN EXCLUSIVE")  # another process holds the file
    store.release("p", "key-a")  # the delete cannot happen now
    assert store.snapshot("p", KEYS)["key-a"].in_flight == 1
    blocker.execute("ROLLBACK")
    blocker.close()
    wait_until(
        lambda: store.snapshot("p", KEYS)["key-a"].in_flight == 0,
        timeout=5,
        message="the lease given back once the file answers",
    )


def test_choosing_a_key_reads_past_only_the_keys_this_worker_touched() -> None:
    rows = [(f"key-{i}", 100.0 + i, i, 0) for i in range(10_000)]  # least recently used first
    pulled: list[str] = []

    def file_order() -> Iterator[Row]:
        for row in rows:
            pulled.append(row[0])
            yield row

    touched = {f"key-{i}": 5000.0 + i for i in range(5)}  # used here, not written yet
    chosen = least_busy_least_used(
        file_order(), frozenset(r[0] for r in rows), ("key-5",), {"key-6": 1}, touched
    )
    assert chosen == ("key-7", 0)
    assert len(pulled) == 9  # five touched, one excluded, one held here, the chosen, one more


def test_counts_read_blocked_keys_and_forget_keys_no_longer_configured(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    now = time.time()
    before = SqliteKeyStore(path)
    assert before.counts("p", [*KEYS, "key-c"], now)[USABLE] == 3
    for key, reason in (("key-b", COOLING), ("key-c", EXHAUSTED)):
        before.block("p", key, until=now + 60, reason=reason, strike=False, now=now)
    counts = before.counts("p", [*KEYS, "key-c"], now)
    assert counts == {USABLE: 1, COOLING: 1, "disabled": 0, EXHAUSTED: 1}
    after = SqliteKeyStore(path)  # restarted with key-c taken out of the configuration
    assert after.counts("p", KEYS, now) == {USABLE: 1, COOLING: 1, "disabled": 0, EXHAUSTED: 0}
    assert after.next_available("p", KEYS, now) == now + 60
    assert set(after.snapshot("p", KEYS)) == set(KEYS)
    with sqlite3.connect(path) as db:
        assert [r[0] for r in db.execute("SELECT key FROM keys ORDER BY key")] == KEYS
