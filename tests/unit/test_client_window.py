"""Client keys' pure parts: admission and settlement, periods, prices, the keys themselves."""

from __future__ import annotations

import calendar

import pytest

from providers.clients.prices import FREE, PriceTable, parse_overrides
from providers.clients.records import (
    ClientEntry,
    ClientRecord,
    Limits,
    Period,
    decode_entry,
    encode_entry,
)
from providers.clients.secret import digest, matches, new_key, prefix_of
from providers.clients.window import Ask, Refusal, admit, period_end, period_start, settle
from providers.config.env import ConfigError
from providers.secrets import Redactor

NOW = float(calendar.timegm((2026, 12, 3, 10, 0, 30)))  # a Thursday


def entry(**limits: object) -> ClientEntry:
    return ClientEntry(ClientRecord("alice", "abcd1234", "0" * 64, Limits(**limits)))  # type: ignore[arg-type]


def test_rpm_admits_k_and_says_when_the_oldest_falls_out() -> None:
    kept = entry(rpm=2)
    for at in (NOW, NOW + 10):
        kept, verdict = admit(kept, Ask(f"h{at}", 0, 60), at)
        assert verdict.refusal is None
    _, verdict = admit(kept, Ask("h3", 0, 60), NOW + 20)
    assert verdict.refusal == Refusal.RPM
    assert verdict.retry_after == pytest.approx(40, abs=1)
    assert admit(kept, Ask("h4", 0, 60), NOW + 61)[1].refusal is None


def test_a_budget_counts_what_is_spent_and_what_is_held() -> None:
    kept = entry(budget=1.0, period=Period.DAY)
    kept, first = admit(kept, Ask("a", 0.6, 600), NOW)
    assert first.refusal is None
    _, second = admit(kept, Ask("b", 0.6, 600), NOW)
    assert (second.refusal, second.retry_after) == (Refusal.BUDGET, 1.0)  # a hold may settle
    kept = settle(kept, "a", 100, 0.1, NOW + 1)
    assert kept.window.held == {} and kept.window.spent == pytest.approx(0.1)
    kept, third = admit(kept, Ask("c", 0.9, 600), NOW + 2)
    assert third.refusal is None
    kept = settle(kept, "c", 0, 0.95, NOW + 3)
    _, fourth = admit(kept, Ask("d", 0.01, 600), NOW + 4)
    assert fourth.refusal == Refusal.BUDGET  # spent alone is over: wait for the next day
    assert fourth.retry_after == pytest.approx(period_end(Period.DAY, NOW) - NOW - 4)
    assert admit(kept, Ask("e", 0.5, 600), period_end(Period.DAY, NOW))[1].refusal is None


def test_concurrency_tokens_and_expiry() -> None:
    kept, _ = admit(entry(max_concurrent=1), Ask("a", 0, 5), NOW)
    assert admit(kept, Ask("b", 0, 5), NOW)[1].refusal == Refusal.CONCURRENCY
    assert admit(kept, Ask("b", 0, 5), NOW + 6)[1].refusal is None  # a dead worker's hold
    kept = settle(
        admit(entry(tpm=100, daily_tokens=150), Ask("a", 0, 60), NOW)[0], "a", 120, 0, NOW
    )
    assert admit(kept, Ask("b", 0, 60), NOW + 1)[1].refusal == Refusal.TPM
    kept = settle(admit(kept, Ask("c", 0, 60), NOW + 70)[0], "c", 40, 0, NOW + 70)
    assert admit(kept, Ask("d", 0, 60), NOW + 140)[1].refusal == Refusal.DAILY_TOKENS
    revoked = ClientEntry(ClientRecord("x", "p", "d", revoked=NOW))
    assert admit(revoked, Ask("e", 0, 60), NOW)[1].refusal == Refusal.REVOKED
    expired = ClientEntry(ClientRecord("x", "p", "d", expires=NOW))
    assert admit(expired, Ask("e", 0, 60), NOW)[1].refusal == Refusal.EXPIRED


def test_periods_start_at_utc_midnight_monday_and_the_first() -> None:
    assert period_start(Period.DAY, NOW) == calendar.timegm((2026, 12, 3, 0, 0, 0))
    assert period_start(Period.WEEK, NOW) == calendar.timegm((2026, 11, 30, 0, 0, 0))
    assert period_start(Period.MONTH, NOW) == calendar.timegm((2026, 12, 1, 0, 0, 0))
    assert period_end(Period.MONTH, NOW) == calendar.timegm((2027, 1, 1, 0, 0, 0))


def test_an_entry_survives_its_json() -> None:
    kept, _ = admit(
        entry(models=("gpt-*",), budget=2.0, period=Period.WEEK), Ask("a", 0.1, 60), NOW
    )
    assert decode_entry(encode_entry(kept)) == kept


def test_prices_g4f_is_free_overrides_win_and_cache_reads_are_cheaper() -> None:
    table = PriceTable(parse_overrides("gpt-4o=1/0.5/2/100"))
    assert table.price("openai", "", "gpt-4o").output == 2
    assert table.price("g4f-main", "g4f", "gpt-4o") == FREE
    mini = table.price("openrouter", "", "openai/gpt-4o-mini")
    assert mini.output == pytest.approx(0.6)  # an aggregator's id, by its last segment
    assert table.price("local", "", "my-own-model") == FREE
    price = table.price("openai", "", "gpt-4o")
    assert price.cost(1000, 100, 800) == pytest.approx((200 * 1 + 800 * 0.5 + 100 * 2) / 1e6)
    with pytest.raises(ConfigError):
        parse_overrides("gpt-4o=1/2")


def test_a_key_is_kept_as_a_prefix_and_a_keyed_hash_and_redacted_in_text() -> None:
    key, prefix = new_key()
    assert prefix_of(key) == prefix and prefix_of("sk-something") is None
    kept = digest(key, "pepper")
    assert matches(key, kept, "pepper") and not matches(key, kept, "other")
    assert key not in Redactor()(f"error with {key} inside")
