"""Usage rows: counted per provider, key and UTC day, kept for the retention window."""

from __future__ import annotations

from pathlib import Path

import pytest

from providers.state.contract import UsageStore
from providers.state.memory.usage import InMemoryUsage
from providers.state.records import SECONDS_PER_DAY, token_counts
from providers.state.sqlite.usage import SqliteUsage

NOW = 1_795_000_000.0  # a fixed day


@pytest.fixture(params=["memory", "sqlite"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> UsageStore:
    if request.param == "memory":
        return InMemoryUsage(retention_days=3)
    return SqliteUsage(tmp_path / "s.db", retention_days=3)


def test_counts_and_tokens_add_up_per_day_and_key(store: UsageStore) -> None:
    store.count("groq", "key-a", "success", NOW)
    store.add_tokens("groq", "key-a", (5, 7, 12, 0), NOW)
    store.count("groq", "key-a", "rate_limited", NOW)
    store.count("groq", "key-b", "success", NOW)
    store.count("groq", "key-a", "success", NOW - SECONDS_PER_DAY)
    today = [r for r in store.rows(provider="groq", days=1, now=NOW)]
    assert {(r.key, r.requests, r.succeeded, r.failed, r.total_tokens) for r in today} == {
        ("key-a", 2, 1, 1, 12),
        ("key-b", 1, 1, 0, 0),
    }
    assert len(store.rows(provider=None, days=2, now=NOW)) == 3
    assert store.rows(provider="openai", days=2, now=NOW) == []


@pytest.mark.parametrize(
    ("usage", "tokens"),
    [
        ({"prompt_tokens": 5, "completion_tokens": 7, "total_tokens": 12}, (5, 7, 12, 0)),
        ({"prompt_tokens": 5, "completion_tokens": 7}, (5, 7, 12, 0)),
        (
            {
                "prompt_tokens": 50,
                "completion_tokens": 7,
                "prompt_tokens_details": {"cached_tokens": 40},
            },
            (50, 7, 57, 40),
        ),
        ({"prompt_tokens": 5, "prompt_tokens_details": {"cached_tokens": 9}}, (5, 0, 5, 5)),
        ({"prompt_tokens": -1, "completion_tokens": "7"}, None),
        ({"prompt_tokens": True}, None),
        (None, None),
    ],
)
def test_token_counts_take_only_sane_numbers(usage: object, tokens: object) -> None:
    assert token_counts(usage) == tokens
