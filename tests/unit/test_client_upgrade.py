"""Client keys written by the release before the windows had a place of their own (the
record and its window in one JSON, the minute's counts keyed by the second) are read
after an upgrade with nothing lost: the spend of the period, the tokens of the day, the
requests of the minute and the holds in flight."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import orjson
import redis

from bench.redisserver import RedisServer
from providers.clients.records import ClientEntry
from providers.clients.window import Ask, Refusal, period_start
from providers.state.redis.clients import RedisClients, entry_key, prefix_key
from providers.state.redis.link import PREFIX, RedisLink
from providers.state.sqlite.clients import SqliteClients
from providers.state.sqlite.file import SqliteFile

NOW = time.time()
OLD_SCHEMA = "CREATE TABLE clients (name TEXT PRIMARY KEY, prefix TEXT NOT NULL UNIQUE, entry TEXT NOT NULL) WITHOUT ROWID"  # noqa: E501


def _old_entry() -> bytes:
    """An entry as the previous release wrote it: two requests this minute (rpm 3)."""
    second = int(NOW)
    record = {"name": "olga", "prefix": "olgaolga", "digest": "d" * 64,
              "limits": {"models": [], "groups": [], "providers": [], "max_tier": None,
                         "rpm": 3, "tpm": None, "daily_tokens": None, "max_concurrent": None,
                         "budget": 5.0, "period": "month"},
              "created": NOW - 86400, "expires": None, "revoked": None}  # fmt: skip
    window = {"requests": {str(second - 5): 1, str(second - 90): 4, str(second): 1},
              "tokens": {str(second - 5): 700}, "day": int(NOW // 86400), "day_tokens": 700,
              "period": period_start(record["limits"]["period"], NOW),  # type: ignore[arg-type,index]
              "spent": 1.25, "held": {"h0": [NOW + 300, 0.5]}}  # fmt: skip
    return orjson.dumps({"record": record, "window": window})


def _kept_everything(found: ClientEntry | None) -> None:
    assert found is not None and found.record.name == "olga"
    assert found.record.limits.rpm == 3 and found.record.limits.budget == 5.0
    assert found.window.spent == 1.25 and found.window.day_tokens == 700
    assert sum(found.window.requests) == 2  # the one 90 s old had fallen out already
    assert sum(found.window.tokens) == 700 and list(found.window.held) == ["h0"]


def _third_then_refused(store: SqliteClients | RedisClients) -> None:
    assert store.admit("olgaolga", "d" * 64, Ask("h1", 0.1, 60), NOW).refusal is None
    refused = store.admit("olgaolga", "d" * 64, Ask("h2", 0.1, 60), NOW)
    assert refused.refusal == Refusal.RPM


def test_an_old_state_file_is_read_with_its_windows(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    with sqlite3.connect(path) as db:
        db.execute(OLD_SCHEMA)
        db.execute("INSERT INTO clients VALUES ('olga', 'olgaolga', ?)", (_old_entry().decode(),))
    store = SqliteClients(SqliteFile(path, timeout=1.0))
    _kept_everything(store.lookup("olgaolga"))
    _third_then_refused(store)


def test_old_redis_entries_are_split_with_their_windows(redis_server: RedisServer) -> None:
    raw = redis.Redis.from_url(redis_server.url)
    raw.set(entry_key("olga"), _old_entry())
    raw.set(prefix_key("olgaolga"), "olga")
    raw.sadd(PREFIX + "clients", "olga")
    store = RedisClients(RedisLink(redis_server.url, timeout=1.0))
    _kept_everything(store.lookup("olgaolga"))
    assert b'"window"' not in (raw.get(entry_key("olga")) or b"")  # split, once
    _third_then_refused(store)
