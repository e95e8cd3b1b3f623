"""``/v1/responses`` with the real ``openai`` SDK (strict validation) as the client."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import openai
import pytest
import requests

from bench.gunicorn import Gunicorn
from tests.fakes.upstream import FakeUpstream, Reply, chunk, completion

from .helpers import AUTH, CLIENT_KEY, KEY_A, StartGateway, fake_env

pytestmark = pytest.mark.integration

MODEL = "fake/fake-model"
_clients: list[openai.OpenAI] = []

TOOLS: list[Any] = [
    {
        "type": "function",
        "name": "get_weather",
        "description": "Weather in a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
        "strict": False,
    }
]


@pytest.fixture(autouse=True)
def _close_clients(start_gateway: StartGateway) -> Iterator[None]:
    yield
    while _clients:
        _clients.pop().close()


def sdk(gateway: Gunicorn, key: str = CLIENT_KEY) -> openai.OpenAI:
    client = openai.OpenAI(
        base_url=gateway.url + "/v1", api_key=key, max_retries=0, _strict_response_validation=True
    )
    _clients.append(client)
    return client


def events_of(response: requests.Response) -> list[dict[str, Any]]:
    """The ``data`` of every event, checking that ``event:`` names its type."""
    found = []
    for block in response.text.strip().split("\n\n"):
        lines = dict(line.split(": ", 1) for line in block.split("\n"))
        data = json.loads(lines["data"])
        assert lines["event"] == data["type"]
        found.append(data)
    return found


def tool_calls_stream() -> Reply:
    def call(index: int, call_id: str, city: str) -> list[dict[str, Any]]:
        head = {"index": index, "id": call_id, "type": "function"}
        head["function"] = {"name": "get_weather", "arguments": '{"city":'}
        tail = {"index": index, "function": {"arguments": f'"{city}"}}'}}
        return [
            chunk("fake-model", {"tool_calls": [head]}),
            chunk("fake-model", {"tool_calls": [tail]}),
        ]

    first, second = call(0, "call_a", "Oslo"), call(1, "call_b", "Rome")
    # Two calls, their fragments interleaved, then no finish reason at all.
    events = [first[0], second[0], first[1], second[1]]
    return Reply(events=events)


def test_a_whole_response(gateway: Gunicorn, fake: FakeUpstream) -> None:
    response = sdk(gateway).responses.create(
        model=MODEL, input="Hi", instructions="Be brief.", max_output_tokens=64
    )
    assert response.output_text == "Hello from the fake upstream."
    assert response.status == "completed" and response.model == MODEL
    assert response.usage is not None and response.usage.total_tokens == 12
    sent = fake.hits_for(path="/chat/completions")[-1].body
    assert sent is not None
    assert sent["messages"] == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Hi"},
    ]
    assert sent["max_tokens"] == 64


def test_a_streamed_response(gateway: Gunicorn) -> None:
    stream = sdk(gateway).responses.create(model=MODEL, input="Hi", stream=True)
    events = list(stream)
    text = "".join(e.delta for e in events if e.type == "response.output_text.delta")
    assert text == "Hello from the fake."
    final = events[-1]
    assert final.type == "response.completed"
    assert final.response.output_text == text
    assert final.response.usage is not None and final.response.usage.output_tokens > 0


def test_function_calls_both_ways(gateway: Gunicorn, fake: FakeUpstream) -> None:
    body = completion("fake-model", "")
    call = {"id": "call_9", "type": "function"}
    call["function"] = {"name": "get_weather", "arguments": '{"city":"Oslo"}'}
    body["choices"][0]["message"] = {"role": "assistant", "content": None, "tool_calls": [call]}
    body["choices"][0]["finish_reason"] = "tool_calls"
    fake.default = lambda hit: Reply(body=body)
    history: Any = [
        {"role": "user", "content": [{"type": "input_text", "text": "Weather in Paris?"}]},
        {"type": "reasoning", "id": "rs_1", "summary": []},
        {
            "type": "function_call",
            "call_id": "call_1",
            "name": "get_weather",
            "arguments": '{"city":"Paris"}',
        },
        {"type": "function_call_output", "call_id": "call_1", "output": "18C"},
        {"role": "user", "content": "And Oslo?"},
    ]
    response = sdk(gateway).responses.create(
        model=MODEL, input=history, tools=TOOLS, tool_choice="required"
    )
    (item,) = response.output
    assert item.type == "function_call"
    assert (item.call_id, item.name, item.arguments) == ("call_9", "get_weather", '{"city":"Oslo"}')
    sent = fake.hits_for(path="/chat/completions")[-1].body
    assert sent is not None
    assert sent["messages"] == [
        {"role": "user", "content": "Weather in Paris?"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "call_1",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "call_1", "content": "18C"},
        {"role": "user", "content": "And Oslo?"},
    ]
    assert sent["tools"][0]["function"]["name"] == "get_weather"
    assert sent["tool_choice"] == "required"


def test_streamed_function_calls_close_every_item(gateway: Gunicorn, fake: FakeUpstream) -> None:
    fake.default = lambda hit: tool_calls_stream()
    body = {"model": MODEL, "input": "Weather?", "tools": TOOLS, "stream": True}
    answer = gateway.request("POST", "/v1/responses", json=body, headers=AUTH)
    events = events_of(answer)
    assert [e["sequence_number"] for e in events] == list(range(len(events)))
    kinds = [e["type"] for e in events]
    assert kinds[:2] == ["response.created", "response.in_progress"]
    assert kinds[-1] == "response.completed" and kinds.count("response.completed") == 1
    added = {e["item"]["id"] for e in events if e["type"] == "response.output_item.added"}
    done = {e["item"]["id"] for e in events if e["type"] == "response.output_item.done"}
    assert added == done and len(added) == 2
    output = events[-1]["response"]["output"]
    assert [(o["call_id"], o["arguments"]) for o in output] == [
        ("call_a", '{"city":"Oslo"}'),
        ("call_b", '{"city":"Rome"}'),
    ]
    assert b"[DONE]" not in answer.content
    # And the SDK reads the same stream.
    with sdk(gateway).responses.stream(model=MODEL, input="Weather?", tools=TOOLS) as stream:
        final = stream.get_final_response()
    assert [o.type for o in final.output] == ["function_call", "function_call"]


def test_the_text_event_sequence(gateway: Gunicorn) -> None:
    body = {"model": MODEL, "input": "Hi", "stream": True}
    events = events_of(gateway.request("POST", "/v1/responses", json=body, headers=AUTH))
    kinds = [e["type"] for e in events]
    assert kinds[:4] == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.content_part.added",
    ]
    assert kinds[-4:] == [
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.completed",
    ]
    deltas = [e for e in events if e["type"] == "response.output_text.delta"]
    item_id = events[2]["item"]["id"]
    assert all(
        (d["item_id"], d["output_index"], d["content_index"]) == (item_id, 0, 0) for d in deltas
    )


@pytest.mark.parametrize("stream", [False, True])
def test_a_length_cut_is_incomplete(gateway: Gunicorn, fake: FakeUpstream, stream: bool) -> None:
    if stream:
        events = [chunk("fake-model", {"content": "Hel"}), chunk("fake-model", {}, "length")]
        fake.default = lambda hit: Reply(events=events)
        body = {"model": MODEL, "input": "Hi", "stream": True}
        final = events_of(gateway.request("POST", "/v1/responses", json=body, headers=AUTH))[-1]
        assert final["type"] == "response.incomplete"
        response = final["response"]
    else:
        cut = completion("fake-model", "Hel")
        cut["choices"][0]["finish_reason"] = "length"
        fake.default = lambda hit: Reply(body=cut)
        response = sdk(gateway).responses.create(model=MODEL, input="Hi").model_dump()
    assert response["status"] == "incomplete"
    assert response["incomplete_details"] == {"reason": "max_output_tokens"}


def test_failover_before_the_commit_point(start_gateway: StartGateway, fake: FakeUpstream) -> None:
    g4f = FakeUpstream()
    try:
        fake.default = lambda hit: Reply(status=429, headers={"Retry-After": "30"})
        env = fake_env(fake, KEY_A, PROVIDER_PRIORITY_FAKE="1", G4F_MAIN_API_BASE=g4f.base_url)
        gateway = start_gateway(env)
        raw = sdk(gateway).responses.with_raw_response.create(model="fake-model", input="Hi")
        assert raw.headers["X-Provider"] == "g4f-main"
        assert raw.parse().output_text == "Hello from the fake upstream."
        stream = sdk(gateway).responses.create(model="fake-model", input="Hi", stream=True)
        assert list(stream)[-1].type == "response.completed"
    finally:
        g4f.close()


def test_a_cut_after_the_commit_point_fails_the_response(
    gateway: Gunicorn, fake: FakeUpstream
) -> None:
    events = [chunk("fake-model", {"content": "Hel"}), chunk("fake-model", {"content": "lo"})]
    fake.default = lambda hit: Reply(events=events, drop_after=1)
    body = {"model": MODEL, "input": "Hi", "stream": True}
    found = events_of(gateway.request("POST", "/v1/responses", json=body, headers=AUTH))
    assert found[-1]["type"] == "response.failed"
    assert found[-1]["response"]["status"] == "failed" and found[-1]["response"]["error"]
    assert "response.completed" not in [e["type"] for e in found]


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"model": MODEL, "input": "Hi", "previous_response_id": "resp_1"}, "previous_response_id"),
        (
            {"model": MODEL, "input": "Hi", "tools": [{"type": "namespace", "name": "n"}]},
            "tools[0].tools",
        ),
        ({"model": MODEL, "input": [{"type": "computer_call"}]}, "input[0].type"),
        ({"model": MODEL, "input": [{"role": "robot", "content": "x"}]}, "input[0].role"),
        ({"model": MODEL, "input": [{"type": "function_call", "name": "f"}]}, "input[0].call_id"),
        ({"model": MODEL, "input": []}, "input"),
        ({"model": MODEL}, "input"),
        ({"model": MODEL, "input": "Hi", "max_output_tokens": "9"}, "max_output_tokens"),
        ({"model": MODEL, "input": "Hi", "text": {"format": {"type": "xml"}}}, "text.format"),
        (
            {"model": MODEL, "input": "Hi", "tool_choice": {"type": "file_search"}},
            "tool_choice.type",
        ),
        ({"model": MODEL, "input": "Hi", "tool_choice": {"type": "function"}}, "tool_choice"),
    ],
)
def test_bad_input_is_a_400_naming_the_field(gateway: Gunicorn, body: Any, param: str) -> None:
    answer = gateway.request("POST", "/v1/responses", json=body, headers=AUTH)
    assert answer.status_code == 400
    error = answer.json()["error"]
    assert error["param"] == param and error["type"] == "invalid_request_error"


def test_errors_are_openai_envelopes(gateway: Gunicorn) -> None:
    with pytest.raises(openai.AuthenticationError):
        sdk(gateway, key="wrong").responses.create(model=MODEL, input="Hi")
    with pytest.raises(openai.NotFoundError):
        sdk(gateway).responses.create(model="nobody/none", input="Hi")


def test_upstream_reasoning_becomes_a_reasoning_item(gateway: Gunicorn, fake: FakeUpstream) -> None:
    events = [
        chunk("fake-model", {"reasoning_content": "Think"}),
        chunk("fake-model", {"reasoning_content": "ing."}),
        chunk("fake-model", {"content": "Answer."}),
        chunk("fake-model", {}, "stop"),
    ]
    fake.default = lambda hit: Reply(events=events)
    streamed = list(sdk(gateway).responses.create(model=MODEL, input="Hi", stream=True))
    final = streamed[-1]
    assert final.type == "response.completed"
    output = final.response.output
    assert [item.type for item in output] == ["reasoning", "message"]
    assert output[0].summary[0].text == "Thinking." and final.response.output_text == "Answer."
    kinds = [e.type for e in streamed]
    assert kinds.index("response.reasoning_summary_text.done") < kinds.index(
        "response.output_text.delta"
    )


def test_what_a_stream_keeps_for_its_end_is_bounded(
    start_gateway: StartGateway, fake: FakeUpstream
) -> None:
    gateway = start_gateway(fake_env(fake, KEY_A, MAX_UPSTREAM_RESPONSE_BYTES="1024"))
    events = [chunk("fake-model", {"content": "x" * 100}) for _ in range(30)]
    fake.default = lambda hit: Reply(events=events)
    body = {"model": MODEL, "input": "Hi", "stream": True}
    found = events_of(gateway.request("POST", "/v1/responses", json=body, headers=AUTH))
    assert found[-1]["type"] == "response.failed"
    assert "MAX_UPSTREAM_RESPONSE_BYTES" in found[-1]["response"]["error"]["message"]
    deltas = [e for e in found if e["type"] == "response.output_text.delta"]
    assert 0 < len(deltas) <= 11  # cut past 1,024 characters, not after all 3,000
