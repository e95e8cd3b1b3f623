"""Chat completions through a real gunicorn, against a fake upstream on loopback."""

from __future__ import annotations

import pytest

from bench.gunicorn import Gunicorn
from tests.fakes.upstream import FakeUpstream, Reply

from .helpers import AUTH, KEY_A, KEY_B, StartGateway, fake_env

pytestmark = pytest.mark.integration

CHAT = {"model": "fake/fake-model", "messages": [{"role": "user", "content": "Hi"}]}


def test_completion_is_relayed_with_the_model_the_client_asked_for(
    gateway: Gunicorn, fake: FakeUpstream
) -> None:
    body = {**CHAT, "tools": [{"type": "function", "function": {"name": "f"}}], "x_custom": 1}
    response = gateway.request("POST", "/v1/chat/completions", json=body, headers=AUTH)

    assert response.status_code == 200
    assert response.json()["model"] == "fake/fake-model"
    assert response.json()["choices"][0]["message"]["content"] == "Hello from the fake upstream."
    assert response.headers["X-Provider"] == "fake"
    assert response.headers["X-Request-ID"]
    # The upstream got the client's body untouched, but for its own model id.
    (hit,) = fake.hits_for(path="/chat/completions")
    assert hit.body == {**body, "model": "fake-model"}
    assert hit.key in (KEY_A, KEY_B)


def test_request_id_is_echoed(gateway: Gunicorn) -> None:
    headers = {**AUTH, "X-Request-ID": "trace-123"}
    response = gateway.request("POST", "/v1/chat/completions", json=CHAT, headers=headers)
    assert response.headers["X-Request-ID"] == "trace-123"


def test_keys_rotate_least_recently_used_first(gateway: Gunicorn, fake: FakeUpstream) -> None:
    for _ in range(4):
        assert gateway.request("POST", "/v1/chat/completions", json=CHAT, headers=AUTH).ok
    keys = [h.key for h in fake.hits_for(path="/chat/completions")]
    assert sorted(keys) == sorted([KEY_A, KEY_B, KEY_A, KEY_B])
    assert keys[0] != keys[1] and keys[2] != keys[3]


def test_rate_limited_key_cools_down_and_the_request_moves_on(
    gateway: Gunicorn, fake: FakeUpstream
) -> None:
    fake.script(KEY_A, Reply(status=429, headers={"Retry-After": "30"}))
    fake.script(KEY_B, Reply(status=429, headers={"Retry-After": "30"}))
    # The first request meets a 429 on whichever key it picks, then uses the other.
    first = gateway.request("POST", "/v1/chat/completions", json=CHAT, headers=AUTH)
    assert first.status_code == 429  # both keys were scripted to 429: nothing served it
    assert first.json()["error"]["code"] == "rate_limit_exceeded"
    assert 29 <= int(first.headers["Retry-After"]) <= 30
    assert len(fake.hits_for(path="/chat/completions")) == 2
    # During the cooldown no request reaches the upstream at all.
    again = gateway.request("POST", "/v1/chat/completions", json=CHAT, headers=AUTH)
    assert again.status_code == 429
    assert len(fake.hits_for(path="/chat/completions")) == 2


def test_429_on_one_key_rotates_to_the_other_at_once(gateway: Gunicorn, fake: FakeUpstream) -> None:
    fake.script(KEY_A, Reply(status=429, headers={"retry-after-ms": "30000"}))
    results = [
        gateway.request("POST", "/v1/chat/completions", json=CHAT, headers=AUTH) for _ in range(3)
    ]
    assert [r.status_code for r in results] == [200, 200, 200]
    # Keys are tried in configured order when all are fresh: KEY_A answered 429,
    # the same request moved on to KEY_B, and later requests skipped KEY_A entirely.
    assert results[0].headers["X-Attempts"] == "2"
    assert [h.key for h in fake.hits_for(path="/chat/completions")] == [KEY_A, KEY_B, KEY_B, KEY_B]


def test_rejected_key_is_disabled(start_gateway: StartGateway, fake: FakeUpstream) -> None:
    gateway = start_gateway(fake_env(fake, KEY_A, KEY_B))
    fake.script(KEY_A, Reply(status=401))
    fake.script(KEY_B, Reply(status=401))
    response = gateway.request("POST", "/v1/chat/completions", json=CHAT, headers=AUTH)
    # Never a raw 401: the client's own key is fine, the upstream's keys are not.
    assert response.status_code == 502
    assert response.json()["error"]["code"] == "upstream_credentials_exhausted"
    assert KEY_A not in response.text and KEY_B not in response.text
    ready = gateway.request("GET", "/ready", headers=AUTH)
    assert ready.status_code == 503
    assert ready.json()["providers"]["fake"]["disabled"] == 2
    before = len(fake.hits)
    assert (
        gateway.request("POST", "/v1/chat/completions", json=CHAT, headers=AUTH).status_code == 503
    )
    assert len(fake.hits) == before


def test_one_rejected_key_leaves_the_other_serving(gateway: Gunicorn, fake: FakeUpstream) -> None:
    fake.script(KEY_A, Reply(status=403))
    results = [
        gateway.request("POST", "/v1/chat/completions", json=CHAT, headers=AUTH) for _ in range(3)
    ]
    assert [r.status_code for r in results] == [200, 200, 200]
    assert [h.key for h in fake.hits_for(path="/chat/completions")] == [KEY_A, KEY_B, KEY_B, KEY_B]
    assert (
        gateway.request("GET", "/ready", headers=AUTH).json()["providers"]["fake"]["disabled"] == 1
    )


@pytest.mark.parametrize("status", [400, 413, 422])
def test_caller_errors_come_back_unchanged_without_rotation(
    gateway: Gunicorn, fake: FakeUpstream, status: int
) -> None:
    upstream_error = {
        "error": {
            "message": "bad thing",
            "type": "invalid_request_error",
            "param": "messages",
            "code": "xyz",
        }
    }
    fake.default = lambda hit: Reply(status=status, body=upstream_error)
    response = gateway.request("POST", "/v1/chat/completions", json=CHAT, headers=AUTH)
    assert response.status_code == status
    assert response.json() == upstream_error
    assert len(fake.hits_for(path="/chat/completions")) == 1


def test_model_missing_upstream_is_404_with_its_message(
    gateway: Gunicorn, fake: FakeUpstream
) -> None:
    fake.default = lambda hit: Reply(status=404, body={"error": {"message": "no such model"}})
    response = gateway.request("POST", "/v1/chat/completions", json=CHAT, headers=AUTH)
    assert response.status_code == 404
    assert response.json()["error"]["message"] == "no such model"
    assert response.json()["error"]["code"] == "model_not_found"
    assert len(fake.hits_for(path="/chat/completions")) == 1  # a 404 is no reason to try other keys


def test_quota_exhausted_key_is_set_aside(start_gateway: StartGateway, fake: FakeUpstream) -> None:
    gateway = start_gateway(fake_env(fake, KEY_A, KEY_B))
    quota = {
        "error": {
            "message": "You exceeded your current quota",
            "type": "insufficient_quota",
            "param": None,
            "code": "insufficient_quota",
        }
    }
    fake.script(KEY_A, Reply(status=429, body=quota))
    fake.script(KEY_B, Reply(status=402))
    response = gateway.request("POST", "/v1/chat/completions", json=CHAT, headers=AUTH)
    assert response.status_code == 502
    assert response.json()["error"]["code"] == "upstream_credentials_exhausted"
    assert (
        gateway.request("GET", "/ready", headers=AUTH).json()["providers"]["fake"]["exhausted"] == 2
    )


@pytest.mark.parametrize(
    ("reply", "status", "code"),
    [
        (Reply(status=500), 502, "upstream_server_error"),
        (Reply(status=503), 502, "upstream_server_error"),
        (Reply(raw=b"<html>oops</html>"), 502, "upstream_bad_response"),
        (Reply(body={"error": {"message": "in-band failure"}}), 502, "upstream_error"),
        (Reply(body={"choices": []}), 502, "upstream_bad_response"),
    ],
)
def test_upstream_failures_get_a_truthful_status(
    gateway: Gunicorn, fake: FakeUpstream, reply: Reply, status: int, code: str
) -> None:
    fake.default = lambda hit: reply
    response = gateway.request("POST", "/v1/chat/completions", json=CHAT, headers=AUTH)
    assert response.status_code == status
    assert response.json()["error"]["code"] == code
    # A provider failure is not the key's fault: no rotation through every key.
    assert len(fake.hits_for(path="/chat/completions")) == 1


def test_upstream_timeout_is_504(start_gateway: StartGateway, fake: FakeUpstream) -> None:
    gateway = start_gateway(fake_env(fake, TIMEOUT_READ="0.3"))
    fake.default = lambda hit: Reply(delay=3)
    response = gateway.request("POST", "/v1/chat/completions", json=CHAT, headers=AUTH)
    assert response.status_code == 504
    assert response.json()["error"]["code"] == "upstream_timeout"


def test_deadline_bounds_every_attempt_together(
    start_gateway: StartGateway, fake: FakeUpstream
) -> None:
    gateway = start_gateway(fake_env(fake, TIMEOUT_READ="30", REQUEST_DEADLINE="0.5"))
    fake.default = lambda hit: Reply(delay=3)
    response = gateway.request("POST", "/v1/chat/completions", json=CHAT, headers=AUTH)
    assert response.status_code == 504
    assert response.json()["error"]["code"] == "deadline_exceeded"


def test_unreachable_upstream_is_502(start_gateway: StartGateway, fake: FakeUpstream) -> None:
    env = fake_env(fake)
    fake.close()  # nothing listens there any more
    gateway = start_gateway(env)
    response = gateway.request("POST", "/v1/chat/completions", json=CHAT, headers=AUTH)
    assert response.status_code == 502
    assert response.json()["error"]["code"] == "upstream_connection_error"


def test_upstream_error_echoing_a_key_is_redacted(gateway: Gunicorn, fake: FakeUpstream) -> None:
    message = f"Incorrect API key provided: {KEY_A} or {KEY_B}"
    fake.default = lambda hit: Reply(
        status=400, body={"error": {"message": message, "type": "invalid_request_error"}}
    )
    response = gateway.request("POST", "/v1/chat/completions", json=CHAT, headers=AUTH)
    assert response.status_code == 400
    assert KEY_A not in response.text and KEY_B not in response.text
    assert "key-" in response.json()["error"]["message"]
    assert KEY_A not in gateway.logs() and KEY_B not in gateway.logs()


def test_embeddings(gateway: Gunicorn, fake: FakeUpstream) -> None:
    body = {"model": "fake/fake-model", "input": ["a", "b"]}
    response = gateway.request("POST", "/v1/embeddings", json=body, headers=AUTH)
    assert response.status_code == 200
    assert [d["index"] for d in response.json()["data"]] == [0, 1]
    assert response.json()["model"] == "fake/fake-model"
    (hit,) = fake.hits_for(path="/embeddings")
    assert hit.body == {"model": "fake-model", "input": ["a", "b"]}


def test_embeddings_refused_for_a_provider_without_them(
    start_gateway: StartGateway, fake: FakeUpstream
) -> None:
    gateway = start_gateway(
        {
            "PROXY_API_KEY": "k",
            "GROQ_API_KEY": "gsk_" + "x" * 20,
            "GROQ_API_BASE": fake.base_url,
            "GROQ_MODELS": "m",
        }
    )
    response = gateway.request(
        "POST",
        "/v1/embeddings",
        json={"model": "groq/m", "input": "a"},
        headers={"Authorization": "Bearer k"},
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "unsupported_endpoint"
    assert fake.hits == []


def test_models_list_and_retrieve(gateway: Gunicorn) -> None:
    listing = gateway.request("GET", "/v1/models", headers=AUTH)
    assert listing.status_code == 200
    ids = [m["id"] for m in listing.json()["data"]]
    assert ids == ["fake/fake-model", "fake/other-model"]
    one = gateway.request("GET", "/v1/models/fake/other-model", headers=AUTH)
    assert one.json() == {**listing.json()["data"][1]}
    missing = gateway.request("GET", "/v1/models/fake/nope", headers=AUTH)
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "model_not_found"


def test_models_are_fetched_from_the_upstream_and_filtered(
    start_gateway: StartGateway, fake: FakeUpstream
) -> None:
    fake.models = ["llama-3", "llama-guard", "mixtral", "gemma"]
    env = fake_env(fake, IGNORE_MODELS_FAKE="llama*", WHITELIST_MODELS_FAKE="llama-3")
    del env["FAKE_MODELS"]
    gateway = start_gateway(env)
    ids = [m["id"] for m in gateway.request("GET", "/v1/models", headers=AUTH).json()["data"]]
    assert ids == ["fake/llama-3", "fake/mixtral", "fake/gemma"]
    gateway.request("GET", "/v1/models", headers=AUTH)
    assert len(fake.hits_for(path="/models")) == 1  # cached
    # Routing obeys the same filters.
    ignored = gateway.request(
        "POST", "/v1/chat/completions", json={**CHAT, "model": "fake/llama-guard"}, headers=AUTH
    )
    assert ignored.status_code == 404
    served = gateway.request(
        "POST", "/v1/chat/completions", json={**CHAT, "model": "fake/mixtral"}, headers=AUTH
    )
    assert served.status_code == 200


def test_unknown_model_is_404(gateway: Gunicorn, fake: FakeUpstream) -> None:
    for model in ("fake/unknown", "nosuchprovider/model", "bare-unknown"):
        response = gateway.request(
            "POST", "/v1/chat/completions", json={**CHAT, "model": model}, headers=AUTH
        )
        assert response.status_code == 404, model
        assert response.json()["error"]["code"] == "model_not_found"
    assert fake.hits_for(path="/chat/completions") == []


def test_bare_model_routes_to_a_provider_that_serves_it(gateway: Gunicorn) -> None:
    response = gateway.request(
        "POST", "/v1/chat/completions", json={**CHAT, "model": "other-model"}, headers=AUTH
    )
    assert response.status_code == 200
    assert response.json()["model"] == "other-model"


def test_max_concurrent_requests_per_key(start_gateway: StartGateway, fake: FakeUpstream) -> None:
    env = fake_env(fake, KEY_A, MAX_CONCURRENT_REQUESTS_PER_KEY_FAKE="1", REQUEST_DEADLINE="1")
    gateway = start_gateway(env)
    content = {"choices": [{"index": 0, "delta": {"content": "x"}, "finish_reason": None}]}
    stream = Reply(
        events=[
            content,
            content,
            {**content, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]},
        ],
        gated=True,
    )
    fake.script(KEY_A, stream)
    body = {**CHAT, "stream": True}
    with gateway.request(
        "POST", "/v1/chat/completions", json=body, headers=AUTH, stream=True
    ) as held:
        assert held.status_code == 200
        # The only key is busy with the open stream: the next request waits for it until
        # its deadline, then is turned away with a Retry-After.
        busy = gateway.request("POST", "/v1/chat/completions", json=CHAT, headers=AUTH)
        assert busy.status_code == 503
        assert busy.json()["error"]["code"] == "keys_busy"
        assert busy.headers["Retry-After"] == "1"
        stream.advance(2)
        assert held.content.endswith(b"data: [DONE]\n\n")
    # The stream ended, the key came back.
    assert (
        gateway.request("POST", "/v1/chat/completions", json=CHAT, headers=AUTH).status_code == 200
    )
