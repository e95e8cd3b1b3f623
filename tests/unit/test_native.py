"""The native dialects' outbound side: what each provider speaks, the headers a native
request carries, where a stream commits, usage with cache tokens, Anthropic's resets."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from typing import Any

import pytest
import responses

from app import create_app
from providers import ConfigError, load_routing_config
from providers.upstream.native import auth_headers, chat_usage, commits
from providers.upstream.ratelimit import retry_after


def test_each_provider_speaks_its_dialects_and_a_custom_one_declares_them() -> None:
    config = load_routing_config({
        "OPENAI_API_KEY": "sk-a", "ANTHROPIC_API_KEY": "sk-ant-b", "GROQ_API_KEY": "gsk-c",
        "LOCAL_API_BASE": "http://local.test/v1", "LOCAL_DIALECTS": "Messages, chat",
        "OTHER_API_BASE": "http://other.test/v1",
    })  # fmt: skip
    spoken = {p.name: (set(p.dialects), p.models_auth) for p in config.providers}
    assert spoken == {
        "openai": ({"chat", "responses"}, "chat"),
        "anthropic": ({"chat", "messages"}, "messages"),
        "groq": ({"chat"}, "chat"),
        "local": ({"messages", "chat"}, "chat"),
        "other": ({"chat"}, "chat"),
    }
    with pytest.raises(ConfigError, match="LOCAL_DIALECTS names 'grpc'"):
        load_routing_config({"LOCAL_API_BASE": "http://l.test/v1", "LOCAL_DIALECTS": "grpc"})


def test_a_native_request_carries_the_providers_key_and_only_the_clients_version_and_betas() -> (
    None
):
    client = {"anthropic-beta": "b1,b2", "authorization": "Bearer client", "x-api-key": "client"}
    assert auth_headers("messages", "sk-ant-key", client) == {
        "anthropic-beta": "b1,b2", "anthropic-version": "2023-06-01", "x-api-key": "sk-ant-key",
    }  # fmt: skip
    assert (
        auth_headers("messages", "k", {"anthropic-version": "2024-01-01"})["anthropic-version"]
        == "2024-01-01"
    )
    assert auth_headers("responses", "sk-o", {"openai-beta": "r=v1", "x-api-key": "c"}) == {
        "openai-beta": "r=v1", "Authorization": "Bearer sk-o",
    }  # fmt: skip


@pytest.mark.parametrize(
    ("dialect", "kind", "committed"),
    [
        ("messages", "message_start", False),
        ("messages", "ping", False),
        ("messages", "content_block_start", True),
        ("messages", "message_delta", True),
        ("responses", "response.created", False),
        ("responses", "response.in_progress", False),
        ("responses", "response.output_item.added", True),
        ("responses", "response.output_text.delta", True),
        ("responses", "response.completed", True),
    ],
)
def test_a_native_stream_commits_at_its_first_content_event(
    dialect: str, kind: str, committed: bool
) -> None:
    assert commits(dialect, kind) is committed


def test_usage_counts_cache_reads_and_writes_as_prompt_tokens() -> None:
    anthropic = {"input_tokens": 3, "cache_read_input_tokens": 2000,
                 "cache_creation_input_tokens": 100, "output_tokens": 9}  # fmt: skip
    assert chat_usage("messages", anthropic) == {
        "prompt_tokens": 2103, "completion_tokens": 9, "total_tokens": 2112,
        "prompt_tokens_details": {"cached_tokens": 2000}, "cache_creation_tokens": 100,
    }  # fmt: skip
    openai = {"input_tokens": 2100, "input_tokens_details": {"cached_tokens": 2000},
              "output_tokens": 9, "total_tokens": 2109}  # fmt: skip
    usage = chat_usage("responses", openai)
    assert usage is not None and usage["prompt_tokens"] == 2100
    assert usage["prompt_tokens_details"] == {"cached_tokens": 2000}
    assert chat_usage("messages", {"input_tokens": "many", "output_tokens": True}) is None


def test_anthropics_reset_headers_say_when_a_limit_that_ran_out_comes_back() -> None:
    now = time.time()

    def at(seconds: float) -> str:
        return datetime.fromtimestamp(now + seconds, UTC).isoformat().replace("+00:00", "Z")

    headers = {
        "anthropic-ratelimit-requests-remaining": "0",
        "anthropic-ratelimit-requests-reset": at(42),
        "anthropic-ratelimit-tokens-remaining": "5000",
        "anthropic-ratelimit-tokens-reset": at(5),
    }
    assert retry_after(headers, now=now) == pytest.approx(42, abs=0.01)
    assert retry_after({"anthropic-ratelimit-requests-reset": "soon"}, now=now) is None


def test_anthropics_model_list_is_read_with_its_own_key_header(
    mocked: responses.RequestsMock,
) -> None:
    models = {"data": [{"type": "model", "id": "claude-sonnet-4-5"}], "has_more": False}
    listed = mocked.get("https://api.anthropic.com/v1/models?limit=1000", json=models)
    app = create_app({"PROXY_API_KEY": "client-key", "ANTHROPIC_API_KEY": "sk-ant-listing-key"})
    reply = app.test_client().get("/v1/models", headers={"Authorization": "Bearer client-key"})
    assert reply.status_code == 200
    assert "anthropic/claude-sonnet-4-5" in json.dumps(reply.get_json())
    (call,) = listed.calls
    assert call.request.headers["x-api-key"] == "sk-ant-listing-key"
    assert call.request.headers["anthropic-version"] == "2023-06-01"
    assert "Authorization" not in call.request.headers
    app.extensions["keyrelay"].router.close()


def test_cache_breakpoints_of_a_translated_message_reach_only_providers_that_take_them(
    mocked: responses.RequestsMock,
) -> None:
    app = create_app({
        "PROXY_API_KEY": "client-key",
        "OPENROUTER_API_KEY": "sk-or-cache-aaaaaaaaaaaaaaaa", "OPENROUTER_MODELS": "claude-x",
        "GROQ_API_KEY": "gsk-cache-aaaaaaaaaaaaaaaa", "GROQ_MODELS": "claude-x",
    })  # fmt: skip
    answer = {"choices": [{"index": 0, "message": {"role": "assistant", "content": "hi"}}]}
    mocked.post("https://openrouter.ai/api/v1/chat/completions", json=answer)
    mocked.post("https://api.groq.com/openai/v1/chat/completions", json=answer)
    mark = {"type": "ephemeral", "ttl": "1h"}
    body = {
        "max_tokens": 64,
        "system": [{"type": "text", "text": "Long rules.", "cache_control": mark}],
        "messages": [
            {"role": "user", "content": [{"type": "text", "text": "Hi", "cache_control": mark}]},
            {"role": "assistant", "content": "Hello."},
            {"role": "user", "content": "Again"},
        ],
    }
    client, auth = app.test_client(), {"Authorization": "Bearer client-key"}
    for model in ("openrouter/claude-x", "groq/claude-x"):
        reply = client.post("/v1/messages", json={**body, "model": model}, headers=auth)
        assert reply.status_code == 200, reply.get_json()
    to_openrouter, to_groq = (json.loads(c.request.body) for c in mocked.calls[-2:])
    system, first, answered, last = to_openrouter["messages"]
    assert system["content"] == [{"type": "text", "text": "Long rules.", "cache_control": mark}]
    assert first["content"] == [{"type": "text", "text": "Hi", "cache_control": mark}]
    assert answered["content"] == "Hello." and last["content"] == "Again"
    assert "cache_control" not in json.dumps(to_groq) and "keyrelay" not in json.dumps(to_groq)
    assert [m["content"] for m in to_groq["messages"]] == ["Long rules.", "Hi", "Hello.", "Again"]
    app.extensions["keyrelay"].router.close()


def test_a_sessions_translated_turns_ask_openai_to_keep_their_prompt_cache_together(
    mocked: responses.RequestsMock,
) -> None:
    app = create_app({
        "PROXY_API_KEY": "client-key",
        "OPENAI_API_KEY": "sk-session-cache-aaaaaaaaaaaa", "OPENAI_MODELS": "gpt-x",
        "GROQ_API_KEY": "gsk-session-cache-aaaaaaaaaaaa", "GROQ_MODELS": "gpt-x",
    })  # fmt: skip
    answer = {"choices": [{"index": 0, "message": {"role": "assistant", "content": "hi"}}]}
    mocked.post("https://api.openai.com/v1/chat/completions", json=answer)
    mocked.post("https://api.groq.com/openai/v1/chat/completions", json=answer)
    client = app.test_client()
    headers = {"Authorization": "Bearer client-key", "X-Session-ID": "agent-session-7"}
    messages = {"max_tokens": 64, "messages": [{"role": "user", "content": "Hi"}]}
    chat = {"messages": [{"role": "user", "content": "Hi"}]}
    for path, body in (("/v1/messages", messages), ("/v1/chat/completions", chat)):
        for model in ("openai/gpt-x", "groq/gpt-x"):
            reply = client.post(path, json={**body, "model": model}, headers=headers)
            assert reply.status_code == 200, reply.get_json()
    sent = [json.loads(c.request.body) for c in mocked.calls[-4:]]
    keys = [s.get("prompt_cache_key") for s in sent]
    assert keys[1] is None and keys[3] is None  # groq takes no prompt_cache_key
    assert isinstance(keys[0], str) and len(keys[0]) == 32 and "agent-session-7" not in keys[0]
    assert keys[2] == keys[0]  # the same session (client key, model, id): the same cache key
    assert all("keyrelay" not in json.dumps(s) for s in sent)
    # A client's own key wins.
    mine = {**chat, "model": "openai/gpt-x", "prompt_cache_key": "mine"}
    own = client.post("/v1/chat/completions", headers=headers, json=mine)
    assert own.status_code == 200
    assert json.loads(mocked.calls[-1].request.body)["prompt_cache_key"] == "mine"
    app.extensions["keyrelay"].router.close()


def test_a_large_request_only_native_candidates_serve_is_not_translated(
    mocked: responses.RequestsMock, monkeypatch: pytest.MonkeyPatch
) -> None:
    from app.dialects.anthropic.dialect import MessagesDialect
    from app.dialects.serve import NATIVE_ONLY_BYTES

    translations: list[int] = []
    translate = MessagesDialect.translate

    def counted(self: MessagesDialect, body: dict[str, Any], limit: int) -> Any:
        translations.append(len(body["messages"]))
        return translate(self, body, limit)

    monkeypatch.setattr(MessagesDialect, "translate", counted)
    app = create_app({
        "PROXY_API_KEY": "client-key",
        "ANTHROPIC_API_KEY": "sk-ant-large-aaaaaaaaaaaaaaaa",
        "ANTHROPIC_MODELS": "claude-x,claude-only",
        "GROQ_API_KEY": "gsk-large-aaaaaaaaaaaaaaaa", "GROQ_MODELS": "claude-x",
    })  # fmt: skip
    message = {"id": "msg_1", "type": "message", "role": "assistant", "model": "claude-x",
               "content": [{"type": "text", "text": "hi"}], "stop_reason": "end_turn",
               "usage": {"input_tokens": 3, "output_tokens": 1}}  # fmt: skip
    mocked.post("https://api.anthropic.com/v1/messages", json=message)
    answer = {"choices": [{"index": 0, "message": {"role": "assistant", "content": "hi"}}]}
    mocked.post("https://api.groq.com/openai/v1/chat/completions", json=answer)
    turns = [{"role": ("user", "assistant")[i % 2], "content": "x" * 1000} for i in range(41)]
    large = {"max_tokens": 64, "messages": turns}
    assert len(json.dumps(large)) > NATIVE_ONLY_BYTES
    small = {"max_tokens": 64, "messages": turns[:1]}
    client, auth = app.test_client(), {"Authorization": "Bearer client-key"}
    for body, model in ((large, "claude-only"), (small, "claude-only"),
                        (large, "anthropic/claude-x")):  # fmt: skip
        reply = client.post("/v1/messages", json={**body, "model": model}, headers=auth)
        assert reply.status_code == 200, reply.get_json()
        assert reply.headers["X-Upstream-Dialect"] == "messages"
    # Only anthropic serves claude-only: no translation. The small one is translated
    # (asking would cost more), and so is the large one groq may serve after anthropic.
    assert translations == [1, 41]
    app.extensions["keyrelay"].router.close()
