"""The response cache through a real gunicorn: hits, misses, bypass, streaming replay."""

from __future__ import annotations

import json

import pytest
import requests

from bench.gunicorn import Gunicorn
from tests.fakes.upstream import FakeUpstream, Reply

from .helpers import AUTH, StartGateway, fake_env

pytestmark = pytest.mark.integration

CHAT = {
    "model": "fake/fake-model",
    "messages": [{"role": "user", "content": "Hi"}],
    "temperature": 0,
}


@pytest.fixture
def cached(start_gateway: StartGateway, fake: FakeUpstream) -> Gunicorn:
    return start_gateway(fake_env(fake, CACHE_TTL_SECONDS="300", CACHE_MAX_ENTRIES="100"))


def ask(gateway: Gunicorn, body: dict[str, object], **headers: str) -> requests.Response:
    return gateway.request("POST", "/v1/chat/completions", json=body, headers={**AUTH, **headers})


def upstream_calls(fake: FakeUpstream) -> int:
    return len(fake.hits_for(path="/chat/completions"))


def test_identical_requests_are_answered_from_the_cache(
    cached: Gunicorn, fake: FakeUpstream
) -> None:
    first, second = ask(cached, CHAT), ask(cached, CHAT)
    assert (first.headers["X-Cache"], second.headers["X-Cache"]) == ("miss", "hit")
    assert second.json() == first.json()
    assert second.headers["X-Attempts"] == "0" and second.headers["X-Provider"] == "fake"
    assert upstream_calls(fake) == 1
    assert ask(cached, {**CHAT, "temperature": 0.5}).headers["X-Cache"] == "miss"
    assert upstream_calls(fake) == 2


def test_no_cache_bypasses_the_lookup_and_refreshes(cached: Gunicorn, fake: FakeUpstream) -> None:
    ask(cached, CHAT)
    fake.default = lambda hit: Reply(
        body={
            "id": "new",
            "object": "chat.completion",
            "created": 2,
            "model": "m",
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": "fresh"},
                    "finish_reason": "stop",
                }
            ],
        }
    )
    refreshed = ask(cached, CHAT, **{"Cache-Control": "no-cache"})
    assert refreshed.headers["X-Cache"] == "bypass"
    assert refreshed.json()["choices"][0]["message"]["content"] == "fresh"
    assert ask(cached, CHAT).json()["choices"][0]["message"]["content"] == "fresh"  # stored anew
    assert upstream_calls(fake) == 2


def test_streamed_request_is_replayed_from_a_cached_completion(
    cached: Gunicorn, fake: FakeUpstream
) -> None:
    ask(cached, CHAT)
    body = {**CHAT, "stream": True, "stream_options": {"include_usage": True}}
    response = ask(cached, body)
    assert response.headers["X-Cache"] == "hit"
    assert response.headers["Content-Type"].startswith("text/event-stream")
    events = [e[6:] for e in response.text.split("\n\n") if e.startswith("data: ")]
    assert events[-1] == "[DONE]"
    chunks = [json.loads(e) for e in events[:-1]]
    text = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"])
    assert text == "Hello from the fake upstream."
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["total_tokens"] == 12
    assert all(c["model"] == "fake/fake-model" for c in chunks)
    assert upstream_calls(fake) == 1


def test_streams_are_not_stored_and_failures_are_not_cached(
    cached: Gunicorn, fake: FakeUpstream
) -> None:
    ask(cached, {**CHAT, "stream": True})
    assert ask(cached, CHAT).headers["X-Cache"] == "miss"
    fake.default = lambda hit: Reply(status=500)
    body = {**CHAT, "messages": [{"role": "user", "content": "other"}]}
    assert ask(cached, body).status_code == 502
    fake.default = None
    assert ask(cached, body).headers["X-Cache"] == "miss"
    assert upstream_calls(fake) == 4


def test_cache_is_off_by_default(gateway: Gunicorn, fake: FakeUpstream) -> None:
    assert "X-Cache" not in ask(gateway, CHAT).headers
    ask(gateway, CHAT)
    assert upstream_calls(fake) == 2
