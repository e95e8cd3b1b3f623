"""The router against ``responses``-mocked upstreams: every outcome, no app, no sockets."""

from __future__ import annotations

import json

import pytest
import requests
import responses

from providers import Router, load_routing_config
from providers.errors import (
    CallerError,
    ChainExhausted,
    InBandError,
    ModelNotFound,
    StreamInterrupted,
    UnsupportedEndpoint,
)

BASE = "https://upstream.test/v1"
KEY_A, KEY_B = "sk-unit-key-aaaaaaaaaaaaaaaa", "sk-unit-key-bbbbbbbbbbbbbbbb"
CHAT = {"model": "fake/m", "messages": [{"role": "user", "content": "hi"}]}
COMPLETION = {
    "id": "x",
    "object": "chat.completion",
    "created": 1,
    "model": "m",
    "choices": [
        {"index": 0, "message": {"role": "assistant", "content": "ok"}, "finish_reason": "stop"}
    ],
}


def router(**env: str) -> Router:
    base = {
        "FAKE_API_BASE": BASE,
        "FAKE_API_KEY_1": KEY_A,
        "FAKE_API_KEY_2": KEY_B,
        "FAKE_MODELS": "m,n",
    }
    return Router(load_routing_config({**base, **env}))


def keys_used(mocked: responses.RequestsMock) -> list[str]:
    return [c.request.headers["Authorization"].removeprefix("Bearer ") for c in mocked.calls]


def test_success_sends_key_per_request_and_forwards_the_body(
    mocked: responses.RequestsMock,
) -> None:
    mocked.post(f"{BASE}/chat/completions", json=COMPLETION)
    completion = router().complete({**CHAT, "extra": {"kept": True}})
    assert completion.body["choices"][0]["message"]["content"] == "ok"
    assert completion.served.provider == "fake"
    sent = json.loads(mocked.calls[0].request.body)
    assert sent == {**CHAT, "model": "m", "extra": {"kept": True}}
    assert keys_used(mocked) == [KEY_A]


def test_429_rotates_to_the_next_key_without_sleeping(mocked: responses.RequestsMock) -> None:
    mocked.post(
        f"{BASE}/chat/completions",
        status=429,
        headers={"Retry-After": "30"},
        json={"error": {"message": "slow down"}},
        match=[responses.matchers.header_matcher({"Authorization": f"Bearer {KEY_A}"})],
    )
    mocked.post(
        f"{BASE}/chat/completions",
        json=COMPLETION,
        match=[responses.matchers.header_matcher({"Authorization": f"Bearer {KEY_B}"})],
    )
    r = router()
    completion = r.complete(CHAT)
    assert [a.outcome for a in completion.served.attempts] == ["rate_limited", "success"]
    assert keys_used(mocked) == [KEY_A, KEY_B]
    r.complete(CHAT)
    assert keys_used(mocked)[-1] == KEY_B  # KEY_A is still cooling
    assert r.providers["fake"].keys.counts()["cooling"] == 1


@pytest.mark.parametrize(
    ("status", "body", "state"),
    [
        (401, {"error": {"message": "bad key"}}, "disabled"),
        (403, {"error": {"message": "forbidden"}}, "disabled"),
        (402, {"error": {"message": "pay up"}}, "exhausted"),
        (429, {"error": {"message": "quota", "code": "insufficient_quota"}}, "exhausted"),
        (
            400,
            [
                {
                    "error": {
                        "code": 400,
                        "status": "INVALID_ARGUMENT",
                        "message": "API key not valid",
                        "details": [{"reason": "API_KEY_INVALID"}],
                    }
                }
            ],
            "disabled",
        ),
    ],
)
def test_key_failures_set_the_key_aside_and_rotate(
    mocked: responses.RequestsMock, status: int, body: object, state: str
) -> None:
    mocked.post(
        f"{BASE}/chat/completions",
        status=status,
        json=body,
        match=[responses.matchers.header_matcher({"Authorization": f"Bearer {KEY_A}"})],
    )
    mocked.post(f"{BASE}/chat/completions", json=COMPLETION)
    r = router()
    assert r.complete(CHAT).served.key != r.providers["fake"].keys.key_ids[0]
    assert r.providers["fake"].keys.counts()[state] == 1


@pytest.mark.parametrize("status", [400, 413, 422])
def test_caller_errors_are_relayed_without_rotation(
    mocked: responses.RequestsMock, status: int
) -> None:
    mocked.post(
        f"{BASE}/chat/completions",
        status=status,
        json={
            "error": {"message": "nope", "type": "invalid_request_error", "param": "x", "code": "c"}
        },
    )
    with pytest.raises(CallerError) as info:
        router().complete(CHAT)
    assert info.value.status == status and info.value.param == "x"
    assert len(mocked.calls) == 1


def test_mistral_style_error_body_is_understood(mocked: responses.RequestsMock) -> None:
    mocked.post(
        f"{BASE}/chat/completions",
        status=422,
        json={
            "object": "error",
            "message": {"detail": [{"msg": "extra_forbidden"}]},
            "type": "invalid_request_error",
        },
    )
    with pytest.raises(CallerError, match="extra_forbidden"):
        router().complete(CHAT)


@pytest.mark.parametrize(
    ("mock", "status", "code"),
    [
        ({"status": 500, "json": {"error": {"message": "boom"}}}, 502, "upstream_server_error"),
        ({"status": 408, "body": "timeout"}, 502, "upstream_server_error"),
        ({"body": requests.ConnectionError("refused")}, 502, "upstream_connection_error"),
        ({"body": requests.ReadTimeout("slow")}, 504, "upstream_timeout"),
        ({"body": "not json"}, 502, "upstream_bad_response"),
        ({"json": {"error": {"message": "in-band"}}}, 502, "upstream_error"),
    ],
)
def test_provider_failures_end_the_provider_not_each_key(
    mocked: responses.RequestsMock, mock: dict[str, object], status: int, code: str
) -> None:
    mocked.post(f"{BASE}/chat/completions", **mock)  # type: ignore[arg-type]
    with pytest.raises(ChainExhausted) as info:
        router().complete(CHAT)
    assert (info.value.status, info.value.code) == (status, code)
    assert len(mocked.calls) == 1
    assert info.value.attempts[0]["provider"] == "fake"
    assert KEY_A not in json.dumps(info.value.attempts)


def test_everything_rate_limited_is_429_with_the_soonest_retry(
    mocked: responses.RequestsMock,
) -> None:
    mocked.post(
        f"{BASE}/chat/completions",
        status=429,
        headers={"Retry-After": "40"},
        match=[responses.matchers.header_matcher({"Authorization": f"Bearer {KEY_A}"})],
    )
    mocked.post(f"{BASE}/chat/completions", status=429, headers={"Retry-After": "12"})
    with pytest.raises(ChainExhausted) as info:
        router().complete(CHAT)
    assert info.value.status == 429
    assert info.value.retry_after == pytest.approx(12, abs=0.5)


def test_upstream_message_echoing_a_key_is_redacted(mocked: responses.RequestsMock) -> None:
    mocked.post(
        f"{BASE}/chat/completions",
        status=400,
        json={"error": {"message": f"Incorrect API key provided: {KEY_A}"}},
    )
    with pytest.raises(CallerError) as info:
        router().complete(CHAT)
    assert KEY_A not in info.value.message and KEY_A not in json.dumps(info.value.body)


def test_stream_commits_at_first_output_and_reports_later_failure(
    mocked: responses.RequestsMock,
) -> None:
    body = (
        b'data: {"choices":[{"index":0,"delta":{"role":"assistant"},"finish_reason":null}]}\n\n'
        b'data: {"choices":[{"index":0,"delta":{"content":"Hi"},"finish_reason":null}]}\n\n'
        b'data: {"error":{"message":"died"}}\n\n'
    )
    mocked.post(f"{BASE}/chat/completions", body=body, content_type="text/event-stream")
    stream = router().stream({**CHAT, "stream": True})
    received = []
    with pytest.raises(StreamInterrupted, match="died"):
        for chunk in stream:
            received.append(chunk)
    stream.close()
    assert len(received) == 2


def test_stream_error_before_output_is_a_plain_failure(mocked: responses.RequestsMock) -> None:
    mocked.post(
        f"{BASE}/chat/completions",
        body=b'data: {"error":{"message":"early"}}\n\n',
        content_type="text/event-stream",
    )
    with pytest.raises(ChainExhausted) as info:
        router().stream({**CHAT, "stream": True})
    assert info.value.attempts[0]["outcome"] == InBandError.outcome


def test_json_answer_to_a_stream_request_is_not_mistaken_for_a_stream(
    mocked: responses.RequestsMock,
) -> None:
    mocked.post(f"{BASE}/chat/completions", json=COMPLETION)
    with pytest.raises(ChainExhausted) as info:
        router().stream({**CHAT, "stream": True})
    assert info.value.code == "upstream_bad_response"


def test_resolution(mocked: responses.RequestsMock) -> None:
    r = router()
    assert [c.model for c in r.resolve("fake/m")] == ["m"]
    assert [c.provider.name for c in r.resolve("n")] == ["fake"]
    with pytest.raises(ModelNotFound):
        r.resolve("fake/unknown")
    with pytest.raises(ModelNotFound):
        r.resolve("zzz")


def test_embeddings_only_where_offered(mocked: responses.RequestsMock) -> None:
    r = Router(load_routing_config({"GROQ_API_KEY": KEY_A, "GROQ_MODELS": "m"}))
    with pytest.raises(UnsupportedEndpoint):
        r.embed({"model": "groq/m", "input": "x"})
    assert len(mocked.calls) == 0


def test_models_are_fetched_once_and_a_failed_fetch_does_not_block(
    mocked: responses.RequestsMock,
) -> None:
    mocked.get(f"{BASE}/models", json={"object": "list", "data": [{"id": "a"}, {"id": "b"}]})
    r = router(FAKE_MODELS="")
    assert r.list_models() == [("fake", "a"), ("fake", "b")]
    assert r.list_models() == [("fake", "a"), ("fake", "b")]
    assert len(mocked.calls) == 1
    broken = router(FAKE_MODELS="", FAKE_API_BASE="https://down.test/v1")
    mocked.get("https://down.test/v1/models", body=requests.ConnectionError("down"))
    assert broken.list_models() == []
    # Unknown list: the upstream decides whether it serves the model.
    assert [c.model for c in broken.resolve("fake/anything")] == ["anything"]


def test_sessions_keep_no_cookies_and_ignore_proxy_variables(
    mocked: responses.RequestsMock,
) -> None:
    mocked.post(
        f"{BASE}/chat/completions", json=COMPLETION, headers={"Set-Cookie": "track=1; Path=/"}
    )
    r = router()
    r.complete(CHAT)
    session = r.sessions.get(BASE)
    assert len(session.cookies) == 0
    assert session.trust_env is False
    adapter = session.get_adapter(BASE + "/chat/completions")
    assert adapter._pool_maxsize == r.config.pool_maxsize  # type: ignore[attr-defined]
    assert adapter.max_retries.read == 0  # type: ignore[attr-defined]
