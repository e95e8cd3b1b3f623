"""G4F as a real G4F server behaves: fakes replay exchanges recorded from one (g4f 8.8.6).

An aggregator's failures are its models' first: one bad model name, one backend's
login wall or rate limit must not shut the endpoint for every other model.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable

import pytest
import requests

from bench.gunicorn import Gunicorn
from tests.fakes.g4f import recorded
from tests.fakes.upstream import FakeUpstream, Hit, Reply, completion, wait_until

from .helpers import AUTH, CLIENT_KEY, StartGateway

pytestmark = pytest.mark.integration

GOOD = "gpt-4o-mini"


def chat(gateway: Gunicorn, model: str, **fields: object) -> requests.Response:
    body = {"model": model, "messages": [{"role": "user", "content": "Hi"}], **fields}
    return gateway.request("POST", "/v1/chat/completions", json=body, headers=AUTH)


def by_model(
    replies: dict[str, Callable[[], Reply]], default: str = "c_ns.txt"
) -> Callable[[Hit], Reply]:
    """A G4F server that answers each model with its recorded shape."""

    def answer(hit: Hit) -> Reply:
        model = str((hit.body or {}).get("model"))
        if model in replies:
            return replies[model]()
        stream = bool((hit.body or {}).get("stream"))
        return recorded("c_s.txt" if stream else default)

    return answer


def g4f_env(g4f: FakeUpstream, **extra: str) -> dict[str, str]:
    return {"PROXY_API_KEY": CLIENT_KEY, "G4F_MAIN_API_BASE": g4f.base_url, **extra}


def hits(fake: FakeUpstream, model: str) -> int:
    return sum(
        1 for h in fake.hits_for(path="/chat/completions") if (h.body or {}).get("model") == model
    )


def provider_state(gateway: Gunicorn, name: str) -> dict[str, object]:
    listing = gateway.request("GET", "/v1/providers", headers=AUTH).json()["data"]
    found: dict[str, object] = next(p for p in listing if p["provider"] == name)
    return found


# -- 1. per-model failure accounting ------------------------------------------------------


def test_one_bad_model_name_is_set_aside_alone(
    start_gateway: StartGateway, fake: FakeUpstream
) -> None:
    fake.default = by_model(
        {"no-such-model-xyz": lambda: recorded("chat_no-such-model-xyz_sfalse.txt")}
    )
    gateway = start_gateway(g4f_env(fake, CIRCUIT_MIN_CALLS="3"))
    answers = [chat(gateway, "g4f/no-such-model-xyz") for _ in range(5)]
    assert [a.status_code for a in answers] == [502] * 5
    # Set aside after three, but the only option: tried anyway, and the trail says so.
    assert [len(a.json()["error"]["attempts"]) for a in answers] == [1, 1, 1, 2, 2]
    for late in answers[3:]:
        skipped, tried = late.json()["error"]["attempts"]
        assert skipped["outcome"] == "skipped_model_set_aside"
        assert tried["last_resort"] is True and tried["outcome"] != "success"
    assert hits(fake, "no-such-model-xyz") == 5
    served = chat(gateway, f"g4f/{GOOD}")
    assert served.status_code == 200, served.text
    state = provider_state(gateway, "g4f-main")
    assert state["circuit"] == "closed"
    assert "no-such-model-xyz" in state["models_set_aside"]  # type: ignore[operator]


def test_failures_across_models_open_the_endpoint(
    start_gateway: StartGateway, fake: FakeUpstream
) -> None:
    down = lambda: recorded("chat_gpt-4o-mini_strue.txt")  # noqa: E731 - every backend down
    fake.default = by_model({"model-a": down, "model-b": down, "model-c": down})
    gateway = start_gateway(g4f_env(fake, CIRCUIT_MIN_CALLS="3"))
    for model in ("model-a", "model-b", "model-c"):
        assert chat(gateway, f"g4f/{model}").status_code == 502
    assert provider_state(gateway, "g4f-main")["circuit"] == "open"
    last = chat(gateway, f"g4f/{GOOD}")  # the only option left: tried, not refused
    assert last.status_code == 200, last.text
    assert last.headers["X-Attempt-Trail"].startswith("g4f-main:-:skipped_circuit_open")
    assert provider_state(gateway, "g4f-main")["circuit"] == "closed"  # it answered


# -- 2. a backend's 401 / 429 is the model's, not the key's -------------------------------


@pytest.mark.parametrize("key", ["", "g4f-key-aaaaaaaaaaaa"], ids=["keyless", "keyed"])
@pytest.mark.parametrize("name", ["api_puter_chat.txt", "c_429_ns.txt"])
def test_a_backend_login_wall_or_rate_limit_does_not_disable_the_endpoint(
    start_gateway: StartGateway, fake: FakeUpstream, name: str, key: str
) -> None:
    fake.default = by_model({"walled": lambda: recorded(name)})
    gateway = start_gateway(g4f_env(fake, **({"G4F_API_KEY": key} if key else {})))
    failed = chat(gateway, "g4f/walled")
    assert failed.status_code == 502
    assert failed.json()["error"]["code"] == "upstream_backend_error"
    assert failed.json()["error"]["attempts"][0]["outcome"] == "backend_error"
    state = provider_state(gateway, "g4f-main")
    assert state["usable"] == 1 and state["disabled"] == 0 and state["cooling"] == 0
    assert chat(gateway, f"g4f/{GOOD}").status_code == 200


def test_g4f_refusing_its_own_api_key_is_still_an_auth_failure(
    start_gateway: StartGateway, fake: FakeUpstream
) -> None:
    fake.default = lambda hit: recorded("auth_wrong_chat.txt")
    gateway = start_gateway(g4f_env(fake, G4F_API_KEY="wrong-g4f-key"))
    response = chat(gateway, f"g4f/{GOOD}")
    assert response.status_code == 502
    assert response.json()["error"]["code"] == "upstream_credentials_exhausted"
    assert provider_state(gateway, "g4f-main")["disabled"] == 1


# -- 3. G4F's control fields never reach it from a client ----------------------------------


CONTROL = {
    "provider": "http://127.0.0.1:9/v1",
    "api_key": "sk-client-chosen-key",
    "api_base": "http://127.0.0.1:9/v1",
    "web_search": True,
    "conversation": {"id": "x"},
    "proxy": "http://127.0.0.1:9",
}


def test_g4f_control_fields_are_stripped(start_gateway: StartGateway, fake: FakeUpstream) -> None:
    gateway = start_gateway(g4f_env(fake))
    tools = [{"type": "function", "function": {"name": "f", "parameters": {}}}]
    assert chat(gateway, f"g4f/{GOOD}", **CONTROL, temperature=0, tools=tools).status_code == 200
    (hit,) = fake.hits_for(path="/chat/completions")
    assert hit.body is not None
    assert not set(CONTROL) & set(hit.body)
    assert hit.body["temperature"] == 0 and hit.body["tools"] == tools


def test_allowed_control_fields_pass_but_never_a_url(
    start_gateway: StartGateway, fake: FakeUpstream
) -> None:
    env = g4f_env(fake, G4F_ALLOWED_FIELDS="web_search,provider,api_base,proxy")
    gateway = start_gateway(env)
    assert chat(gateway, f"g4f/{GOOD}", **CONTROL).status_code == 200
    assert chat(gateway, f"g4f/{GOOD}", provider="PollinationsAI").status_code == 200
    first, second = (h.body or {} for h in fake.hits_for(path="/chat/completions"))
    assert first["web_search"] is True
    assert not {"provider", "api_base", "proxy", "api_key"} & set(first)
    assert second["provider"] == "PollinationsAI"


# -- 4. usage once --------------------------------------------------------------------------


def data_events(response: requests.Response) -> list[dict[str, object]]:
    lines = response.text.split("\n\n")
    return [json.loads(line[6:]) for line in lines if line.startswith("data: {")]


@pytest.mark.parametrize("include_usage", [True, False])
def test_usage_is_reported_once_in_openais_place(
    start_gateway: StartGateway, fake: FakeUpstream, include_usage: bool
) -> None:
    gateway = start_gateway(g4f_env(fake))
    options = {"stream_options": {"include_usage": True}} if include_usage else {}
    response = chat(gateway, f"g4f/{GOOD}", stream=True, **options)
    assert response.status_code == 200
    events = data_events(response)
    with_usage = [e for e in events if e.get("usage")]
    if include_usage:
        assert len(with_usage) == 1 and with_usage[0]["choices"] == []
        assert with_usage[0] is events[-1]
    else:
        assert with_usage == []
    assert b"data: [DONE]" in response.content


# -- 5. the model that served is visible ---------------------------------------------------


def test_a_swapped_model_is_visible_and_the_body_keeps_the_asked_name(
    start_gateway: StartGateway, fake: FakeUpstream
) -> None:
    fake.default = by_model(
        {"gemini-2.0-flash": lambda: recorded("chat_gemini-2.0-flash_sfalse.txt")}
    )
    gateway = start_gateway(g4f_env(fake))
    response = chat(gateway, "g4f/gemini-2.0-flash")
    assert response.status_code == 200
    assert response.json()["model"] == "g4f/gemini-2.0-flash"
    assert response.headers["X-Served-Model"] == "ash"
    streamed = chat(gateway, f"g4f/{GOOD}", stream=True)
    assert streamed.headers["X-Served-Model"] == "fake-model"  # what the recording says

    def logged() -> list[object]:
        lines = [json.loads(line) for line in gateway.logs().splitlines() if line.startswith("{")]
        return [line.get("served_model") for line in lines if line.get("msg") == "request"]

    # A request's line is written when its response closes: wait for both, with a deadline.
    wait_until(lambda: len(logged()) >= 2, message="both request lines")
    assert "ash" in logged()


def test_strict_model_fails_over_from_a_swapped_answer(
    start_gateway: StartGateway, fake: FakeUpstream
) -> None:
    honest = FakeUpstream()
    try:
        fake.default = lambda hit: recorded("chat_gemini-2.0-flash_sfalse.txt")
        honest.default = lambda hit: Reply(body=completion("gemini-2.0-flash-001"))
        # g4f/gemini-* goes to the Gemini endpoint first, then to main.
        env = g4f_env(honest, G4F_GEMINI_API_BASE=fake.base_url, G4F_STRICT_MODEL="true")
        gateway = start_gateway(env)
        response = chat(gateway, "g4f/gemini-2.0-flash")
        assert response.status_code == 200
        assert response.headers["X-Provider"] == "g4f-main"
        assert response.headers["X-Served-Model"] == "gemini-2.0-flash-001"
        assert "g4f-gemini:-:model_swapped" in response.headers["X-Attempt-Trail"]
    finally:
        honest.close()


def test_without_strict_model_a_swapped_answer_is_served(
    start_gateway: StartGateway, fake: FakeUpstream
) -> None:
    fake.default = lambda hit: recorded("chat_gemini-2.0-flash_sfalse.txt")
    gateway = start_gateway(g4f_env(fake))
    assert chat(gateway, "g4f/gemini-2.0-flash").headers["X-Served-Model"] == "ash"


# -- 6. FastAPI's 422 keeps its meaning -----------------------------------------------------


def test_a_g4f_422_names_the_parameter(start_gateway: StartGateway, fake: FakeUpstream) -> None:
    fake.default = lambda hit: recorded("tool_choice_obj.txt")
    gateway = start_gateway(g4f_env(fake))
    choice = {"type": "function", "function": {"name": "f"}}
    response = chat(gateway, f"g4f/{GOOD}", tool_choice=choice)
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["param"] == "tool_choice"
    assert error["message"] == "Input should be a valid string (tool_choice)"


def test_a_g4f_422_as_a_fallback_is_a_provider_failure(
    start_gateway: StartGateway, fake: FakeUpstream
) -> None:
    premium = FakeUpstream()
    try:
        premium.default = lambda hit: Reply(status=500)
        fake.default = lambda hit: recorded("tool_choice_obj.txt")
        env = g4f_env(
            fake,
            PREMIUM_API_BASE=premium.base_url,
            PREMIUM_API_KEY="sk-premium-aaaaaaaaaaaaaaaa",
            PREMIUM_MODELS=GOOD,
            PROVIDER_PRIORITY_PREMIUM="1",
        )
        gateway = start_gateway(env)
        response = chat(gateway, GOOD, tool_choice={"type": "function", "function": {"name": "f"}})
        assert response.status_code == 502  # the client's request was fine for tier 1
        outcomes = [a["outcome"] for a in response.json()["error"]["attempts"]]
        assert outcomes == ["server_error", "client_error"]
    finally:
        premium.close()


# -- 7. hangs cost seconds, and SDKs are told not to repeat a walked chain -----------------


def test_a_hanging_g4f_model_costs_its_first_byte_timeout(
    start_gateway: StartGateway, fake: FakeUpstream
) -> None:
    fake.default = by_model({"grok-3": lambda: Reply(delay=8, raw=b"{}")})
    gateway = start_gateway(g4f_env(fake, G4F_TIMEOUT_FIRST_BYTE="1"))
    started = time.monotonic()
    response = chat(gateway, "g4f/grok-3")
    assert time.monotonic() - started < 1 + 3
    assert response.status_code == 504
    assert response.headers["x-should-retry"] == "false"


def test_should_retry_is_left_to_the_sdk_when_a_retry_after_says_when(
    start_gateway: StartGateway, fake: FakeUpstream
) -> None:
    premium = FakeUpstream()
    try:
        premium.default = lambda hit: Reply(status=429, headers={"Retry-After": "20"})
        env = {
            "PROXY_API_KEY": CLIENT_KEY,
            "PREMIUM_API_BASE": premium.base_url,
            "PREMIUM_API_KEY": "sk-premium-aaaaaaaaaaaaaaaa",
            "PREMIUM_MODELS": GOOD,
        }
        gateway = start_gateway(env)
        response = chat(gateway, GOOD)
        assert response.status_code == 429 and response.headers["Retry-After"]
        assert "x-should-retry" not in response.headers
    finally:
        premium.close()


# -- 8. a burst of in-flight failures opens the circuit once --------------------------------


def test_concurrent_failures_open_the_circuit_once(
    start_gateway: StartGateway, fake: FakeUpstream
) -> None:
    gate = threading.Barrier(6, timeout=15)

    def together(hit: Hit) -> Reply:
        gate.wait()  # all six are in flight before any fails
        return recorded("chat_gpt-4o-mini_strue.txt")

    fake.default = together
    env = {
        "PROXY_API_KEY": CLIENT_KEY,
        "PREMIUM_API_BASE": fake.base_url,
        "PREMIUM_API_KEY": "sk-premium-aaaaaaaaaaaaaaaa",
        "PREMIUM_MODELS": GOOD,
        "THREADS": "8",
        "CIRCUIT_MIN_CALLS": "3",
    }
    gateway = start_gateway(env)
    threads = [threading.Thread(target=chat, args=(gateway, GOOD)) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    state = provider_state(gateway, "premium")
    assert state["circuit"] == "open"
    assert 0 < float(state["circuit_retry_in"]) <= 30  # type: ignore[arg-type]


# -- 9. the verdict names the dominant cause -------------------------------------------------


def test_mixed_failures_are_named_by_their_dominant_cause(
    start_gateway: StartGateway, fake: FakeUpstream
) -> None:
    slow, limited = FakeUpstream(), FakeUpstream()
    try:
        slow.default = lambda hit: Reply(delay=3, raw=b"{}")
        limited.default = lambda hit: recorded("c_429_ns.txt")
        env = {
            "PROXY_API_KEY": CLIENT_KEY,
            "SLOW_API_BASE": slow.base_url,
            "SLOW_API_KEY_1": "sk-slow-one-aaaaaaaaaaaaaa",
            "SLOW_API_KEY_2": "sk-slow-two-bbbbbbbbbbbbbb",
            "SLOW_MODELS": GOOD,
            "PROVIDER_PRIORITY_SLOW": "1",
            "LIMITED_API_BASE": limited.base_url,
            "LIMITED_API_KEY": "sk-limited-ccccccccccccccc",
            "LIMITED_MODELS": GOOD,
            "PROVIDER_PRIORITY_LIMITED": "2",
            "TIMEOUT_READ": "1",
            "ADAPTIVE_TIMEOUT": "false",
        }
        gateway = start_gateway(env)
        response = chat(gateway, GOOD)
        error = response.json()["error"]
        assert response.status_code == 502
        assert error["code"] == "upstream_timeout"  # not the last attempt's rate limit
        assert "1 timed out" in error["message"] and "1 rate limited" in error["message"]
        assert [a["outcome"] for a in error["attempts"]] == ["timeout", "rate_limited"]
    finally:
        slow.close()
        limited.close()
