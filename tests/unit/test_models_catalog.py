"""The model catalog: filters, lookups by id and last segment, and 404 marks."""

from __future__ import annotations

from providers.health.model_lists import ModelCatalog
from tests.helpers import FakeClock

LISTED = [
    "openai/gpt-4o",
    "OpenAI/GPT-4o-mini",
    "meta-llama/llama-3.3-70b",
    "vendor/gpt-4o",
    "dall-e-3",
]


def catalog(clock: FakeClock) -> ModelCatalog:
    return ModelCatalog(declared=None, fetch=lambda: list(LISTED), ignore=["dall-e*"], clock=clock)


def test_filters_and_lookups(clock: FakeClock) -> None:
    models = catalog(clock)
    assert models.models() == tuple(LISTED[:4])
    assert models.match("openai/gpt-4o") == "openai/gpt-4o"
    assert models.match("gpt-4o") == "openai/gpt-4o"  # the first with that last segment
    assert models.match("openai/gpt-4o-mini") == "OpenAI/GPT-4o-mini"  # any case
    assert models.match("dall-e-3") is None and models.serves("dall-e-3") is False
    assert models.serves("META-LLAMA/llama-3.3-70b") is True


def test_a_404_mark_hides_a_model_until_it_expires(clock: FakeClock) -> None:
    models = catalog(clock)
    models.mark_missing("openai/gpt-4o", 60)
    assert models.serves("openai/gpt-4o") is False
    assert models.match("gpt-4o") == "vendor/gpt-4o"  # the next one with that last segment
    assert "openai/gpt-4o" not in (models.models() or ())
    clock.now += 61
    assert models.match("gpt-4o") == "openai/gpt-4o"
    assert models.models() == tuple(LISTED[:4])


def test_the_list_is_fetched_once_per_ttl(clock: FakeClock) -> None:
    calls = []

    def fetch() -> list[str]:
        calls.append(1)
        return list(LISTED)

    models = ModelCatalog(declared=None, fetch=fetch, ttl=100, clock=clock)
    for _ in range(5):
        models.match("gpt-4o")
    clock.now += 101
    models.match("gpt-4o")
    assert len(calls) == 2


def test_404_marks_stay_bounded(clock: FakeClock) -> None:
    models = catalog(clock)
    for i in range(5000):
        models.mark_missing(f"made-up-{i}", 600)
        clock.now += 0.01
    assert models.marked <= 1024
    assert models.serves("made-up-4999") is False  # the newest marks are kept
