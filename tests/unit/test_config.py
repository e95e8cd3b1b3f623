"""Finding providers and settings in LLM-API-Key-Proxy-style environment variables."""

from __future__ import annotations

import pytest

from app.settings import load_settings
from providers.config.env import ConfigError
from providers.config.load import load_providers, load_routing_config


def test_known_providers_are_enabled_by_keys_with_any_suffix() -> None:
    env = {
        "GROQ_API_KEY": "g1",
        "GROQ_API_KEY_2": "g2",
        "GROQ_API_KEY_backup": "g1",  # duplicate: merged
        "OPENAI_API_KEY_1": "o1",
        "PROXY_API_KEY": "client",  # a setting, not a provider
        "METRICS_API_KEY": "m",
        "SOMETHING_API_KEY": "x",  # not a known provider and no base URL
        "MISTRAL_API_BASE": "https://example.test/v1",  # known, but no keys: not enabled
    }
    providers = {p.name: p for p in load_providers(env)}
    assert sorted(providers) == ["groq", "openai"]
    assert providers["groq"].keys == ("g1", "g2")
    assert providers["groq"].base_url == "https://api.groq.com/openai/v1"
    assert "g1" not in repr(providers["groq"])


def test_custom_provider_is_declared_by_its_base_url() -> None:
    env = {"LOCAL_VLLM_API_BASE": "http://127.0.0.1:9000/v1/", "LOCAL_VLLM_MODELS": "a, b"}
    (provider,) = load_providers(env)
    assert provider.name == "local_vllm" and provider.custom
    assert provider.base_url == "http://127.0.0.1:9000/v1"
    assert provider.keys == () and provider.models == ("a", "b")


def test_base_url_override_and_filters() -> None:
    env = {
        "OPENAI_API_KEY": "k",
        "OPENAI_API_BASE": "http://127.0.0.1:1234/v1",
        "IGNORE_MODELS_OPENAI": "*",
        "WHITELIST_MODELS_OPENAI": "gpt-4o*",
        "MAX_CONCURRENT_REQUESTS_PER_KEY_OPENAI": "3",
    }
    (provider,) = load_providers(env)
    assert provider.base_url == "http://127.0.0.1:1234/v1"
    assert provider.ignore == ("*",) and provider.whitelist == ("gpt-4o*",)
    assert provider.max_in_flight_per_key == 3


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("TIMEOUT_READ", "soon"),
        ("TIMEOUT_CONNECT", "-1"),
        ("REQUEST_DEADLINE", "0"),
        ("MAX_CONCURRENT_REQUESTS_PER_KEY_GROQ", "two"),
        ("GROQ_API_BASE", "ftp://nope"),
        ("MAX_REQUEST_BODY_BYTES", "0"),
        ("LOG_LEVEL", "LOUD"),
    ],
)
def test_invalid_values_stop_startup_naming_the_variable(name: str, value: str) -> None:
    with pytest.raises(ConfigError, match=name):
        load_settings({"GROQ_API_KEY": "k", name: value})


def test_defaults() -> None:
    settings = load_settings({})
    assert settings.client_keys == ()
    assert settings.max_body_bytes == 10 * 1024 * 1024
    routing = load_routing_config({})
    assert (routing.timeout_connect, routing.timeout_read) == (5.0, 120.0)
    assert routing.providers == ()


def test_pool_is_sized_to_the_worker() -> None:
    assert load_settings({"WORKER_CLASS": "gthread", "THREADS": "16"}).routing.pool_maxsize == 16
    # gevent is the default worker: a greenlet per connection, up to 256 pooled per upstream.
    assert load_settings({}).routing.pool_maxsize == 256
    assert (
        load_settings({"WORKER_CLASS": "gevent", "WORKER_CONNECTIONS": "100"}).routing.pool_maxsize
        == 100
    )
    assert load_settings({"UPSTREAM_POOL_MAXSIZE": "3"}).routing.pool_maxsize == 3
