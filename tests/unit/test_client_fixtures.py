"""What real clients sent (recorded, keys removed), replayed through the translators.

A new client version is a new fixture in ``tests/fixtures/clients``: each must translate
without an error, and the translation must keep what the client said.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from app.dialects.anthropic import request as anthropic_request
from app.dialects.responses.answer import to_response
from app.dialects.responses.request import to_turn
from app.dialects.responses.schema import responses_schema
from providers.routing.payload import leading_system

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "clients"
CLAUDE_CODE = sorted(FIXTURES.glob("claude-code-*.json"))
CODEX = sorted(FIXTURES.glob("codex-*.json"))


def load(path: Path) -> dict[str, Any]:
    recorded: dict[str, Any] = json.loads(path.read_text())
    return recorded


@pytest.mark.parametrize("path", CLAUDE_CODE, ids=[p.stem for p in CLAUDE_CODE])
def test_a_recorded_claude_code_request_translates(path: Path) -> None:
    recorded = load(path)
    body = recorded["body"]
    assert [m["role"] for m in body["messages"]].count("system") >= 1  # its environment turn
    chat = anthropic_request.to_chat(body)
    roles = [m["role"] for m in chat["messages"]]
    assert roles[0] == "system" and "system" in roles[2:]  # kept in place
    assert "user" not in chat  # metadata.user_id: device and session ids stay here
    names = [t["function"]["name"] for t in chat["tools"]]
    deferred = [t["name"] for t in body["tools"] if t.get("defer_loading")]
    assert deferred and not set(deferred) & set(names)
    assert len(names) == len(body["tools"]) - len(deferred)
    assert chat["keyrelay_reasoning_effort"] == body["output_config"]["effort"]
    merged = leading_system(chat["messages"])
    assert [m["role"] for m in merged].count("system") == 1 and merged[0]["role"] == "system"
    environment = next(b["text"] for b in body["messages"][1]["content"] if "text" in b)
    assert environment in merged[0]["content"]  # nothing of it lost in the merge


@pytest.mark.parametrize("path", CODEX, ids=[p.stem for p in CODEX])
def test_a_recorded_codex_request_translates(path: Path) -> None:
    body = load(path)["body"]
    assert not responses_schema.validate(body)
    turn = to_turn(body)
    offered = {t["type"] for t in body["tools"]}
    assert set(turn.left_out) == offered - {"function", "custom", "namespace"}
    sent = json.dumps(turn.chat)
    for private in ("client_metadata", "installation_id", "encrypted_content"):
        assert private not in sent
    if any(i.get("type") == "compaction_trigger" for i in body["input"]):
        assert turn.compaction and "tools" not in turn.chat
        answer = {"choices": [{"message": {"content": "Summary."}, "finish_reason": "stop"}]}
        assert [i["type"] for i in to_response(answer, turn, body["model"])["output"]] == [
            "compaction"
        ]
        return
    names = [t["function"]["name"] for t in turn.chat["tools"]]
    expected = [t["name"] for t in body["tools"] if t["type"] in ("function", "custom")]
    for namespace in (t for t in body["tools"] if t["type"] == "namespace"):
        expected += [f"{namespace['name']}__{inner['name']}" for inner in namespace["tools"]]
    assert sorted(names) == sorted(expected) and len(set(names)) == len(names)
    roles = [m["role"] for m in turn.chat["messages"]]
    assert roles[0] == "system" and "developer" not in roles
