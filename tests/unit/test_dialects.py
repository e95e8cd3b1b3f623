"""Anthropic Messages and OpenAI Responses requests, translated into chat completions."""

from __future__ import annotations

import json
from typing import Any

import pytest
import responses

from app import create_app
from app.dialects.anthropic import request as anthropic_request
from app.dialects.anthropic.answer import to_message, tool_use_id
from app.dialects.anthropic.events import MessageEvents
from app.dialects.responses import request as responses_request
from app.dialects.responses.answer import to_response
from app.errors import APIError
from providers import REASONING_HINT


def test_images_tool_results_and_thinking_map_onto_chat() -> None:
    body: dict[str, Any] = {
        "model": "m",
        "max_tokens": 9,
        "system": [{"type": "text", "text": "One."}, {"type": "text", "text": "Two."}],
        "thinking": {"type": "enabled", "budget_tokens": 5000},
        "metadata": {"user_id": "u-1"},
        "messages": [
            {
                "role": "user",
                "content": [
                    {
                        "type": "tool_result",
                        "tool_use_id": "t1",
                        "content": "boom",
                        "is_error": True,
                    },
                    {"type": "text", "text": "Look:"},
                    {
                        "type": "image",
                        "source": {"type": "base64", "media_type": "image/png", "data": "AAA"},
                    },
                    {"type": "image", "source": {"type": "url", "url": "https://x/y.png"}},
                ],
            }
        ],
        "tool_choice": {"type": "tool", "name": "f", "disable_parallel_tool_use": True},
    }
    chat = anthropic_request.to_chat(body)
    assert chat["messages"] == [
        {"role": "system", "content": "One.\n\nTwo."},
        {"role": "tool", "tool_call_id": "t1", "content": "Error: boom"},
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "Look:"},
                {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAA"}},
                {"type": "image_url", "image_url": {"url": "https://x/y.png"}},
            ],
        },
    ]
    assert chat[REASONING_HINT] == "medium" and "user" not in chat  # never sent on
    assert chat["tool_choice"] == {"type": "function", "function": {"name": "f"}}
    assert chat["parallel_tool_calls"] is False


@pytest.mark.parametrize(("budget", "effort"), [(1024, "low"), (4096, "medium"), (32000, "high")])
def test_thinking_budgets_become_effort_buckets(budget: int, effort: str) -> None:
    thinking = {"type": "enabled", "budget_tokens": budget}
    body = {"model": "m", "max_tokens": 9, "messages": [{"role": "user", "content": "x"}]}
    assert anthropic_request.to_chat({**body, "thinking": thinking})[REASONING_HINT] == effort


def test_a_stop_sequence_an_upstream_names_is_reported() -> None:
    answer = {"id": "c", "choices": [{"message": {"content": "a"}, "finish_reason": "stop"}]}
    answer["choices"][0]["stop_reason"] = "END"  # vLLM says which sequence matched
    message = to_message(answer, "m", ["END"], thinking=False)
    assert (message["stop_reason"], message["stop_sequence"]) == ("stop_sequence", "END")


def test_tool_ids_are_made_safe_for_anthropic_clients() -> None:
    assert tool_use_id("call:abc/1") == "call_abc_1"
    assert tool_use_id("").startswith("toolu_")
    assert len(tool_use_id("x" * 100)) == 64


def _accumulated(text: str) -> dict[int, dict[str, Any]]:
    """What a client that accumulates by block index (the SDKs do) ends up with."""
    blocks: dict[int, dict[str, Any]] = {}
    for line in text.splitlines():
        if not line.startswith("data: "):
            continue
        event = json.loads(line.removeprefix("data: "))
        if event["type"] == "content_block_start":
            blocks[event["index"]] = {**event["content_block"], "json": ""}
        elif event["type"] == "content_block_delta" and "partial_json" in event["delta"]:
            blocks[event["index"]]["json"] += event["delta"]["partial_json"]
    return blocks


def test_tool_arguments_stream_one_delta_per_upstream_fragment() -> None:
    events = MessageEvents("m", [], thinking=False, limit=1 << 20)
    out = b"".join(events.start())
    fragments = ['{"pa', 'th": "a.t', 'xt"}']
    calls = [{"index": 0, "id": "a", "function": {"name": "Write", "arguments": ""}}]
    calls += [{"index": 0, "function": {"arguments": f}} for f in fragments]
    for n, call in enumerate(calls):
        out += b"".join(events.feed({"choices": [{"delta": {"tool_calls": [call]}}]}))
        if n == 1:  # the block is open and its first fragment out before the rest arrives
            assert out.count(b"input_json_delta") == 1
    out += b"".join(events.finish_events())
    text = out.decode()
    assert text.count("input_json_delta") == len(fragments)
    assert _accumulated(text)[0]["json"] == '{"path": "a.txt"}'
    assert '"stop_reason":"tool_use"' in text


def test_interleaved_tool_calls_reach_their_own_blocks() -> None:
    events = MessageEvents("m", [], thinking=False, limit=1 << 20)
    out = b"".join(events.start())
    for call in (
        {"index": 1, "id": "b", "function": {"name": "g", "arguments": '{"y"'}},
        {"index": 0, "id": "a", "function": {"name": "f", "arguments": '{"x":1}'}},
        {"index": 1, "function": {"arguments": ":2}"}},
    ):
        out += b"".join(events.feed({"choices": [{"delta": {"tool_calls": [call]}}]}))
    out += b"".join(events.finish_events())
    blocks = _accumulated(out.decode())
    assert {b["id"]: b["json"] for b in blocks.values()} == {"b": '{"y":2}', "a": '{"x":1}'}
    assert '"stop_reason":"tool_use"' in out.decode()


def test_responses_items_map_onto_chat() -> None:
    body: dict[str, Any] = {
        "model": "m",
        "instructions": "Be brief.",
        "input": [
            {"role": "developer", "content": "Rules."},
            {"type": "function_call", "call_id": "c1", "name": "f", "arguments": "{}"},
            {"type": "function_call", "call_id": "c2", "name": "g", "arguments": "{}"},
            {
                "type": "function_call_output",
                "call_id": "c1",
                "output": [{"type": "input_text", "text": "ok"}],
            },
        ],
        "text": {"format": {"type": "json_schema", "name": "r", "schema": {"type": "object"}}},
        "reasoning": {"effort": "high"},
        "max_output_tokens": 50,
    }
    chat = responses_request.to_turn(body).chat
    assert chat["messages"][0:2] == [
        {"role": "system", "content": "Be brief."},
        {"role": "system", "content": "Rules."},
    ]
    assert [c["id"] for c in chat["messages"][2]["tool_calls"]] == ["c1", "c2"]  # merged
    assert chat["messages"][3] == {"role": "tool", "tool_call_id": "c1", "content": "ok"}
    assert chat["response_format"]["json_schema"] == {"name": "r", "schema": {"type": "object"}}
    assert chat[REASONING_HINT] == "high" and chat["max_tokens"] == 50


def test_stateful_responses_are_refused_by_name() -> None:
    with pytest.raises(APIError) as refused:
        responses_request.to_turn({"model": "m", "input": "x", "conversation": "conv_1"})
    assert refused.value.param == "conversation" and "stateless" in refused.value.message


def test_a_content_filter_cut_is_incomplete() -> None:
    answer = {"choices": [{"message": {"content": "a"}, "finish_reason": "content_filter"}]}
    response = to_response(answer, responses_request.to_turn({"model": "m", "input": "x"}), "m")
    assert response["status"] == "incomplete"
    assert response["incomplete_details"] == {"reason": "content_filter"}


def test_the_reasoning_hint_reaches_only_providers_that_take_it(
    mocked: responses.RequestsMock,
) -> None:
    app = create_app(
        {
            "PROXY_API_KEY": "client-key",
            "OPENAI_API_KEY": "sk-dialects-aaaaaaaaaaaaaaaaaaaa",
            "OPENAI_MODELS": "gpt-x",
        }
    )
    answer = {
        "id": "c",
        "object": "chat.completion",
        "model": "gpt-x",
        "choices": [
            {"index": 0, "message": {"role": "assistant", "content": "hi"}, "finish_reason": "stop"}
        ],
    }
    mocked.post("https://api.openai.com/v1/chat/completions", json=answer)
    body = {
        "model": "openai/gpt-x",
        "max_tokens": 20000,
        "messages": [{"role": "user", "content": "x"}],
        "thinking": {"type": "enabled", "budget_tokens": 16384},
    }
    reply = app.test_client().post("/v1/messages", json=body, headers={"x-api-key": "client-key"})
    assert reply.status_code == 200, reply.get_json()
    sent = json.loads(mocked.calls[-1].request.body)
    assert sent["reasoning_effort"] == "high" and REASONING_HINT not in sent
    app.extensions["keyrelay"].router.close()
