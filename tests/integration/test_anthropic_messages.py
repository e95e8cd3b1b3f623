"""``/v1/messages`` with the real ``anthropic`` SDK as the client, over real sockets."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import anthropic
import pytest
import requests

from bench.gunicorn import Gunicorn
from tests.fakes.upstream import FakeUpstream, Reply, chunk, completion

from .helpers import AUTH, CLIENT_KEY, KEY_A, StartGateway, fake_env

pytestmark = pytest.mark.integration

MODEL = "fake/fake-model"
HI = [{"role": "user", "content": "Hi"}]
_clients: list[anthropic.Anthropic] = []


@pytest.fixture(autouse=True)
def _close_clients(start_gateway: StartGateway) -> Iterator[None]:
    yield
    while _clients:
        _clients.pop().close()


def sdk(gateway: Gunicorn, key: str = CLIENT_KEY) -> anthropic.Anthropic:
    client = anthropic.Anthropic(base_url=gateway.url, api_key=key, max_retries=0)
    _clients.append(client)
    return client


def events_of(response: requests.Response) -> list[tuple[str, dict[str, Any]]]:
    """(event, data) pairs of an SSE body."""
    found = []
    for block in response.text.strip().split("\n\n"):
        lines = dict(line.split(": ", 1) for line in block.split("\n"))
        found.append((lines["event"], json.loads(lines["data"])))
    return found


def tool_call_reply(*, stream: bool) -> Reply:
    call = {"id": "call_1", "type": "function", "function": {"name": "get_weather"}}
    if not stream:
        body = completion("fake-model", "")
        body["choices"][0]["message"] = {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {**call, "function": {**call["function"], "arguments": '{"city":"Oslo"}'}}
            ],
        }
        body["choices"][0]["finish_reason"] = "tool_calls"
        return Reply(body=body)
    first = {"index": 0, **call, "function": {**call["function"], "arguments": '{"ci'}}
    rest = {"index": 0, "function": {"arguments": 'ty":"Oslo"}'}}
    return Reply(
        events=[
            chunk("fake-model", {"tool_calls": [first]}),
            chunk("fake-model", {"tool_calls": [rest]}),
            chunk("fake-model", {}, "tool_calls"),
        ]
    )


TOOLS = [
    {
        "name": "get_weather",
        "description": "Weather in a city",
        "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}},
    }
]


def test_a_whole_message(gateway: Gunicorn, fake: FakeUpstream) -> None:
    message = sdk(gateway).messages.create(
        model=MODEL, max_tokens=64, system="Be brief.", messages=HI, stop_sequences=["END"]
    )
    assert message.content[0].type == "text"
    assert message.content[0].text == "Hello from the fake upstream."
    assert (message.stop_reason, message.model, message.role) == ("end_turn", MODEL, "assistant")
    assert message.usage.input_tokens == 5 and message.usage.output_tokens == 7
    sent = fake.hits_for(path="/chat/completions")[-1].body
    assert sent is not None
    assert sent["messages"] == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Hi"},
    ]
    assert (sent["max_tokens"], sent["stop"], sent["model"]) == (64, ["END"], "fake-model")


def test_a_streamed_message(gateway: Gunicorn) -> None:
    with sdk(gateway).messages.stream(model=MODEL, max_tokens=64, messages=HI) as stream:
        text = "".join(stream.text_stream)
        final = stream.get_final_message()
    assert text == "Hello from the fake."
    assert final.stop_reason == "end_turn" and final.content[0].text == text
    assert final.usage.output_tokens > 0


def test_tool_use_both_ways_whole(gateway: Gunicorn, fake: FakeUpstream) -> None:
    fake.script(None, tool_call_reply(stream=False))
    fake.default = lambda hit: tool_call_reply(stream=False)
    history = [
        {"role": "user", "content": "Weather in Paris?"},
        {
            "role": "assistant",
            "content": [
                {"type": "text", "text": "Checking."},
                {
                    "type": "tool_use",
                    "id": "toolu_01",
                    "name": "get_weather",
                    "input": {"city": "Paris"},
                },
            ],
        },
        {
            "role": "user",
            "content": [
                {"type": "tool_result", "tool_use_id": "toolu_01", "content": "18C"},
                {"type": "text", "text": "And Oslo?"},
            ],
        },
    ]
    message = sdk(gateway).messages.create(
        model=MODEL, max_tokens=64, messages=history, tools=TOOLS, tool_choice={"type": "any"}
    )
    block = message.content[0]
    assert block.type == "tool_use" and block.name == "get_weather"
    assert block.input == {"city": "Oslo"} and block.id == "call_1"
    assert message.stop_reason == "tool_use"
    sent = fake.hits_for(path="/chat/completions")[-1].body
    assert sent is not None
    assert sent["messages"][1:] == [
        {
            "role": "assistant",
            "content": "Checking.",
            "tool_calls": [
                {
                    "id": "toolu_01",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "toolu_01", "content": "18C"},
        {"role": "user", "content": "And Oslo?"},
    ]
    assert sent["tools"] == [
        {
            "type": "function",
            "function": {
                "name": "get_weather",
                "parameters": TOOLS[0]["input_schema"],
                "description": "Weather in a city",
            },
        }
    ]
    assert sent["tool_choice"] == "required"


def test_tool_use_streamed(gateway: Gunicorn, fake: FakeUpstream) -> None:
    fake.default = lambda hit: tool_call_reply(stream=True)
    with sdk(gateway).messages.stream(
        model=MODEL, max_tokens=64, messages=HI, tools=TOOLS
    ) as stream:
        final = stream.get_final_message()
    assert final.stop_reason == "tool_use"
    assert [(b.type, getattr(b, "input", None)) for b in final.content] == [
        ("tool_use", {"city": "Oslo"})
    ]


@pytest.mark.parametrize(
    ("finish", "stop_reason"),
    [("stop", "end_turn"), ("length", "max_tokens"), ("content_filter", "refusal")],
)
@pytest.mark.parametrize("stream", [False, True])
def test_finish_reasons_map_truthfully(
    gateway: Gunicorn, fake: FakeUpstream, finish: str, stop_reason: str, stream: bool
) -> None:
    if stream:
        events = [
            chunk("fake-model", {"content": "Hel"}),
            chunk("fake-model", {"content": "lo"}),
            chunk("fake-model", {}, finish),
        ]
        fake.default = lambda hit: Reply(events=events)
        with sdk(gateway).messages.stream(model=MODEL, max_tokens=64, messages=HI) as live:
            final = live.get_final_message()
    else:
        body = completion("fake-model", "Hello")
        body["choices"][0]["finish_reason"] = finish
        fake.default = lambda hit: Reply(body=body)
        final = sdk(gateway).messages.create(model=MODEL, max_tokens=64, messages=HI)
    assert final.stop_reason == stop_reason


def test_nothing_usable_is_overloaded(start_gateway: StartGateway, fake: FakeUpstream) -> None:
    fake.default = lambda hit: Reply(status=401)
    gateway = start_gateway(fake_env(fake, KEY_A))
    body = {"model": MODEL, "max_tokens": 8, "messages": HI}
    first = gateway.request("POST", "/v1/messages", json=body, headers=AUTH)
    assert first.status_code >= 500 and first.json()["type"] == "error"
    # The only key is now set aside: nothing in the chain can serve.
    again = gateway.request("POST", "/v1/messages", json=body, headers=AUTH)
    assert anthropic_error(again) == (529, "overloaded_error")


def test_streamed_reasoning_becomes_a_thinking_block(gateway: Gunicorn, fake: FakeUpstream) -> None:
    events = [
        chunk("fake-model", {"reasoning_content": "Think"}),
        chunk("fake-model", {"reasoning_content": "ing."}),
        chunk("fake-model", {"content": "Answer."}),
        chunk("fake-model", {}, "stop"),
    ]
    fake.default = lambda hit: Reply(events=events)
    thinking: Any = {"type": "enabled", "budget_tokens": 8000}
    with sdk(gateway).messages.stream(
        model=MODEL, max_tokens=16000, messages=HI, thinking=thinking
    ) as stream:
        final = stream.get_final_message()
    assert [b.type for b in final.content] == ["thinking", "text"]
    assert final.content[0].thinking == "Thinking." and final.content[1].text == "Answer."
    sent = fake.hits_for(path="/chat/completions")[-1].body
    assert sent is not None and "reasoning_effort" not in sent  # a custom provider: dropped
    assert "keyrelay_reasoning_effort" not in sent


def test_the_event_sequence_byte_for_byte(gateway: Gunicorn) -> None:
    body = {"model": MODEL, "max_tokens": 64, "messages": HI, "stream": True}
    answer = gateway.request("POST", "/v1/messages", json=body, headers=AUTH)
    assert answer.status_code == 200
    assert answer.headers["X-Provider"] == "fake"
    events = events_of(answer)
    names = [name for name, _ in events]
    assert names[:3] == ["message_start", "ping", "content_block_start"]
    assert names[-4:] == [
        "content_block_delta",
        "content_block_stop",
        "message_delta",
        "message_stop",
    ]
    assert all(name == data["type"] for name, data in events)
    assert {data["index"] for name, data in events if name.startswith("content_block")} == {0}
    assert b"[DONE]" not in answer.content


def test_failover_before_the_commit_point(start_gateway: StartGateway, fake: FakeUpstream) -> None:
    g4f = FakeUpstream()
    try:
        fake.default = lambda hit: Reply(status=429, headers={"Retry-After": "30"})
        env = fake_env(fake, KEY_A, PROVIDER_PRIORITY_FAKE="1", G4F_MAIN_API_BASE=g4f.base_url)
        gateway = start_gateway(env)
        raw = sdk(gateway).messages.with_raw_response.create(
            model="fake-model", max_tokens=64, messages=HI
        )
        assert raw.headers["X-Provider"] == "g4f-main"
        assert raw.parse().content[0].text == "Hello from the fake upstream."
        with sdk(gateway).messages.stream(model="fake-model", max_tokens=64, messages=HI) as live:
            assert "".join(live.text_stream) == "Hello from the fake."
        assert len(fake.hits_for(KEY_A, path="/chat/completions")) == 1  # then cooling
        assert len(g4f.hits_for(path="/chat/completions")) == 2
    finally:
        g4f.close()


def test_a_cut_after_the_commit_point_ends_with_an_error_event(
    gateway: Gunicorn, fake: FakeUpstream
) -> None:
    fake.default = lambda hit: Reply(
        events=[chunk("fake-model", {"content": "Hel"}), chunk("fake-model", {"content": "lo"})],
        drop_after=1,
    )
    body = {"model": MODEL, "max_tokens": 64, "messages": HI, "stream": True}
    answer = gateway.request("POST", "/v1/messages", json=body, headers=AUTH)
    events = events_of(answer)
    assert events[0][0] == "message_start"
    assert events[-1][0] == "error" and events[-1][1]["error"]["type"] == "api_error"
    assert "message_stop" not in [name for name, _ in events]
    with (
        pytest.raises(anthropic.APIStatusError),
        sdk(gateway).messages.stream(model=MODEL, max_tokens=64, messages=HI) as stream,
    ):
        "".join(stream.text_stream)


def anthropic_error(answer: requests.Response) -> tuple[int, str]:
    data = answer.json()
    assert data["type"] == "error" and isinstance(data["error"]["message"], str)
    return answer.status_code, data["error"]["type"]


def test_errors_in_anthropics_shape(start_gateway: StartGateway, fake: FakeUpstream) -> None:
    gateway = start_gateway(fake_env(fake, KEY_A, MAX_REQUEST_BODY_BYTES="4096"))
    good = {"model": MODEL, "max_tokens": 64, "messages": HI}

    def post(body: Any, **headers: str) -> requests.Response:
        return gateway.request("POST", "/v1/messages", json=body, headers=headers or AUTH)

    assert anthropic_error(post(good, **{"x-api-key": "wrong"})) == (401, "authentication_error")
    assert anthropic_error(post({**good, "max_tokens": None})) == (400, "invalid_request_error")
    assert anthropic_error(post({"model": MODEL, "messages": HI})) == (400, "invalid_request_error")
    assert anthropic_error(post({**good, "model": "nobody/none"})) == (404, "not_found_error")
    big = {**good, "messages": [{"role": "user", "content": "x" * 5000}]}
    assert anthropic_error(post(big)) == (413, "request_too_large")
    fake.default = lambda hit: Reply(status=429, headers={"Retry-After": "30"})
    limited = post(good)
    assert anthropic_error(limited) == (429, "rate_limit_error")
    assert int(limited.headers["retry-after"]) > 0
    assert anthropic_error(post(good)) == (429, "rate_limit_error")  # the key is cooling
    with pytest.raises(anthropic.AuthenticationError):
        sdk(gateway, key="wrong").messages.create(model=MODEL, max_tokens=8, messages=HI)


@pytest.mark.parametrize(
    "body",
    [
        {"messages": HI, "max_tokens": 8},
        {"model": MODEL, "messages": HI, "max_tokens": "8"},
        {"model": MODEL, "messages": [{"role": "robot", "content": "x"}], "max_tokens": 8},
        {
            "model": MODEL,
            "messages": [{"role": "user", "content": [{"type": "video"}]}],
            "max_tokens": 8,
        },
        {
            "model": MODEL,
            "messages": [{"role": "user", "content": [{"type": "image", "source": {}}]}],
            "max_tokens": 8,
        },
        {
            "model": MODEL,
            "messages": [{"role": "user", "content": [{"type": "tool_result"}]}],
            "max_tokens": 8,
        },
        {
            "model": MODEL,
            "messages": [
                {
                    "role": "assistant",
                    "content": [{"type": "tool_use", "id": "x", "name": "n", "input": []}],
                }
            ],
            "max_tokens": 8,
        },
        {
            "model": MODEL,
            "messages": HI,
            "max_tokens": 8,
            "tools": [{"type": "web_search_20250305", "name": "web"}],
        },
        {"model": MODEL, "messages": HI, "max_tokens": 8, "tool_choice": {"type": "sometimes"}},
        {"model": MODEL, "messages": HI, "max_tokens": 8, "system": 5},
        {
            "model": MODEL,
            "messages": HI,
            "max_tokens": 8,
            "thinking": {"type": "enabled", "budget_tokens": "lots"},
        },
        [1, 2],
    ],
)
def test_bad_input_is_a_400_never_a_500(gateway: Gunicorn, body: Any) -> None:
    answer = gateway.request("POST", "/v1/messages", json=body, headers=AUTH)
    assert anthropic_error(answer) == (400, "invalid_request_error")


def test_count_tokens_is_an_estimate_claude_code_can_use(gateway: Gunicorn) -> None:
    count = sdk(gateway).messages.count_tokens(model=MODEL, messages=HI, system="Be brief.")
    assert count.input_tokens > 0


def test_gathered_tool_calls_are_bounded(start_gateway: StartGateway, fake: FakeUpstream) -> None:
    gateway = start_gateway(fake_env(fake, KEY_A, MAX_UPSTREAM_RESPONSE_BYTES="1024"))
    # A call whose name comes late cannot stream as it comes: it is gathered, within bounds
    # (one named in its first fragment streams on and keeps nothing).
    head = {"index": 0, "id": "call_1", "type": "function", "function": {"arguments": ""}}
    piece = {"index": 0, "function": {"arguments": "x" * 100}}
    events = [chunk("fake-model", {"tool_calls": [head]})]
    events += [chunk("fake-model", {"tool_calls": [piece]}) for _ in range(30)]
    events.append(chunk("fake-model", {"tool_calls": [{"index": 0, "function": {"name": "f"}}]}))
    fake.default = lambda hit: Reply(events=events)
    body = {"model": MODEL, "max_tokens": 64, "messages": HI, "stream": True}
    found = events_of(gateway.request("POST", "/v1/messages", json=body, headers=AUTH))
    assert (
        found[-1][0] == "error"
        and "MAX_UPSTREAM_RESPONSE_BYTES" in found[-1][1]["error"]["message"]
    )
    assert "message_stop" not in [name for name, _ in found]
