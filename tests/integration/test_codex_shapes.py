"""What Codex sends, over sockets: namespace and freeform tools, built-ins left out (said in
a header and the log line), its websocket upgrade, compaction, and refusals that name
their code and model in the log."""

from __future__ import annotations

import json
from typing import Any

import pytest
import requests

from bench.gunicorn import Gunicorn
from tests.fakes.upstream import FakeUpstream, Reply, chunk, completion, wait_until

from .helpers import AUTH

pytestmark = pytest.mark.integration

MODEL = "fake/fake-model"
TOOLS = [
    {"type": "function", "name": "exec_command", "parameters": {"type": "object"}},
    {"type": "namespace", "name": "multi_agent_v1", "description": "Sub-agents.",
     "tools": [{"type": "function", "name": "close_agent", "parameters": {"type": "object"}}]},
    {"type": "custom", "name": "apply_patch", "description": "Edit files.",
     "format": {"type": "grammar", "syntax": "lark", "definition": "start: /.+/"}},
    {"type": "web_search", "external_web_access": False},
    {"type": "tool_search", "execution": "client", "parameters": {"type": "object"}},
]  # fmt: skip


def create(gateway: Gunicorn, path: str = "/v1/responses", **body: Any) -> requests.Response:
    full = {"model": MODEL, "input": "Hi", **body}
    return requests.post(gateway.url + path, json=full, headers=AUTH, timeout=30)


def answer_next(fake: FakeUpstream, reply: Reply) -> None:
    """From now on, every chat request (on whichever key) gets ``reply``."""
    fake.default = lambda hit: reply if hit.path.endswith("/chat/completions") else None


def request_lines(gateway: Gunicorn) -> list[dict[str, Any]]:
    lines = gateway.logs().splitlines()
    return [json.loads(line) for line in lines if '"msg":"request"' in line]


def test_codex_tools_reach_the_upstream_as_functions_and_built_ins_are_said(
    gateway: Gunicorn, fake: FakeUpstream
) -> None:
    answer = create(gateway, tools=TOOLS, prompt_cache_key="s-1", store=False)
    assert answer.status_code == 200, answer.text
    assert answer.headers["X-Keyrelay-Left-Out"] == "web_search, tool_search"
    sent = fake.hits_for(path="/chat/completions")[-1].body or {}
    names = [t["function"]["name"] for t in sent["tools"]]
    assert names == ["exec_command", "multi_agent_v1__close_agent", "apply_patch"]
    assert "prompt_cache_key" not in sent  # a custom server that did not declare it
    wait_until(lambda: any(line.get("left_out") for line in request_lines(gateway)))
    (line,) = [line for line in request_lines(gateway) if line.get("left_out")]
    assert line["left_out"] == ["web_search", "tool_search"]


def test_calls_come_back_as_codex_reads_them_whole_and_streamed(
    gateway: Gunicorn, fake: FakeUpstream
) -> None:
    patch = json.dumps({"input": "*** Begin Patch\n*** End Patch\n"})
    calls = [
        {"index": 0, "id": "c1", "type": "function",
         "function": {"name": "multi_agent_v1__close_agent", "arguments": '{"target":"a"}'}},
        {"index": 1, "id": "c2", "type": "function",
         "function": {"name": "apply_patch", "arguments": patch}},
    ]  # fmt: skip
    whole = completion("fake-model")
    whole["choices"][0].update(
        message={"role": "assistant", "content": None, "tool_calls": calls},
        finish_reason="tool_calls",
    )
    answer_next(fake, Reply(body=whole))
    first, second = create(gateway, tools=TOOLS).json()["output"]
    assert (first["type"], first["name"], first["namespace"]) == (
        "function_call",
        "close_agent",
        "multi_agent_v1",
    )
    assert second["type"] == "custom_tool_call"
    assert second["input"] == "*** Begin Patch\n*** End Patch\n"
    answer_next(fake, Reply(events=[chunk("fake-model", {"tool_calls": calls}),
                                    chunk("fake-model", {}, "tool_calls")]))  # fmt: skip
    streamed = create(gateway, tools=TOOLS, stream=True)
    kinds = [line[7:] for line in streamed.text.splitlines() if line.startswith("event: ")]
    assert "response.custom_tool_call_input.done" in kinds
    assert "response.function_call_arguments.done" in kinds
    done = json.loads(streamed.text.split("data: ")[-1])
    assert [i["type"] for i in done["response"]["output"]] == ["function_call", "custom_tool_call"]


def test_the_websocket_upgrade_is_refused_so_that_codex_uses_http_at_once(
    gateway: Gunicorn,
) -> None:
    upgrade = {**AUTH, "Connection": "Upgrade", "Upgrade": "websocket",
               "Sec-WebSocket-Version": "13", "Sec-WebSocket-Key": "a2V5cmVsYXk="}  # fmt: skip
    answer = requests.get(gateway.url + "/v1/responses", headers=upgrade, timeout=10)
    assert answer.status_code == 426
    assert answer.json()["error"]["code"] == "no_websocket"


def test_a_compaction_answers_one_compaction_item_and_reads_it_back(
    gateway: Gunicorn, fake: FakeUpstream
) -> None:
    answer_next(fake, Reply(body=completion("fake-model", "The user wants a file.")))
    items = [{"role": "user", "content": "Write a file"}, {"type": "compaction_trigger"}]
    (item,) = create(gateway, input=items, tools=TOOLS).json()["output"]
    assert item["type"] == "compaction"
    asked = fake.hits_for(path="/chat/completions")[-1].body or {}
    assert "tools" not in asked  # a summary is asked for, not a tool call
    create(gateway, input=[items[0], item, {"role": "user", "content": "go on"}])
    sent = fake.hits_for(path="/chat/completions")[-1].body or {}
    assert "The user wants a file." in sent["messages"][1]["content"]
    answer_next(fake, Reply(body=completion("fake-model", "Summary two.")))
    compacted = create(gateway, "/v1/responses/compact", input=[items[0]]).json()
    assert compacted["object"] == "response.compaction"
    assert [i.get("type", "message") for i in compacted["output"]] == ["message", "compaction"]


@pytest.mark.parametrize(
    "body",
    [
        {"tools": [{"type": "namespace", "name": "n", "tools": "all"}]},
        {"tools": [{"type": "custom", "name": ""}]},
        {"tools": [TOOLS[3]], "tool_choice": {"type": "web_search"}},
        {"input": [{"type": "custom_tool_call", "call_id": "c", "name": "x", "input": 7}]},
        {"input": [{"type": "function_call", "call_id": "c", "name": "x", "arguments": {}}]},
        {"prompt_cache_key": 12},
    ],
)
def test_bad_codex_shapes_are_a_400_in_the_openai_envelope(
    gateway: Gunicorn, body: dict[str, Any]
) -> None:
    answer = create(gateway, **body)
    assert answer.status_code == 400, answer.text
    assert answer.json()["error"]["type"] == "invalid_request_error"


def test_a_refused_request_logs_its_code_and_model(gateway: Gunicorn) -> None:
    answer = create(gateway, tools=[TOOLS[3]], tool_choice={"type": "web_search"})
    assert answer.status_code == 400
    wait_until(lambda: any(line["status"] == 400 for line in request_lines(gateway)))
    (line,) = [line for line in request_lines(gateway) if line["status"] == 400]
    assert (line["error"], line["model"]) == ("unsupported_tool", MODEL)
