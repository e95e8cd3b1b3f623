"""Failover correctness over real sockets: every row of the outcome table, streamed and not.

The ladder: "premium" (tier 1, two keys), "backup" (tier 2, one key) and a G4F
main endpoint (tier 5), each a fake upstream on loopback that counts its hits.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
import requests

from bench.gunicorn import Gunicorn
from tests.fakes.upstream import FakeUpstream, Reply, chunk, stream_events

from .helpers import AUTH, CLIENT_KEY, StartGateway

pytestmark = pytest.mark.integration

P1, P2 = "sk-premium-key-one-aaaaaaaaaaaa", "sk-premium-key-two-bbbbbbbbbbbb"
B1 = "sk-backup-key-cccccccccccccccc"
MODEL = "shared-model"
MESSAGES = [{"role": "user", "content": "Hi"}]


@dataclass
class Ladder:
    premium: FakeUpstream
    backup: FakeUpstream
    g4f: FakeUpstream

    def env(self, **extra: str) -> dict[str, str]:
        return {
            "PROXY_API_KEY": CLIENT_KEY,
            "PREMIUM_API_BASE": self.premium.base_url,
            "PREMIUM_API_KEY_1": P1,
            "PREMIUM_API_KEY_2": P2,
            "PREMIUM_MODELS": f"{MODEL},premium-only",
            "PROVIDER_PRIORITY_PREMIUM": "1",
            "BACKUP_API_BASE": self.backup.base_url,
            "BACKUP_API_KEY": B1,
            "BACKUP_MODELS": f"{MODEL},vendor/gpt-x",
            "PROVIDER_PRIORITY_BACKUP": "2",
            "G4F_MAIN_API_BASE": self.g4f.base_url,
            **extra,
        }

    def chat_hits(self) -> tuple[int, int, int]:
        return tuple(
            len(f.hits_for(path="/chat/completions")) for f in (self.premium, self.backup, self.g4f)
        )  # type: ignore[return-value]


@pytest.fixture
def ladder() -> Iterator[Ladder]:
    fakes = Ladder(FakeUpstream(), FakeUpstream(), FakeUpstream())
    yield fakes
    for fake in (fakes.premium, fakes.backup, fakes.g4f):
        fake.close()


def ask(
    gateway: Gunicorn, *, stream: bool, model: str = f"premium/{MODEL}", **headers: str
) -> requests.Response:
    body = {"model": model, "messages": MESSAGES, "stream": stream}
    return gateway.request("POST", "/v1/chat/completions", json=body, headers={**AUTH, **headers})


def text_of(response: requests.Response) -> str:
    """The answer's text, whole or streamed."""
    if "event-stream" not in response.headers.get("Content-Type", ""):
        return response.json()["choices"][0]["message"]["content"]
    parts = []
    for line in response.text.split("\n\n"):
        if line.startswith("data: {"):
            data = json.loads(line[6:])
            for choice in data.get("choices", []):
                parts.append(choice["delta"].get("content") or "")
    return "".join(parts)


def answers(name: str) -> object:
    """A default reply that says which fake answered."""

    def reply(hit: object) -> Reply:
        body = getattr(hit, "body", None) or {}
        if body.get("stream"):
            return Reply(events=stream_events("m", [f"from {name}"]))
        return Reply(
            body={
                "id": "x",
                "object": "chat.completion",
                "created": 1,
                "model": "m",
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": f"from {name}"},
                        "finish_reason": "stop",
                    }
                ],
            }
        )

    return reply


@pytest.fixture
def gateway(ladder: Ladder, start_gateway: StartGateway) -> Gunicorn:
    ladder.premium.default = answers("premium")  # type: ignore[assignment]
    ladder.backup.default = answers("backup")  # type: ignore[assignment]
    ladder.g4f.default = answers("g4f")  # type: ignore[assignment]
    return start_gateway(ladder.env(TIMEOUT_READ="2"))


STREAMING = pytest.mark.parametrize("stream", [False, True], ids=["whole", "stream"])


@STREAMING
def test_success_is_served_by_the_first_tier(
    gateway: Gunicorn, ladder: Ladder, stream: bool
) -> None:
    response = ask(gateway, stream=stream)
    assert response.status_code == 200
    assert text_of(response) == "from premium"
    assert (response.headers["X-Provider"], response.headers["X-Provider-Tier"]) == ("premium", "1")
    assert response.headers["X-Attempts"] == "1"
    assert ladder.chat_hits() == (1, 0, 0)


@STREAMING
def test_rate_limits_move_to_the_next_tier_and_the_cooldown_holds(
    gateway: Gunicorn, ladder: Ladder, stream: bool
) -> None:
    ladder.premium.script(P1, Reply(status=429, headers={"Retry-After": "30"}))
    ladder.premium.script(P2, Reply(status=429, headers={"Retry-After": "30"}))
    first = ask(gateway, stream=stream)
    assert text_of(first) == "from backup"
    assert first.headers["X-Provider-Tier"] == "2"
    assert first.headers["X-Attempts"] == "3"
    assert first.headers["X-Attempt-Trail"].startswith("premium:429:rate_limited:")
    # For the next 30 seconds neither premium key receives a single request.
    for _ in range(5):
        assert text_of(ask(gateway, stream=stream)) == "from backup"
    assert ladder.chat_hits() == (2, 6, 0)


@pytest.mark.parametrize(
    ("reply", "state"),
    [
        (Reply(status=402), "exhausted"),
        (
            Reply(
                status=429,
                body={
                    "error": {
                        "message": "quota",
                        "type": "insufficient_quota",
                        "code": "insufficient_quota",
                    }
                },
            ),
            "exhausted",
        ),
        (Reply(status=401), "disabled"),
        (Reply(status=403), "disabled"),
    ],
    ids=["402", "insufficient_quota", "401", "403"],
)
@STREAMING
def test_key_failures_set_keys_aside_and_move_on(
    gateway: Gunicorn, ladder: Ladder, reply: Reply, state: str, stream: bool
) -> None:
    ladder.premium.default = lambda hit: reply
    assert text_of(ask(gateway, stream=stream)) == "from backup"
    premium = next(
        p
        for p in gateway.request("GET", "/v1/providers", headers=AUTH).json()["data"]
        if p["provider"] == "premium"
    )
    assert premium[state] == 2
    assert {k["status"] for k in premium["key_states"]} == {state}
    assert P1 not in json.dumps(premium)
    assert text_of(ask(gateway, stream=stream)) == "from backup"
    assert ladder.chat_hits() == (2, 2, 0)


@STREAMING
def test_model_missing_at_a_provider_moves_on_and_is_remembered(
    gateway: Gunicorn, ladder: Ladder, stream: bool
) -> None:
    ladder.premium.default = lambda hit: Reply(status=404)
    assert text_of(ask(gateway, stream=stream)) == "from backup"
    assert text_of(ask(gateway, stream=stream)) == "from backup"
    assert ladder.chat_hits() == (1, 2, 0)  # one 404 is enough: the same key is not tried again


PROVIDER_FAILURES = [
    Reply(status=408),
    Reply(status=500),
    Reply(status=503),
    Reply(raw=b"<html>bad gateway</html>"),
    Reply(raw=b""),
    Reply(body={"error": {"message": "G4F-style error inside a 200"}, "provider": "x"}),
    Reply(delay=4),  # longer than TIMEOUT_READ
]
FAILURE_IDS = ["408", "500", "503", "malformed", "empty", "in-band-json", "timeout"]


@pytest.mark.parametrize("reply", PROVIDER_FAILURES, ids=FAILURE_IDS)
@STREAMING
def test_provider_failures_move_to_the_next_provider(
    gateway: Gunicorn, ladder: Ladder, reply: Reply, stream: bool
) -> None:
    ladder.premium.default = lambda hit: reply
    response = ask(gateway, stream=stream)
    assert text_of(response) == "from backup"
    assert response.headers["X-Attempts"] == "2"  # not every premium key: the provider failed
    assert ladder.chat_hits() == (1, 1, 0)


def test_connection_refused_moves_on(ladder: Ladder, start_gateway: StartGateway) -> None:
    ladder.backup.default = answers("backup")  # type: ignore[assignment]
    env = ladder.env(PREMIUM_API_BASE="http://127.0.0.1:9/v1")  # nothing listens on port 9
    response = ask(start_gateway(env), stream=True)
    assert text_of(response) == "from backup"
    assert "premium:-:connection" in response.headers["X-Attempt-Trail"]


@STREAMING
def test_circuit_opens_on_a_failure_rate(
    ladder: Ladder, start_gateway: StartGateway, stream: bool
) -> None:
    ladder.backup.default = answers("backup")  # type: ignore[assignment]
    gateway = start_gateway(ladder.env(TIMEOUT_READ="2", CIRCUIT_MIN_CALLS="3"))
    ladder.premium.default = lambda hit: Reply(status=500)
    for _ in range(3):
        assert text_of(ask(gateway, stream=stream)) == "from backup"
    assert ladder.chat_hits() == (3, 3, 0)
    providers = gateway.request("GET", "/v1/providers", headers=AUTH).json()["data"]
    premium = next(p for p in providers if p["provider"] == "premium")
    assert premium["circuit"] == "open" and 25 < premium["circuit_retry_in"] <= 30
    for _ in range(3):
        assert text_of(ask(gateway, stream=stream)) == "from backup"
    assert ladder.chat_hits() == (3, 6, 0)  # the open circuit sends nothing to premium


@pytest.mark.parametrize("status", [400, 413, 422])
@STREAMING
def test_caller_errors_from_the_first_candidate_are_returned(
    gateway: Gunicorn, ladder: Ladder, status: int, stream: bool
) -> None:
    ladder.premium.default = lambda hit: Reply(
        status=status,
        body={
            "error": {
                "message": "your fault",
                "type": "invalid_request_error",
                "param": "messages",
                "code": None,
            }
        },
    )
    response = ask(gateway, stream=stream)
    assert response.status_code == status
    assert response.json()["error"]["message"] == "your fault"
    assert ladder.chat_hits() == (1, 0, 0)


@pytest.mark.parametrize("status", [400, 422])
@STREAMING
def test_caller_errors_from_a_fallback_move_on(
    gateway: Gunicorn, ladder: Ladder, status: int, stream: bool
) -> None:
    ladder.premium.default = lambda hit: Reply(status=500)
    ladder.backup.default = lambda hit: Reply(status=status)
    response = ask(gateway, stream=stream)
    assert text_of(response) == "from g4f"
    assert response.headers["X-Provider-Tier"] == "5"
    assert ladder.chat_hits() == (1, 1, 1)


def test_every_candidate_rate_limited_is_429_with_the_soonest_retry(
    gateway: Gunicorn, ladder: Ladder
) -> None:
    for fake, key, seconds in (
        (ladder.premium, P1, "50"),
        (ladder.premium, P2, "40"),
        (ladder.backup, B1, "20"),
        (ladder.g4f, None, "35"),
    ):
        fake.script(key, Reply(status=429, headers={"Retry-After": seconds}))
    response = ask(gateway, stream=False)
    assert response.status_code == 429
    assert response.headers["Retry-After"] in {"19", "20"}
    attempts = response.json()["error"]["attempts"]
    assert [(a["provider"], a["tier"], a["outcome"]) for a in attempts] == [
        ("premium", 1, "rate_limited"),
        ("premium", 1, "rate_limited"),
        ("backup", 2, "rate_limited"),
        ("g4f-main", 5, "rate_limited"),
    ]
    assert all(isinstance(a["ms"], int) for a in attempts)
    assert P1 not in response.text and B1 not in response.text


@pytest.fixture
def keyed(ladder: Ladder, start_gateway: StartGateway) -> Gunicorn:
    """The ladder with a G4F_API_KEY: a keyless G4F endpoint's 401 is a backend's, not a key's."""
    return start_gateway(ladder.env(TIMEOUT_READ="2", G4F_API_KEY="g4f-key-ffffffffffff"))


def test_every_key_rejected_is_502_credentials_exhausted(keyed: Gunicorn, ladder: Ladder) -> None:
    for fake in (ladder.premium, ladder.backup, ladder.g4f):
        fake.default = lambda hit: Reply(status=401)
    response = ask(keyed, stream=True)
    assert response.status_code == 502
    assert response.json()["error"]["code"] == "upstream_credentials_exhausted"


def test_nothing_usable_is_503_with_retry_after(keyed: Gunicorn, ladder: Ladder) -> None:
    for fake in (ladder.premium, ladder.backup, ladder.g4f):
        fake.default = lambda hit: Reply(status=401)
    ask(keyed, stream=False)
    hits = ladder.chat_hits()
    response = ask(keyed, stream=False)
    assert response.status_code == 503
    assert int(response.headers["Retry-After"]) > 0
    assert ladder.chat_hits() == hits


def test_other_failures_are_502_with_the_trail(gateway: Gunicorn, ladder: Ladder) -> None:
    for fake in (ladder.premium, ladder.backup, ladder.g4f):
        fake.default = lambda hit: Reply(status=500)
    response = ask(gateway, stream=False)
    assert response.status_code == 502
    assert [a["provider"] for a in response.json()["error"]["attempts"]] == [
        "premium",
        "backup",
        "g4f-main",
    ]


def test_the_deadline_bounds_the_whole_chain(ladder: Ladder, start_gateway: StartGateway) -> None:
    ladder.premium.default = lambda hit: Reply(delay=5)
    gateway = start_gateway(ladder.env(TIMEOUT_READ="30", REQUEST_DEADLINE="1"))
    response = ask(gateway, stream=True)
    assert response.status_code == 504
    assert response.json()["error"]["code"] == "deadline_exceeded"
    assert ladder.chat_hits() == (1, 0, 0)


@STREAMING
def test_x_fallback_off(gateway: Gunicorn, ladder: Ladder, stream: bool) -> None:
    ladder.premium.default = lambda hit: Reply(status=500)
    response = ask(gateway, stream=stream, **{"X-Fallback": "off"})
    assert response.status_code == 502
    assert ladder.chat_hits() == (1, 0, 0)


def test_fallback_disabled_globally(ladder: Ladder, start_gateway: StartGateway) -> None:
    ladder.premium.default = lambda hit: Reply(status=500)
    response = ask(start_gateway(ladder.env(FALLBACK_ENABLED="false")), stream=False)
    assert response.status_code == 502
    assert ladder.chat_hits() == (1, 0, 0)


@STREAMING
def test_x_max_tier_keeps_requests_off_lower_tiers(
    gateway: Gunicorn, ladder: Ladder, stream: bool
) -> None:
    ladder.premium.default = lambda hit: Reply(status=500)
    ladder.backup.default = lambda hit: Reply(status=500)
    response = ask(gateway, stream=stream, **{"X-Max-Tier": "2"})
    assert response.status_code == 502
    assert ladder.chat_hits() == (1, 1, 0)  # the free tier never saw the request


def test_bad_routing_headers_are_400(gateway: Gunicorn) -> None:
    assert ask(gateway, stream=False, **{"X-Max-Tier": "zero"}).status_code == 400
    assert ask(gateway, stream=False, **{"X-Fallback": "maybe"}).status_code == 400


def test_provider_priority_reorders_the_ladder(ladder: Ladder, start_gateway: StartGateway) -> None:
    ladder.premium.default = answers("premium")  # type: ignore[assignment]
    ladder.backup.default = answers("backup")  # type: ignore[assignment]
    gateway = start_gateway(ladder.env(PROVIDER_PRIORITY_PREMIUM="3", PROVIDER_PRIORITY_BACKUP="1"))
    response = ask(gateway, stream=False, model=MODEL)  # a bare model: every provider, by tier
    assert text_of(response) == "from backup"
    assert response.headers["X-Provider-Tier"] == "1"
    tiers = {
        p["provider"]: p["tier"]
        for p in gateway.request("GET", "/v1/providers", headers=AUTH).json()["data"]
    }
    assert tiers == {"backup": 1, "premium": 3, "g4f-main": 5}


@pytest.mark.parametrize("value", ["0", "-1", "high", "1.5"])
def test_invalid_priority_stops_startup(
    ladder: Ladder, start_gateway: StartGateway, value: str
) -> None:
    with pytest.raises(RuntimeError) as info:
        start_gateway(ladder.env(PROVIDER_PRIORITY_BACKUP=value))
    assert "gunicorn exited with" in str(info.value)
    assert f"PROVIDER_PRIORITY_BACKUP={value!r}" in str(info.value)


def test_same_model_matches_by_last_path_segment(gateway: Gunicorn, ladder: Ladder) -> None:
    ladder.premium.default = lambda hit: Reply(status=500)
    response = ask(gateway, stream=False, model="premium/gpt-x")
    # premium does not list gpt-x; backup lists vendor/gpt-x and gets it under its own id.
    assert text_of(response) == "from backup"
    assert ladder.backup.hits_for(path="/chat/completions")[0].body["model"] == "vendor/gpt-x"  # type: ignore[index]


def test_model_groups_are_exact_chains_and_listed(
    ladder: Ladder, start_gateway: StartGateway
) -> None:
    ladder.backup.default = lambda hit: Reply(status=500)
    ladder.g4f.default = answers("g4f")  # type: ignore[assignment]
    gateway = start_gateway(ladder.env(MODEL_GROUP_FAST="backup/vendor/gpt-x,g4f/llama-3.3-70b"))
    response = ask(gateway, stream=False, model="fast")
    assert text_of(response) == "from g4f"
    assert ladder.chat_hits() == (0, 1, 1)
    assert ladder.backup.hits[0].body["model"] == "vendor/gpt-x"  # type: ignore[index]
    assert ladder.g4f.hits_for(path="/chat/completions")[0].body["model"] == "llama-3.3-70b"  # type: ignore[index]
    assert response.json()["model"] == "fast"
    ids = [m["id"] for m in gateway.request("GET", "/v1/models", headers=AUTH).json()["data"]]
    assert "fast" in ids


def test_within_a_tier_load_is_spread(ladder: Ladder, start_gateway: StartGateway) -> None:
    ladder.premium.default = answers("premium")  # type: ignore[assignment]
    ladder.backup.default = answers("backup")  # type: ignore[assignment]
    gateway = start_gateway(ladder.env(PROVIDER_PRIORITY_BACKUP="1"))
    served = [ask(gateway, stream=False, model=MODEL).headers["X-Provider"] for _ in range(4)]
    assert sorted(served) == ["backup", "backup", "premium", "premium"]


# -- the commit point -------------------------------------------------------------------


def test_error_before_first_content_fails_over_without_duplicates(
    gateway: Gunicorn, ladder: Ladder
) -> None:
    ladder.premium.default = lambda hit: Reply(
        events=[
            chunk("m", {"role": "assistant", "content": ""}),
            {"error": {"message": "overloaded"}},
        ],
        done=False,
    )
    response = ask(gateway, stream=True)
    assert response.status_code == 200
    assert text_of(response) == "from backup"
    assert (
        response.text.count('"role":"assistant"') == 1
    )  # premium's role chunk never reached the client
    assert response.text.endswith("data: [DONE]\n\n")


@pytest.mark.parametrize(
    "reply",
    [
        Reply(
            events=[*stream_events("m", ["partial"])[:2], {"error": {"message": "died"}}],
            done=False,
        ),
        Reply(events=stream_events("m", ["partial", " more"]), drop_after=2),
        Reply(events=stream_events("m", ["partial", " more"]), stall_after=2),
    ],
    ids=["in-band-error", "connection-drop", "stall"],
)
def test_error_after_first_content_ends_with_an_error_event(
    gateway: Gunicorn, ladder: Ladder, reply: Reply
) -> None:
    ladder.premium.default = lambda hit: reply
    response = ask(gateway, stream=True)
    reply.advance()
    assert response.status_code == 200
    events = [e for e in response.text.split("\n\n") if e]
    assert events[-1].startswith('data: {"error"')
    assert "[DONE]" not in response.text
    assert text_of(response) == "partial"
    assert ladder.chat_hits() == (1, 0, 0)  # no switch after the commit point


# -- G4F ------------------------------------------------------------------------------


@dataclass
class G4FEndpoints:
    fakes: dict[str, FakeUpstream]

    def env(self) -> dict[str, str]:
        env = {"PROXY_API_KEY": CLIENT_KEY, "G4F_API_KEY": "g4f-shared-key-123456"}
        for part, fake in self.fakes.items():
            env[f"G4F_{part.upper()}_API_BASE"] = fake.base_url
        return env

    def served_by(self) -> list[str]:
        return [p for p, f in self.fakes.items() if f.hits_for(path="/chat/completions")]


@pytest.fixture
def g4f() -> Iterator[G4FEndpoints]:
    endpoints = G4FEndpoints(
        {p: FakeUpstream() for p in ("main", "groq", "grok", "gemini", "nvidia")}
    )
    yield endpoints
    for fake in endpoints.fakes.values():
        fake.close()


@pytest.mark.parametrize(
    ("model", "endpoint"),
    [
        ("llama-3.3-70b", "groq"),
        ("mixtral-8x7b", "groq"),
        ("gemma2-9b-it", "groq"),
        ("openai/gpt-oss-120b", "groq"),
        ("moonshotai/Kimi-K2-Instruct", "groq"),
        ("grok-4-fast-non-reasoning", "grok"),
        ("gemini-2.5-flash", "gemini"),
        ("nvidia/llama-3.1-nemotron-70b-instruct", "nvidia"),
        ("meta/llama-3.3-70b-instruct", "nvidia"),
        ("deepseek-ai/deepseek-v3.2", "nvidia"),
        ("mistralai/mistral-large", "nvidia"),
        ("gpt-4o-mini", "main"),
    ],
)
def test_g4f_routes_by_model_name(
    g4f: G4FEndpoints, start_gateway: StartGateway, model: str, endpoint: str
) -> None:
    gateway = start_gateway(g4f.env())
    response = ask(gateway, stream=False, model=f"g4f/{model}")
    assert response.status_code == 200
    assert g4f.served_by() == [endpoint]
    assert response.headers["X-Provider"] == f"g4f-{endpoint}"
    hit = g4f.fakes[endpoint].hits[0]
    assert hit.key == "g4f-shared-key-123456" and hit.body["model"] == model  # type: ignore[index]


def test_g4f_specific_endpoint_failing_falls_back_to_main(
    g4f: G4FEndpoints, start_gateway: StartGateway
) -> None:
    g4f.fakes["groq"].default = lambda hit: Reply(status=500)
    response = ask(start_gateway(g4f.env()), stream=True, model="g4f/llama-3.3-70b")
    assert response.status_code == 200
    assert response.headers["X-Provider"] == "g4f-main"
    assert g4f.served_by() == ["main", "groq"]


def test_g4f_forwards_the_whole_body_and_keeps_tool_calls(
    g4f: G4FEndpoints, start_gateway: StartGateway
) -> None:
    tool_call = {
        "id": "call_1",
        "type": "function",
        "function": {"name": "weather", "arguments": '{"city":"Oslo"}'},
    }
    g4f.fakes["main"].default = lambda hit: Reply(
        body={
            "id": "x",
            "object": "chat.completion",
            "created": 1,
            "model": "m",
            "provider": "SomeProvider",
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": None, "tool_calls": [tool_call]},
                    "finish_reason": "tool_calls",
                }
            ],
        }
    )
    gateway = start_gateway(g4f.env())
    body = {
        "model": "g4f/gpt-4o-mini",
        "messages": MESSAGES,
        "tools": [
            {"type": "function", "function": {"name": "weather", "parameters": {"type": "object"}}}
        ],
        "tool_choice": "auto",
        "response_format": {"type": "json_object"},
        "temperature": 0.2,
    }
    response = gateway.request("POST", "/v1/chat/completions", json=body, headers=AUTH)
    assert response.json()["choices"][0]["message"]["tool_calls"] == [tool_call]
    assert g4f.fakes["main"].hits[0].body == {**body, "model": "gpt-4o-mini"}


def test_g4f_without_key_sends_no_authorization(
    g4f: G4FEndpoints, start_gateway: StartGateway
) -> None:
    env = g4f.env()
    del env["G4F_API_KEY"]
    ask(start_gateway(env), stream=False, model="g4f/gpt-4o-mini")
    assert g4f.fakes["main"].hits[0].key is None


def test_g4f_usage_on_last_chunk_becomes_the_usage_chunk(
    g4f: G4FEndpoints, start_gateway: StartGateway
) -> None:
    usage = {"prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 4}
    g4f.fakes["main"].default = lambda hit: Reply(
        events=[
            chunk("m", {"role": "assistant", "content": "Hi"}, provider="P"),
            chunk("m", {"role": "assistant", "content": ""}, "stop", usage=usage, provider="P"),
        ]
    )
    body = {
        "model": "g4f/gpt-4o-mini",
        "messages": MESSAGES,
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    response = start_gateway(g4f.env()).request(
        "POST", "/v1/chat/completions", json=body, headers=AUTH
    )
    events = [json.loads(e[6:]) for e in response.text.split("\n\n") if e.startswith("data: {")]
    assert events[-1]["choices"] == [] and events[-1]["usage"] == usage


def test_g4f_is_the_last_tier_for_other_providers_models(
    ladder: Ladder, start_gateway: StartGateway
) -> None:
    ladder.premium.default = lambda hit: Reply(status=503)
    ladder.backup.default = lambda hit: Reply(status=503)
    ladder.g4f.default = answers("g4f")  # type: ignore[assignment]
    response = ask(start_gateway(ladder.env()), stream=True)
    assert text_of(response) == "from g4f"
    assert ladder.g4f.hits_for(path="/chat/completions")[0].body["model"] == MODEL  # type: ignore[index]


def test_g4f_never_serves_embeddings(ladder: Ladder, start_gateway: StartGateway) -> None:
    gateway = start_gateway({"PROXY_API_KEY": CLIENT_KEY, "G4F_MAIN_API_BASE": ladder.g4f.base_url})
    response = gateway.request(
        "POST",
        "/v1/embeddings",
        json={"model": "g4f/text-embedding-3-small", "input": "x"},
        headers=AUTH,
    )
    assert response.status_code == 400
    assert ladder.g4f.hits == []
