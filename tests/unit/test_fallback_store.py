"""A shared store that cannot answer in time: requests go on with this process's own state."""

from __future__ import annotations

import logging
import sqlite3
import time
from pathlib import Path

import pytest

from providers.state.fallbackkeys import FallbackKeyStore
from providers.state.sqlite.keys import SqliteKeyStore

KEYS = ["key-a", "key-b"]


def test_a_locked_state_file_falls_back_and_comes_back(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "s.db"
    store = FallbackKeyStore(SqliteKeyStore(path, timeout=0.01))
    now = time.time()
    assert store.acquire("p", KEYS, exclude=(), max_in_flight=1, now=now) == "key-a"
    store.release("p", "key-a")
    blocker = sqlite3.connect(path, isolation_level=None)
    blocker.execute("BEGIN EXCLUSIVE")  # another process holds the file
    with caplog.at_level(logging.WARNING, logger="providers.state.fallback"):
        taken = [store.acquire("p", KEYS, exclude=(), max_in_flight=1, now=now) for _ in range(3)]
        assert taken[:2] == ["key-a", "key-b"] and taken[2] is None  # the local rules hold
        assert store.up is False
        store.release("p", "key-a")  # given back where it was taken: locally
        blocker.execute("ROLLBACK")
        # Back on the shared store: key-b, least recently used there (key-a was used first).
        assert store.acquire("p", KEYS, exclude=(), max_in_flight=1, now=now) == "key-b"
        assert store.up is True
    transitions = [r.message for r in caplog.records]
    assert len(transitions) == 2  # one warning down, one up: not one per request
    blocker.close()


def test_a_block_the_file_did_not_take_is_laid_over_it_and_written_back(tmp_path: Path) -> None:
    """Reads answer, the block's write does not (a full disk, a lock): the key is not
    chosen, it counts as cooling, and the block reaches the file once it answers."""
    path = tmp_path / "s.db"
    shared = SqliteKeyStore(path, timeout=0.01)
    store = FallbackKeyStore(shared)
    now = time.time()
    assert store.acquire("p", KEYS, exclude=(), max_in_flight=None, now=now) == "key-a"
    store.release("p", "key-a")
    blocker = sqlite3.connect(path, isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")  # writers wait; WAL readers go on
    store.block("p", "key-a", until=now + 60, reason="cooling", strike=True, now=now)
    for _ in range(3):
        assert store.acquire("p", KEYS, exclude=(), max_in_flight=None, now=now) == "key-b"
        store.release("p", "key-b")
    assert store.counts("p", KEYS, now)["cooling"] == 1
    blocker.execute("ROLLBACK")
    blocker.close()
    deadline = time.monotonic() + 5
    while shared.counts("p", KEYS, now)["cooling"] == 0:  # tried again once a second
        assert time.monotonic() < deadline, "the block was never written back"
        store.acquire("p", KEYS, exclude=(), max_in_flight=None, now=now)
        store.release("p", "key-b")
    assert store.counts("p", KEYS, now)["cooling"] == 1  # counted once, not twice
