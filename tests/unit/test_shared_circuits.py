"""Circuits and 404 marks in the shared state file: one view for every worker of a host."""

from __future__ import annotations

import sqlite3
from dataclasses import replace
from pathlib import Path

import pytest

from providers.health.circuit import CLOSED, OPEN, Circuit, Permit
from providers.state.records import AT_REST, encode_record
from providers.state.sqlite import circuits as circuits_module
from providers.state.sqlite.circuits import SqliteCircuits
from providers.state.sqlite.marks import SqliteMarks
from tests.helpers import FakeClock


def worker(path: Path, clock: FakeClock | None = None, threshold: int = 2) -> Circuit:
    """A worker's view: its own store object and connection on the shared file."""
    store = SqliteCircuits(path)
    if clock is not None:
        store.clock = clock  # wall-clock stand-in, shared by the "workers"
    return Circuit(min_calls=threshold, open_seconds=30, store=store, name="groq")


def test_failures_seen_by_two_workers_open_one_circuit_for_both(tmp_path: Path) -> None:
    first, second = worker(tmp_path / "s.db"), worker(tmp_path / "s.db")
    first.record("server_error", first.allow() or Permit.PASS)
    second.record("timeout", second.allow() or Permit.PASS)
    assert first.state() == OPEN and second.state() == OPEN
    assert first.allow() is None and second.allow() is None
    retry = first.retry_in()
    assert retry is not None and 29 < retry <= 30


def test_one_worker_claims_the_trial_and_its_verdict_closes_it_for_all(tmp_path: Path) -> None:
    path, clock = tmp_path / "s.db", FakeClock()
    clock.now = 1_795_000_000.0
    first, second = worker(path, clock), worker(path, clock)
    opener = worker(path, clock, threshold=1)
    opener.record("server_error")
    assert first.state() == OPEN and first.allow() is None
    clock.now += 30  # the wait is over: half-open
    trial = first.allow()
    assert trial is Permit.TRIAL
    assert second.allow() is None  # the trial is taken
    first.record("success", trial)
    assert second.state() == CLOSED and second.allow() is Permit.PASS
    # Back at rest: nothing is kept for it.
    assert SqliteCircuits(path).read("groq").at_rest


def test_a_404_mark_is_seen_by_every_worker_and_stays_bounded(tmp_path: Path) -> None:
    path, now = tmp_path / "s.db", 1_795_000_000.0
    first, second = SqliteMarks(path), SqliteMarks(path)
    first.mark("groq", "gpt-9", now + 600, now)
    assert second.until("groq", "gpt-9") == now + 600 and second.any_live("groq", now)
    assert not second.any_live("groq", now + 601)
    for i in range(1100):
        first.mark("groq", f"made-up-{i}", now + 600 + i, now)
    later = SqliteMarks(path)  # a worker reading now (others re-read within MIRROR_SECONDS)
    assert later.count("groq") == 1024
    assert later.until("groq", "made-up-1099") is not None  # the newest are kept


def test_a_worker_that_kept_a_read_sees_another_workers_change_at_once(tmp_path: Path) -> None:
    first, second = worker(tmp_path / "s.db", threshold=1), worker(tmp_path / "s.db", threshold=1)
    assert first.state() == CLOSED and first.state() == CLOSED  # read, then answered as kept
    second.record("server_error")
    assert first.state() == OPEN and first.allow() is None


def test_a_kept_read_is_not_trusted_past_its_age(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "s.db"
    reader, writer = SqliteCircuits(path), SqliteCircuits(path)
    writer.change("groq", lambda r: (replace(r, failures=1), None))
    assert reader.read("groq").failures == 1
    with sqlite3.connect(path) as db:  # a write that leaves the generation word alone
        db.execute("DELETE FROM circuits")
    assert reader.read("groq").failures == 1  # kept: nothing said it changed
    monkeypatch.setattr(circuits_module, "KEEP_SECONDS", 0.0)
    assert reader.read("groq").at_rest


def test_without_a_generation_word_every_read_asks_the_file(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    (tmp_path / "s.db-circuits").mkdir()  # the word's file cannot be made: no word
    reader, writer = SqliteCircuits(path), SqliteCircuits(path)
    assert reader.read("groq").at_rest
    with sqlite3.connect(path) as db:
        db.execute(
            "INSERT INTO circuits (name, state) VALUES ('groq', ?)",
            (encode_record(replace(AT_REST, failures=2)),),
        )
    assert reader.read("groq").failures == 2
    assert writer.read("groq").failures == 2
