"""What clients choose cannot grow the service's state: metric series, cache entries, URLs shown."""

from __future__ import annotations

import pytest
from prometheus_client.parser import text_string_to_metric_families

from bench.gunicorn import Gunicorn
from tests.fakes.upstream import FakeUpstream

from .helpers import AUTH, CLIENT_KEY, StartGateway, fake_env

pytestmark = pytest.mark.integration


def model_labels(gateway: Gunicorn) -> set[str]:
    text = gateway.request("GET", "/metrics").text
    return {
        sample.labels["model"]
        for family in text_string_to_metric_families(text)
        if family.name == "keyrelay_requests"
        for sample in family.samples
    }


def test_model_names_clients_invent_share_one_label(
    start_gateway: StartGateway, fake: FakeUpstream
) -> None:
    gateway = start_gateway(
        fake_env(fake, G4F_MAIN_API_BASE=fake.base_url, MODEL_GROUP_FAST="fake/fake-model")
    )
    names = [f"g4f/invented-{n}" for n in range(300)] + ["g4f/" + "m" * 250]
    for name in names:
        body = {"model": name, "messages": [{"role": "user", "content": "Hi"}]}
        assert gateway.request("POST", "/v1/chat/completions", json=body, headers=AUTH).ok
    for name in ("fake/fake-model", "fake-model", "fast"):
        body = {"model": name, "messages": [{"role": "user", "content": "Hi"}]}
        assert gateway.request("POST", "/v1/chat/completions", json=body, headers=AUTH).ok
    assert model_labels(gateway) == {"other", "fake/fake-model", "fake-model", "fast"}


def test_cached_answers_are_kept_apart_per_client_key(
    start_gateway: StartGateway, fake: FakeUpstream
) -> None:
    env = fake_env(fake, CACHE_TTL_SECONDS="300", PROXY_API_KEY=f"{CLIENT_KEY},second-client")
    gateway = start_gateway(env)
    body = {"model": "fake/fake-model", "messages": [{"role": "user", "content": "Hi"}]}
    other = {"Authorization": "Bearer second-client"}
    first = gateway.request("POST", "/v1/chat/completions", json=body, headers=AUTH)
    assert first.headers["X-Cache"] == "miss"
    assert (
        gateway.request("POST", "/v1/chat/completions", json=body, headers=other).headers["X-Cache"]
        == "miss"
    )
    again = gateway.request("POST", "/v1/chat/completions", json=body, headers=AUTH)
    assert again.headers["X-Cache"] == "hit"


def test_a_shared_cache_serves_every_client_key(
    start_gateway: StartGateway, fake: FakeUpstream
) -> None:
    env = fake_env(
        fake,
        CACHE_TTL_SECONDS="300",
        CACHE_SHARED="true",
        PROXY_API_KEY=f"{CLIENT_KEY},second-client",
    )
    gateway = start_gateway(env)
    body = {"model": "fake/fake-model", "messages": [{"role": "user", "content": "Hi"}]}
    gateway.request("POST", "/v1/chat/completions", json=body, headers=AUTH)
    shared = gateway.request(
        "POST", "/v1/chat/completions", json=body, headers={"Authorization": "Bearer second-client"}
    )
    assert shared.headers["X-Cache"] == "hit"


def test_credentials_in_a_base_url_are_not_shown(
    start_gateway: StartGateway, fake: FakeUpstream
) -> None:
    base = fake.base_url.replace("http://", "http://user:pa55word-secret@")
    gateway = start_gateway(fake_env(fake, FAKE_API_BASE=base))
    listing = gateway.request("GET", "/v1/providers", headers=AUTH)
    assert listing.status_code == 200
    assert "pa55word" not in listing.text and "user:" not in listing.text
    assert listing.json()["data"][0]["base_url"].startswith("http://***@127.0.0.1")
    # The credentials still reach the upstream: only what is shown is redacted.
    assert gateway.request(
        "POST",
        "/v1/chat/completions",
        json={"model": "fake/fake-model", "messages": [{"role": "user", "content": "Hi"}]},
        headers=AUTH,
    ).ok
