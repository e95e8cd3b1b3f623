"""Resolving a model to its chain: tiers, same-model matches, groups, G4F routing, options."""

from __future__ import annotations

import pytest

from providers import RouteOptions, Router, load_routing_config
from providers.errors import ModelNotFound

ENV = {
    "OPENAI_API_KEY": "sk-openai-unit-aaaaaaaaaaaaaa",
    "OPENAI_MODELS": "gpt-4o,gpt-4o-mini",
    "OPENROUTER_API_KEY": "sk-or-v1-unit-bbbbbbbbbbbbbb",
    "OPENROUTER_MODELS": "openai/gpt-4o,meta-llama/llama-3.3-70b-instruct",
    "GROQ_API_KEY": "gsk_unit_ccccccccccccccccccc",
    "GROQ_MODELS": "llama-3.3-70b-versatile",
    "LOCAL_API_BASE": "http://127.0.0.1:1/v1",
    "LOCAL_MODELS": "gpt-4o",
    "G4F_MAIN_API_BASE": "http://127.0.0.1:2/v1",
    "G4F_GROQ_API_BASE": "http://127.0.0.1:3/v1",
    "MODEL_GROUP_LLAMA": (
        "groq/llama-3.3-70b-versatile,"
        "openrouter/meta-llama/llama-3.3-70b-instruct,"
        "g4f/llama-3.3-70b"
    ),
}


def chain(
    model: str, env: dict[str, str] | None = None, **options: object
) -> list[tuple[str, int, str]]:
    router = Router(load_routing_config(env or ENV))
    return [
        (c.provider.name, c.provider.tier, c.model)
        for c in router.resolve(model, options=RouteOptions(**options))
    ]  # type: ignore[arg-type]


def test_named_provider_first_then_same_model_by_tier_then_g4f() -> None:
    assert chain("openai/gpt-4o") == [
        ("openai", 1, "gpt-4o"),
        ("openrouter", 2, "openai/gpt-4o"),
        ("g4f-main", 5, "gpt-4o"),
        ("local", 10, "gpt-4o"),
    ]


def test_bare_model_is_every_provider_that_serves_it_by_tier() -> None:
    assert [name for name, _, _ in chain("gpt-4o")] == ["openai", "openrouter", "g4f-main", "local"]


def test_group_is_exactly_its_chain() -> None:
    assert chain("LLAMA") == [
        ("groq", 2, "llama-3.3-70b-versatile"),
        ("openrouter", 2, "meta-llama/llama-3.3-70b-instruct"),
        ("g4f-groq", 5, "llama-3.3-70b"),
        ("g4f-main", 5, "llama-3.3-70b"),
    ]


def test_options_cut_the_chain() -> None:
    assert chain("openai/gpt-4o", fallback=False) == [("openai", 1, "gpt-4o")]
    assert [n for n, _, _ in chain("openai/gpt-4o", max_tier=2)] == ["openai", "openrouter"]
    with pytest.raises(ModelNotFound, match="tier 1"):
        chain("groq/llama-3.3-70b-versatile", max_tier=1)


def test_unknown_models_are_not_sent_to_g4f() -> None:
    with pytest.raises(ModelNotFound):
        chain("no-such-model")
    with pytest.raises(ModelNotFound):
        chain("openai/no-such-model")
    assert chain("g4f/anything-at-all")[0] == ("g4f-main", 5, "anything-at-all")


def test_priority_override_reorders() -> None:
    env = {**ENV, "PROVIDER_PRIORITY_LOCAL": "1", "PROVIDER_PRIORITY_OPENAI": "4"}
    assert [n for n, _, _ in chain("gpt-4o", env)] == ["local", "openrouter", "openai", "g4f-main"]


def test_within_a_tier_rotation_and_unhealthy_last() -> None:
    env = {**ENV, "PROVIDER_PRIORITY_OPENROUTER": "1"}
    router = Router(load_routing_config(env))
    firsts = [router.resolve("gpt-4o")[0].provider.name for _ in range(4)]
    assert sorted(firsts) == ["openai", "openai", "openrouter", "openrouter"]
    for _ in range(10):  # CIRCUIT_MIN_CALLS failed calls open the circuit
        router.providers["openai"].circuit.record("server_error")
    assert [router.resolve("gpt-4o")[0].provider.name for _ in range(3)] == ["openrouter"] * 3
