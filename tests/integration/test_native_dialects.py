"""Native dialects over real sockets: Messages to an Anthropic-shaped upstream and Responses
to an OpenAI-shaped one go as the client sent them and come back byte for byte; the
other candidates of the chain get the translation, within one request."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from bench.gunicorn import Gunicorn
from tests.fakes.native import (
    COUNTED,
    MESSAGES_USAGE,
    anthropic_error,
    failed_events,
    message,
    message_events,
    response,
    response_events,
    sse,
)
from tests.fakes.upstream import FakeUpstream, Hit, Reply, chunk, completion, wait_until

from .helpers import AUTH, CLIENT_KEY, StartGateway

pytestmark = pytest.mark.integration

CLAUDE, GPT = "claude-sonnet-4-5", "gpt-5.1-codex"
ANTHROPIC_KEYS = ("sk-ant-fake-key-one-aaaaaaaaaaaaaaaa", "sk-ant-fake-key-two-bbbbbbbbbbbbbbbb")
OPENAI_KEY = "sk-proj-fake-openai-key-cccccccccccccccc"
BACKUP_KEY = "sk-fake-backup-key-dddddddddddddddd"
WORDS = ["Hello", " from", " native."]
#: A Messages request with what only Anthropic's own API takes.
CLAUDE_CODE_BODY: dict[str, Any] = {
    "model": CLAUDE,
    "max_tokens": 1024,
    "system": [
        {"type": "text", "text": "You are Claude Code.", "cache_control": {"type": "ephemeral"}}
    ],
    "messages": [
        {"role": "user", "content": [
            {"type": "text", "text": "Hi", "cache_control": {"type": "ephemeral", "ttl": "1h"}}
        ]},
        {"role": "assistant", "content": [
            {"type": "thinking", "thinking": "The user greets.", "signature": "EqQBsig-kept"},
            {"type": "text", "text": "Hello."},
        ]},
        {"role": "user", "content": "Say hello again"},
    ],
    "thinking": {"type": "enabled", "budget_tokens": 2048},
    "context_management": {"edits": [{"type": "clear_tool_uses_20250919"}]},
    "metadata": {"user_id": "user_abc_account_def_session_ghi"},
}  # fmt: skip
BETA = "interleaved-thinking-2025-05-14,context-management-2025-06-27"
#: A Responses request with what only OpenAI's own API takes.
CODEX_BODY: dict[str, Any] = {
    "model": GPT,
    "instructions": "You are Codex.",
    "input": [
        {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "Hi"}]},
        {"type": "reasoning", "id": "rs_0", "summary": [],
         "encrypted_content": "gAAAA-sealed-by-openai"},
    ],
    "tools": [
        {"type": "custom", "name": "apply_patch", "description": "Patch files",
         "format": {"type": "grammar", "syntax": "lark", "definition": "start: /.+/"}},
        {"type": "web_search"},
    ],
    "store": False,
    "include": ["reasoning.encrypted_content"],
    "prompt_cache_key": "session-0001",
    "reasoning": {"effort": "medium", "summary": "auto"},
}  # fmt: skip


@pytest.fixture
def upstreams() -> Iterator[tuple[FakeUpstream, FakeUpstream, FakeUpstream]]:
    native, openai, backup = (
        FakeUpstream([CLAUDE]),
        FakeUpstream([GPT]),
        FakeUpstream([CLAUDE, GPT]),
    )
    yield native, openai, backup
    for upstream in (native, openai, backup):
        upstream.close()


def native_env(
    native: FakeUpstream, openai: FakeUpstream, backup: FakeUpstream, **extra: str
) -> dict[str, str]:
    """anthropic and openai (tier 1) in front of their native fakes, a chat backup behind."""
    return {
        "PROXY_API_KEY": CLIENT_KEY,
        "ANTHROPIC_API_KEY_1": ANTHROPIC_KEYS[0],
        "ANTHROPIC_API_KEY_2": ANTHROPIC_KEYS[1],
        "ANTHROPIC_API_BASE": native.base_url,
        "ANTHROPIC_MODELS": CLAUDE,
        "OPENAI_API_KEY": OPENAI_KEY,
        "OPENAI_API_BASE": openai.base_url,
        "OPENAI_MODELS": GPT,
        "BACKUP_API_KEY": BACKUP_KEY,
        "BACKUP_API_BASE": backup.base_url,
        "BACKUP_MODELS": f"{CLAUDE},{GPT}",
        **extra,
    }


@pytest.fixture
def gateway(
    upstreams: tuple[FakeUpstream, FakeUpstream, FakeUpstream], start_gateway: StartGateway
) -> Gunicorn:
    return start_gateway(native_env(*upstreams))


def post(gateway: Gunicorn, path: str, body: dict[str, Any], **headers: str) -> requests.Response:
    sent = {**AUTH, "anthropic-version": "2023-06-01", **headers}
    return requests.post(gateway.url + path, json=body, headers=sent, timeout=30)


def posts(fake: FakeUpstream, path: str) -> list[Hit]:
    return [h for h in fake.hits if h.method == "POST" and h.path.endswith(path)]


def events_of(raw: bytes) -> list[tuple[str, dict[str, Any]]]:
    found = []
    for block in raw.decode().strip().split("\n\n"):
        lines = dict(line.split(": ", 1) for line in block.split("\n"))
        found.append((lines["event"], json.loads(lines["data"])))
    return found


def test_a_whole_message_comes_back_byte_for_byte_and_every_field_reaches_anthropic(
    gateway: Gunicorn, upstreams: tuple[FakeUpstream, FakeUpstream, FakeUpstream]
) -> None:
    native, _, backup = upstreams
    sent = json.dumps(message(CLAUDE), indent=1).encode()  # the upstream's own formatting
    native.script(ANTHROPIC_KEYS[0], Reply(raw=sent))
    native.script(ANTHROPIC_KEYS[1], Reply(raw=sent))
    reply = post(gateway, "/v1/messages", CLAUDE_CODE_BODY, **{"anthropic-beta": BETA})
    assert reply.status_code == 200, reply.text
    assert reply.content == sent
    assert reply.headers["X-Upstream-Dialect"] == "messages"
    assert reply.headers["X-Provider"] == "anthropic"
    (hit,) = posts(native, "/v1/messages")
    assert hit.body == CLAUDE_CODE_BODY  # cache_control, signatures, context_management kept
    assert hit.headers["anthropic-beta"] == BETA
    assert hit.headers["anthropic-version"] == "2023-06-01"
    assert hit.key in ANTHROPIC_KEYS and "authorization" not in hit.headers
    assert not posts(backup, "/chat/completions")


def test_a_streamed_message_comes_back_event_for_event(
    gateway: Gunicorn, upstreams: tuple[FakeUpstream, FakeUpstream, FakeUpstream]
) -> None:
    reply = post(gateway, "/v1/messages", {**CLAUDE_CODE_BODY, "stream": True})
    assert reply.status_code == 200, reply.text
    assert reply.content == b"".join(message_events(CLAUDE, WORDS))
    assert reply.headers["X-Upstream-Dialect"] == "messages"


@pytest.mark.parametrize("stream", [False, True])
def test_a_529_before_content_fails_over_to_a_translated_provider(
    gateway: Gunicorn, upstreams: tuple[FakeUpstream, FakeUpstream, FakeUpstream], stream: bool
) -> None:
    native, _, backup = upstreams
    overloaded = Reply(status=529, body=anthropic_error("overloaded_error", "Overloaded"))
    native.default = lambda hit: overloaded if hit.path.endswith("/messages") else None
    reply = post(gateway, "/v1/messages", {**CLAUDE_CODE_BODY, "stream": stream})
    assert reply.status_code == 200, reply.text
    assert reply.headers["X-Provider"] == "backup"
    assert reply.headers["X-Upstream-Dialect"] == "chat"
    trail = reply.headers["X-Attempt-Trail"]
    assert "anthropic" in trail and "server_error" in trail
    if stream:
        kinds = [kind for kind, _ in events_of(reply.content)]
        assert kinds[0] == "message_start" and kinds[-1] == "message_stop"
    else:
        assert reply.json()["type"] == "message"
    (turn,) = posts(backup, "/chat/completions")
    assert turn.body and turn.body["messages"][0]["role"] == "system"


def test_an_error_event_before_content_fails_over(
    gateway: Gunicorn, upstreams: tuple[FakeUpstream, FakeUpstream, FakeUpstream]
) -> None:
    native, _, _ = upstreams
    opening = message_events(CLAUDE, WORDS)[:2]
    error = sse("error", anthropic_error("overloaded_error", "Overloaded"))
    native.default = lambda hit: Reply(events=[*opening, error], done=False)
    reply = post(gateway, "/v1/messages", {**CLAUDE_CODE_BODY, "stream": True})
    assert reply.status_code == 200 and reply.headers["X-Provider"] == "backup"
    assert b"Overloaded" not in reply.content  # nothing of the failed attempt reached it


def test_a_cut_after_content_ends_with_the_dialects_error_event(
    gateway: Gunicorn, upstreams: tuple[FakeUpstream, FakeUpstream, FakeUpstream]
) -> None:
    native, _, backup = upstreams
    events = message_events(CLAUDE, WORDS)
    native.default = lambda hit: Reply(events=events, done=False, drop_after=8)
    reply = post(gateway, "/v1/messages", {**CLAUDE_CODE_BODY, "stream": True})
    assert reply.status_code == 200
    assert reply.content.startswith(b"".join(events[:8]))
    kind, data = events_of(reply.content)[-1]
    assert kind == "error" and data["type"] == "error" and data["error"]["type"] == "api_error"
    assert not posts(backup, "/chat/completions")  # committed: no second answer


def test_a_rate_limited_key_cools_down_and_the_next_key_serves_natively(
    gateway: Gunicorn, upstreams: tuple[FakeUpstream, FakeUpstream, FakeUpstream]
) -> None:
    native, _, _ = upstreams
    limited = Reply(status=429, headers={"retry-after": "40"},
                    body=anthropic_error("rate_limit_error", "Too many requests"))  # fmt: skip
    refused = Reply(status=401, body=anthropic_error("authentication_error", "invalid x-api-key"))
    first = post(gateway, "/v1/messages", CLAUDE_CODE_BODY)
    served_by = next(h.key for h in posts(native, "/v1/messages"))
    other = ANTHROPIC_KEYS[1] if served_by == ANTHROPIC_KEYS[0] else ANTHROPIC_KEYS[0]
    native.script(other, limited)
    native.script(served_by, refused)
    assert first.status_code == 200
    # LRU: the key that did not serve goes first (429), then the one that did (401).
    reply = post(gateway, "/v1/messages", CLAUDE_CODE_BODY)
    assert reply.status_code == 200 and reply.headers["X-Provider"] == "backup", reply.text
    states = {
        k["key"]: k for p in gateway.request("GET", "/v1/providers", headers=AUTH).json()["data"]
        if p["provider"] == "anthropic" for k in p["key_states"]
    }  # fmt: skip
    statuses = sorted(k["status"] for k in states.values())
    assert statuses == ["cooling", "disabled"], states
    cooling = next(k for k in states.values() if k["status"] == "cooling")
    assert 30 < cooling["available_in"] <= 40


def test_translated_then_native_within_one_request(
    upstreams: tuple[FakeUpstream, FakeUpstream, FakeUpstream], start_gateway: StartGateway
) -> None:
    native, openai, backup = upstreams
    env = native_env(native, openai, backup, PROVIDER_PRIORITY_BACKUP="1",
                     PROVIDER_PRIORITY_ANTHROPIC="2")  # fmt: skip
    gateway = start_gateway(env)
    backup.default = lambda hit: Reply(status=500)
    reply = post(gateway, "/v1/messages", {**CLAUDE_CODE_BODY, "stream": True})
    assert reply.status_code == 200, reply.text
    assert reply.headers["X-Provider"] == "anthropic"
    assert reply.headers["X-Upstream-Dialect"] == "messages"
    assert reply.content == b"".join(message_events(CLAUDE, WORDS))
    assert posts(backup, "/chat/completions") and posts(native, "/v1/messages")


def test_usage_counts_cache_reads_and_writes_of_a_native_answer(
    gateway: Gunicorn, upstreams: tuple[FakeUpstream, FakeUpstream, FakeUpstream]
) -> None:
    assert post(gateway, "/v1/messages", {**CLAUDE_CODE_BODY, "stream": True}).ok
    assert post(gateway, "/v1/messages", CLAUDE_CODE_BODY).ok
    parts = ("input_tokens", "cache_creation_input_tokens", "cache_read_input_tokens")
    prompt = sum(MESSAGES_USAGE[k] for k in parts)

    def counted() -> list[dict[str, Any]]:
        rows = gateway.request("GET", "/v1/usage?provider=anthropic", headers=AUTH).json()
        return [r for r in rows["data"] if r["prompt_tokens"]]

    wait_until(lambda: sum(r["prompt_tokens"] for r in counted()) == 2 * prompt)
    rows = counted()
    assert sum(r["completion_tokens"] for r in rows) == 2 * MESSAGES_USAGE["output_tokens"]
    assert sum(r["requests"] for r in rows) == 2


def test_a_request_the_translation_cannot_carry_is_served_natively(
    gateway: Gunicorn, upstreams: tuple[FakeUpstream, FakeUpstream, FakeUpstream]
) -> None:
    document = {"type": "document", "source": {"type": "text", "media_type": "text/plain",
                "data": "keyrelay notes"}, "citations": {"enabled": True}}  # fmt: skip
    body = {**CLAUDE_CODE_BODY, "messages": [{"role": "user", "content": [document]}]}
    reply = post(gateway, "/v1/messages", body)
    assert reply.status_code == 200 and reply.headers["X-Provider"] == "anthropic", reply.text
    # With only a translated provider in the chain, the translation's own 400.
    alone = post(gateway, "/v1/messages", {**body, "model": f"backup/{CLAUDE}"},
                 **{"X-Fallback": "off"})  # fmt: skip
    assert alone.status_code == 400 and alone.json()["type"] == "error", alone.text


def test_a_whole_response_comes_back_byte_for_byte_with_codex_fields_kept(
    gateway: Gunicorn, upstreams: tuple[FakeUpstream, FakeUpstream, FakeUpstream]
) -> None:
    _, openai, _ = upstreams
    sent = json.dumps(response(GPT)).encode()
    openai.script(OPENAI_KEY, Reply(raw=sent))
    reply = post(gateway, "/v1/responses", CODEX_BODY, **{"OpenAI-Beta": "responses=v1"})
    assert reply.status_code == 200, reply.text
    assert reply.content == sent and reply.headers["X-Upstream-Dialect"] == "responses"
    assert "X-Keyrelay-Left-Out" not in reply.headers  # web_search went to OpenAI itself
    (hit,) = posts(openai, "/v1/responses")
    assert hit.body == CODEX_BODY and hit.headers["openai-beta"] == "responses=v1"
    assert hit.headers["authorization"] == f"Bearer {OPENAI_KEY}"
    assert "anthropic-version" not in hit.headers


def test_a_streamed_response_comes_back_event_for_event(
    gateway: Gunicorn, upstreams: tuple[FakeUpstream, FakeUpstream, FakeUpstream]
) -> None:
    reply = post(gateway, "/v1/responses", {**CODEX_BODY, "stream": True})
    assert reply.status_code == 200, reply.text
    assert reply.content == b"".join(response_events(GPT, WORDS))


def test_response_failed_before_content_fails_over_and_a_cut_after_ends_failed(
    gateway: Gunicorn, upstreams: tuple[FakeUpstream, FakeUpstream, FakeUpstream]
) -> None:
    _, openai, backup = upstreams
    openai.script(OPENAI_KEY, Reply(events=failed_events(GPT), done=False))
    reply = post(gateway, "/v1/responses", {**CODEX_BODY, "stream": True})
    assert reply.status_code == 200 and reply.headers["X-Provider"] == "backup", reply.text
    assert reply.headers["X-Keyrelay-Left-Out"] == "web_search"  # translated: said
    kinds = [kind for kind, _ in events_of(reply.content)]
    assert kinds[0] == "response.created" and kinds[-1] == "response.completed"
    assert posts(backup, "/chat/completions")

    events = response_events(GPT, WORDS)
    openai.script(OPENAI_KEY, Reply(events=events, done=False, drop_after=7))
    cut = post(gateway, "/v1/responses", {**CODEX_BODY, "stream": True})
    assert cut.content.startswith(b"".join(events[:7]))
    kind, data = events_of(cut.content)[-1]
    assert kind == "response.failed" and data["sequence_number"] == 7
    assert data["response"]["id"] == "resp_fake_native" and data["response"]["status"] == "failed"


def test_a_messages_only_server_declared_with_dialects_takes_no_chat_request(
    upstreams: tuple[FakeUpstream, FakeUpstream, FakeUpstream], start_gateway: StartGateway
) -> None:
    native, _, _ = upstreams
    gateway = start_gateway({"PROXY_API_KEY": CLIENT_KEY, "LOCAL_API_KEY": "sk-local-key-eeeeeeee",
                             "LOCAL_API_BASE": native.base_url, "LOCAL_MODELS": CLAUDE,
                             "LOCAL_DIALECTS": "messages"})  # fmt: skip
    reply = post(gateway, "/v1/messages", {**CLAUDE_CODE_BODY, "stream": True})
    assert reply.status_code == 200 and reply.headers["X-Upstream-Dialect"] == "messages"
    chat = {"model": CLAUDE, "messages": [{"role": "user", "content": "Hi"}]}
    refused = post(gateway, "/v1/chat/completions", chat)
    assert refused.status_code == 503, refused.text
    assert "skipped_dialect" in json.dumps(refused.json())
    assert not posts(native, "/chat/completions")
    listed = gateway.request("GET", "/v1/providers", headers=AUTH).json()["data"]
    assert [p["dialects"] for p in listed] == [["messages"]]


def echoing(hit: Hit) -> Reply:
    """An upstream that answers with everything it received, in the asked dialect."""
    seen = json.dumps({"headers": hit.headers, "body": hit.raw.decode()})
    stream = bool((hit.body or {}).get("stream"))
    if hit.path.endswith("/messages"):
        return Reply(body=message(CLAUDE, seen))
    if hit.path.endswith("/responses"):
        return Reply(body=response(GPT, seen))
    if stream:
        return Reply(events=[chunk(GPT, {"role": "assistant", "content": seen}),
                             chunk(GPT, {}, "stop")])  # fmt: skip
    return Reply(body=completion(GPT, seen))


@pytest.mark.parametrize(
    ("path", "model", "body", "served"),
    [
        ("/v1/messages", CLAUDE, CLAUDE_CODE_BODY, "anthropic"),
        ("/v1/responses", GPT, CODEX_BODY, "openai"),
        ("/v1/messages", f"backup/{CLAUDE}", CLAUDE_CODE_BODY, "backup"),
        ("/v1/responses", f"g4f/{GPT}", CODEX_BODY, "g4f-main"),
        (
            "/v1/chat/completions",
            f"g4f/{GPT}",
            {"messages": [{"role": "user", "content": "Hi"}]},
            "g4f-main",
        ),
    ],
)
def test_the_clients_credential_never_goes_upstream(
    upstreams: tuple[FakeUpstream, FakeUpstream, FakeUpstream],
    start_gateway: StartGateway,
    path: str,
    model: str,
    body: dict[str, Any],
    served: str,
) -> None:
    g4f = FakeUpstream([GPT])
    try:
        for upstream in (*upstreams, g4f):
            upstream.default = echoing
        env = native_env(*upstreams, G4F_MAIN_API_BASE=g4f.base_url)
        gateway = start_gateway(env)
        # The client's key in every place a client may put one.
        headers = {"x-api-key": CLIENT_KEY, "anthropic-beta": BETA}
        reply = post(gateway, path, {**body, "model": model}, **headers)
        assert reply.status_code == 200 and reply.headers["X-Provider"] == served, reply.text
        assert "headers" in reply.text  # the echo came back
        assert CLIENT_KEY not in reply.text
        hits = [h for u in (*upstreams, g4f) for h in u.hits]
        assert hits and all(CLIENT_KEY not in json.dumps(h.headers) for h in hits)
        assert all(CLIENT_KEY.encode() not in h.raw for h in hits)
    finally:
        g4f.close()


@pytest.mark.parametrize("path", ["/v1/messages", "/v1/responses"])
def test_a_native_upstreams_error_body_is_redacted(
    gateway: Gunicorn, upstreams: tuple[FakeUpstream, FakeUpstream, FakeUpstream], path: str
) -> None:
    native, openai, _ = upstreams
    leak = f"invalid request for key {ANTHROPIC_KEYS[0]} / {ANTHROPIC_KEYS[1]} / {OPENAI_KEY}"
    refused = Reply(status=400, body=anthropic_error("invalid_request_error", leak))
    for upstream in (native, openai):
        upstream.default = lambda hit: (
            refused if hit.path.endswith(("/messages", "/responses")) else None
        )
    body = CLAUDE_CODE_BODY if path == "/v1/messages" else CODEX_BODY
    reply = post(gateway, path, body)
    assert reply.status_code == 400, reply.text
    assert "invalid request for key" in reply.text
    assert not any(key in reply.text for key in (*ANTHROPIC_KEYS, OPENAI_KEY))


def test_previous_response_id_goes_to_a_provider_that_keeps_responses(
    gateway: Gunicorn, upstreams: tuple[FakeUpstream, FakeUpstream, FakeUpstream]
) -> None:
    _, openai, backup = upstreams
    body = {"model": GPT, "input": "And then?", "previous_response_id": "resp_earlier"}
    reply = post(gateway, "/v1/responses", body)
    assert reply.status_code == 200 and reply.headers["X-Provider"] == "openai", reply.text
    (hit,) = posts(openai, "/v1/responses")
    assert hit.body == body
    translated_only = post(gateway, "/v1/responses", {**body, "model": f"backup/{GPT}"},
                           **{"X-Fallback": "off"})  # fmt: skip
    assert translated_only.status_code == 400
    assert "previous_response_id" in translated_only.json()["error"]["message"]
    assert not posts(backup, "/chat/completions")


def test_count_tokens_is_counted_by_anthropic_when_the_chain_speaks_messages(
    gateway: Gunicorn, upstreams: tuple[FakeUpstream, FakeUpstream, FakeUpstream]
) -> None:
    native, _, backup = upstreams
    ask = {key: value for key, value in CLAUDE_CODE_BODY.items() if key != "max_tokens"}
    counted = post(gateway, "/v1/messages/count_tokens", ask, **{"anthropic-beta": BETA})
    assert counted.status_code == 200 and counted.json() == {"input_tokens": COUNTED}
    (hit,) = posts(native, "/v1/messages/count_tokens")
    assert hit.body == ask and hit.headers["anthropic-beta"] == BETA and hit.key in ANTHROPIC_KEYS
    # Anthropic overloaded, or a chain of chat providers only: the estimate.
    native.default = lambda hit: Reply(status=529, body=anthropic_error("overloaded_error", "no"))
    estimated = post(gateway, "/v1/messages/count_tokens", ask)
    assert estimated.status_code == 200 and 0 < estimated.json()["input_tokens"] != COUNTED
    alone = post(gateway, "/v1/messages/count_tokens", {**ask, "model": f"backup/{CLAUDE}"},
                 **{"X-Fallback": "off"})  # fmt: skip
    assert alone.status_code == 200 and alone.json()["input_tokens"] != COUNTED
    assert not posts(backup, "/count_tokens")


def test_a_native_upstream_gets_the_clients_own_bytes_or_the_old_rebuilt_ones(
    gateway: Gunicorn, upstreams: tuple[FakeUpstream, FakeUpstream, FakeUpstream]
) -> None:
    native, _, _ = upstreams
    headers = {**AUTH, "anthropic-version": "2023-06-01", "Content-Type": "application/json"}
    body = {**CLAUDE_CODE_BODY, "system": "Réponds en français, s'il te plaît: 日本"}
    own = json.dumps(body, indent=2, ensure_ascii=False).encode()  # the client's formatting
    reply = requests.post(gateway.url + "/v1/messages", data=own, headers=headers, timeout=30)
    assert reply.status_code == 200, reply.text
    named = json.dumps({**body, "model": f"anthropic/{CLAUDE}"}).encode()  # the model changes
    reply = requests.post(gateway.url + "/v1/messages", data=named, headers=headers, timeout=30)
    assert reply.status_code == 200, reply.text
    first, second = posts(native, "/v1/messages")
    assert first.raw == own  # nothing changed: the very bytes the client sent
    rebuilt = json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()
    assert second.raw == rebuilt  # what the rebuilt path sent before, byte for byte
