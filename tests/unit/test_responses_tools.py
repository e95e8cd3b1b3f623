"""Codex's tool shapes through the Responses translation: namespaces, freeform tools,
built-ins left out, compaction, and the optional fields only some providers take."""

from __future__ import annotations

import json
from typing import Any

import pytest
import responses

from app import create_app
from app.dialects.responses.answer import to_response
from app.dialects.responses.calls import FreeformText
from app.dialects.responses.events import ResponseEvents
from app.dialects.responses.request import COMPACT_PROMPT, to_turn
from app.dialects.responses.tools import MAX_NAME, NAME, flat_name, tool_set
from app.errors import APIError

NAMESPACE = {
    "type": "namespace",
    "name": "multi_agent_v1",
    "description": "Sub-agents.",
    "tools": [
        {"type": "function", "name": "close_agent", "parameters": {"type": "object"}},
        {"type": "function", "name": "spawn_agent", "parameters": {"type": "object"}},
    ],
}
PATCH_TOOL = {
    "type": "custom",
    "name": "apply_patch",
    "description": "Edit files.",
    "format": {"type": "grammar", "syntax": "lark", "definition": 'start: "*** Begin Patch"'},
}
BUILT_INS = [{"type": "web_search", "external_web_access": False}, {"type": "tool_search"}]


def body(**extra: Any) -> dict[str, Any]:
    return {"model": "m", "input": "Hi", **extra}


def test_namespaces_flatten_into_unique_names_an_upstream_accepts() -> None:
    clash = {"type": "function", "name": "multi_agent_v1__close_agent"}  # taken first
    tools = tool_set([clash, NAMESPACE])
    names = [f["function"]["name"] for f in tools.functions]
    assert names == [
        "multi_agent_v1__close_agent",
        "multi_agent_v1__close_agent_2",
        "multi_agent_v1__spawn_agent",
    ]
    assert tools.ref("multi_agent_v1__close_agent_2").namespace == "multi_agent_v1"
    assert tools.ref("multi_agent_v1__close_agent").namespace is None
    long = flat_name("mcp.server/with spaces" * 5, "tool")
    assert NAME.match(long) and len(long) == MAX_NAME
    assert long != flat_name("mcp.server/with spaces" * 5, "other")


def test_freeform_tools_become_one_string_argument_and_built_ins_are_left_out() -> None:
    turn = to_turn(body(tools=[PATCH_TOOL, *BUILT_INS, BUILT_INS[0]]))
    (function,) = [t["function"] for t in turn.chat["tools"]]
    assert function["name"] == "apply_patch"
    assert function["parameters"]["required"] == ["input"]
    assert "*** Begin Patch" in function["description"]  # the grammar goes with it
    assert turn.left_out == ["web_search", "tool_search"]


@pytest.mark.parametrize(
    "tools, choice",
    [
        ([BUILT_INS[0]], {"type": "web_search"}),
        ([{"type": "namespace", "name": "n", "tools": []}], None),
        ([{"type": "namespace", "name": "n", "tools": [{"type": "web_search"}]}], None),
        ([{"type": "custom"}], None),
        ([{"name": "no type"}], None),
    ],
)
def test_bad_tools_and_a_required_built_in_are_a_400(tools: Any, choice: Any) -> None:
    with pytest.raises(APIError) as refused:
        to_turn(body(tools=tools, tool_choice=choice))
    assert refused.value.status == 400 and refused.value.param


def test_calls_in_the_input_use_the_names_the_tools_were_given() -> None:
    items = [
        {"type": "message", "role": "user", "content": "go"},
        {"type": "function_call", "call_id": "c1", "name": "close_agent",
         "namespace": "multi_agent_v1", "arguments": "{}"},
        {"type": "custom_tool_call", "call_id": "c2", "name": "apply_patch", "input": "*** P"},
        {"type": "function_call_output", "call_id": "c1", "output": "closed"},
        {"type": "custom_tool_call_output", "call_id": "c2", "output": "patched"},
    ]  # fmt: skip
    chat = to_turn(body(input=items, tools=[NAMESPACE, PATCH_TOOL])).chat
    calls = chat["messages"][1]["tool_calls"]
    assert [c["function"]["name"] for c in calls] == ["multi_agent_v1__close_agent", "apply_patch"]
    assert json.loads(calls[1]["function"]["arguments"]) == {"input": "*** P"}
    assert [m["role"] for m in chat["messages"][2:]] == ["tool", "tool"]


def test_whole_answers_come_back_in_the_shapes_codex_expects() -> None:
    turn = to_turn(body(tools=[NAMESPACE, PATCH_TOOL]))
    calls = [
        {"id": "c1", "type": "function",
         "function": {"name": "multi_agent_v1__spawn_agent", "arguments": "{}"}},
        {"id": "c2", "type": "function",
         "function": {"name": "apply_patch", "arguments": json.dumps({"input": "*** P\n"})}},
    ]  # fmt: skip
    answer = {"choices": [{"message": {"tool_calls": calls}, "finish_reason": "tool_calls"}]}
    first, second = to_response(answer, turn, "m")["output"]
    assert (first["type"], first["name"], first["namespace"]) == (
        "function_call",
        "spawn_agent",
        "multi_agent_v1",
    )
    assert (second["type"], second["name"], second["input"]) == (
        "custom_tool_call",
        "apply_patch",
        "*** P\n",
    )


@pytest.mark.parametrize(
    "text", ['*** Begin Patch\n+héllo "q" \\ \t\n', "emoji 😀 and \u2028", "", "x" * 50]
)
def test_freeform_input_decodes_across_any_split(text: str) -> None:
    raw = json.dumps({"input": text})
    for cut in range(len(raw) + 1):
        decoder = FreeformText()
        streamed = decoder.feed(raw[:cut]) + decoder.feed(raw[cut:])
        assert streamed == text, cut


def test_a_streamed_freeform_call_sends_its_input_as_text_deltas() -> None:
    turn = to_turn(body(tools=[PATCH_TOOL], stream=True))
    events = ResponseEvents(turn, "m", 1 << 20)
    raw = json.dumps({"input": "*** Begin Patch\n*** End Patch\n"})
    head = {"index": 0, "id": "c1", "type": "function"}
    chunks = [
        {"choices": [{"delta": {"tool_calls": [
            {**head, "function": {"name": "apply_patch", "arguments": raw[:12]}}]}}]},
        {"choices": [{"delta": {"tool_calls": [
            {"index": 0, "function": {"arguments": raw[12:]}}]}}]},
    ]  # fmt: skip
    out = b"".join(b for c in chunks for b in events.feed(c)) + b"".join(events.finish_events())
    sent = [json.loads(line[6:]) for line in out.decode().splitlines() if line.startswith("data:")]
    deltas = [e["delta"] for e in sent if e["type"] == "response.custom_tool_call_input.delta"]
    assert "".join(deltas) == "*** Begin Patch\n*** End Patch\n" and len(deltas) == 2
    done = [e for e in sent if e["type"] == "response.output_item.done"][-1]["item"]
    assert done["type"] == "custom_tool_call" and done["input"] == "".join(deltas)


def test_a_compaction_is_summarised_and_its_item_carried_back() -> None:
    history = [{"type": "message", "role": "user", "content": "Write a file"}]
    turn = to_turn(body(input=[*history, {"type": "compaction_trigger"}], tools=[NAMESPACE]))
    assert turn.compaction and "tools" not in turn.chat
    assert turn.chat["messages"][-1]["content"] == COMPACT_PROMPT
    answer = {"choices": [{"message": {"content": "The user wants a file."}}]}
    (item,) = to_response(answer, turn, "m")["output"]
    assert item["type"] == "compaction"
    later = to_turn(body(input=[*history, item, {"role": "user", "content": "go on"}])).chat
    assert "The user wants a file." in later["messages"][1]["content"]
    foreign = {"type": "compaction", "encrypted_content": "gAAAA-sealed-by-openai"}
    kept = to_turn(body(input=[*history, foreign]))
    assert kept.left_out == ["compaction"] and len(kept.chat["messages"]) == 1


def test_prompt_cache_key_and_verbosity_reach_only_providers_that_take_them(
    mocked: responses.RequestsMock,
) -> None:
    app = create_app(
        {
            "PROXY_API_KEY": "client-key",
            "OPENAI_API_KEY": "sk-dialects-aaaaaaaaaaaaaaaaaaaa",
            "OPENAI_MODELS": "gpt-x",
            "GROQ_API_KEY": "gsk-dialects-aaaaaaaaaaaaaaaaaaaa",
            "GROQ_MODELS": "llama",
            "LOCAL_API_KEY": "sk-local-aaaaaaaaaaaaaaaaaaaa",
            "LOCAL_API_BASE": "http://local.test/v1",
            "LOCAL_MODELS": "qwen",
            "LOCAL_PROMPT_CACHE_KEY": "true",
        }
    )
    answer = {"choices": [{"index": 0, "message": {"role": "assistant", "content": "hi"}}]}
    native = {"id": "resp_1", "object": "response", "status": "completed", "model": "gpt-x",
              "output": [], "usage": {"input_tokens": 3, "output_tokens": 1}}  # fmt: skip
    mocked.post("https://api.openai.com/v1/responses", json=native)
    mocked.post("https://api.groq.com/openai/v1/chat/completions", json=answer)
    mocked.post("http://local.test/v1/chat/completions", json=answer)
    client, auth = app.test_client(), {"Authorization": "Bearer client-key"}
    extra = {
        "prompt_cache_key": "session-1",
        "text": {"verbosity": "low"},
        "store": False,
        "include": ["reasoning.encrypted_content"],
        "client_metadata": {"id": "device"},
    }
    for model in ("openai/gpt-x", "groq/llama", "local/qwen"):
        reply = client.post("/v1/responses", json=body(model=model, **extra), headers=auth)
        assert reply.status_code == 200, reply.get_json()
    to_openai, to_groq, to_local = (json.loads(c.request.body) for c in mocked.calls[-3:])
    # OpenAI speaks Responses: the client's own body, every field as sent.
    assert to_openai == {**body(model="gpt-x", **extra)}
    assert to_local["prompt_cache_key"] == "session-1" and "verbosity" not in to_local
    assert "prompt_cache_key" not in to_groq and "verbosity" not in to_groq
    for sent in (to_groq, to_local):
        assert not {"client_metadata", "store", "include"} & set(sent)
        assert "keyrelay" not in json.dumps(sent)
    app.extensions["keyrelay"].router.close()
